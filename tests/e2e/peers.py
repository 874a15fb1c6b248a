"""Starting real processes for end-to-end tests: obskit itself and Debian-packaged peers, on free
loopback ports with temporary directories; every process is stopped by the fixture that made it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``cmd`` with stdout and stderr going to ``log`` (a pipe nobody reads could block)."""
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], log: Path | None = None, timeout_s: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = log.read_text(errors="replace") if log else ""
            raise AssertionError(f"process exited with {proc.returncode} before ready:\n{out}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout_s}s")


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Obskit:
    def __init__(self, data_dir: Path, config: Path | None = None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "obskit",
            "serve",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--data-dir",
            str(data_dir),
        ]
        if config is not None:
            cmd += ["--config", str(config)]
        self.log = data_dir.parent / f"obskit-{self.port}.log"
        self.proc = start(cmd, self.log, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        wait_ready(f"{self.url}/-/ready", self.proc, self.log)

    def stop(self) -> tuple[int, str]:
        code = stop(self.proc)
        return code, self.log.read_text(errors="replace")


@contextmanager
def obskit_server(data_dir: Path, config: Path | None = None) -> Iterator[Obskit]:
    server = Obskit(data_dir, config)
    try:
        yield server
    finally:
        server.stop()


def require_binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package; scripts/test.sh installs it)")
    return path
