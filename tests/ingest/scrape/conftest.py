"""Fixtures for scrape tests: peers (node_exporter, dnsmasq) as real processes on loopback."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import (
    FakeExporter,
    find_binary,
    free_port,
    free_udp_tcp_port,
    stop_process,
    wait_http,
)

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
DNSMASQ = "/usr/sbin/dnsmasq"


@pytest.fixture
def node_exporter() -> Iterator[str]:
    """A real node_exporter on 127.0.0.1:<free port> with a few fast collectors; its address."""
    binary = find_binary(NODE_EXPORTER)
    if binary is None:
        pytest.skip(f"{NODE_EXPORTER} is not installed (Debian package prometheus-node-exporter)")
    address = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [
            binary,
            f"--web.listen-address={address}",
            # The default collectors read all of /proc and /sys (slow, and some fail in
            # containers); three cheap ones give plenty of series.
            "--collector.disable-defaults",
            "--collector.loadavg",
            "--collector.meminfo",
            "--collector.time",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://{address}/metrics", proc)
        yield address
    finally:
        stop_process(proc)


@pytest.fixture
def dnsmasq(node_exporter: str, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A real dnsmasq on 127.0.0.1:<free port> serving x.test (A 127.0.0.1) and
    _metrics._tcp.x.test (SRV to x.test at the node_exporter's port); its (host, port)."""
    binary = find_binary(DNSMASQ)
    if binary is None:
        pytest.skip(f"{DNSMASQ} is not installed (Debian package dnsmasq)")
    exporter_port = node_exporter.rsplit(":", 1)[1]
    port = free_udp_tcp_port()
    proc = subprocess.Popen(
        [
            binary,
            "--no-daemon",
            "--no-resolv",
            "--no-hosts",
            f"--port={port}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            f"--pid-file={tmp_path / 'dnsmasq.pid'}",
            "--address=/x.test/127.0.0.1",
            f"--srv-host=_metrics._tcp.x.test,x.test,{exporter_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_dns(port, proc)
        yield ("127.0.0.1", port)
    finally:
        stop_process(proc)
        if proc.stderr is not None:
            proc.stderr.close()


def _wait_dns(port: int, proc: subprocess.Popen[bytes]) -> None:
    import time

    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.lifetime = 0.5
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"dnsmasq exited with {proc.returncode}: {err}")
        try:
            resolver.resolve("x.test", "A")
            return
        except dns.exception.DNSException:
            time.sleep(0.1)
    raise RuntimeError("dnsmasq not answering after 10s")


@pytest.fixture
def exporter() -> Iterator[FakeExporter]:
    fake = FakeExporter()
    try:
        yield fake
    finally:
        fake.close()
