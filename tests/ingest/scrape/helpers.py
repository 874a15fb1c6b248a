"""Test doubles for the scraper: a recording RefAppender, a tiny text-format parser standing in
for ``obskit.ingest.exposition`` and a controllable HTTP exporter, plus peer-process helpers."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import numpy.typing as npt

from obskit.ingest.scrape import is_stale_nan
from obskit.model import AppendResult, Labels, LabelsLike, SampleBatch, validate_labels

# --- stand-in parser -------------------------------------------------------------------------

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+(-?\d+))?\s*$")
_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass(frozen=True, slots=True)
class StandInParsed:
    series: list[Labels]
    series_index: npt.NDArray[np.int64]
    timestamps_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    metadata: dict[str, tuple[str, str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def stand_in_parse(
    text: bytes,
    default_ts_ms: int,
    *,
    openmetrics: bool | None = None,
    extra_labels: Mapping[str, str] = {},
    strict: bool = True,
) -> StandInParsed:
    """Enough of the text format for node_exporter: no exemplars, no OpenMetrics specifics."""
    ids: dict[Labels, int] = {}
    index, stamps, values = [], [], []
    for number, raw in enumerate(text.decode("utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"line {number}: cannot parse {line!r}")
        name, body, value, ts = match.groups()
        pairs = {"__name__": name}
        for label, escaped in _PAIR.findall((body or "{}")[1:-1]):
            pairs[label] = re.sub(r"\\[\\n\"]", lambda m: _ESCAPES[m.group(0)], escaped)
        pairs.update(extra_labels)
        labels = validate_labels(pairs)
        index.append(ids.setdefault(labels, len(ids)))
        stamps.append(int(ts) if ts else default_ts_ms)
        values.append(float(value))
    return StandInParsed(
        list(ids),
        np.array(index, dtype=np.int64),
        np.array(stamps, dtype=np.int64),
        np.array(values, dtype=np.float64),
    )


# --- recording appender ----------------------------------------------------------------------


class RecordingAppender:
    """An in-memory RefAppender that keeps every appended sample, for assertions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.labels: list[Labels] = []
        self._refs: dict[Labels, int] = {}
        self.samples: list[tuple[int, int, float]] = []  # (ref, ts_ms, value)
        self.stale: list[bool] = []  # per sample: a staleness marker (by bits)

    def series_refs(self, labels: Sequence[LabelsLike]) -> npt.NDArray[np.int64]:
        with self._lock:
            out = []
            for item in labels:
                valid = validate_labels(item)
                if valid not in self._refs:
                    self._refs[valid] = len(self.labels)
                    self.labels.append(valid)
                out.append(self._refs[valid])
            return np.array(out, dtype=np.int64)

    def append_refs(
        self,
        refs: npt.NDArray[np.int64],
        timestamps_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> AppendResult:
        with self._lock:
            self.samples.extend(
                zip(refs.tolist(), timestamps_ms.tolist(), values.tolist(), strict=True)
            )
            self.stale.extend(is_stale_nan(values).tolist())
        return AppendResult(accepted=len(refs))

    def append(self, batch: SampleBatch) -> AppendResult:
        raise NotImplementedError

    def find(self, name: str, **labels: str) -> list[Labels]:
        """Label sets with this metric name that contain all of ``labels``."""
        with self._lock:
            return [
                s
                for s in self.labels
                if dict(s).get("__name__") == name
                and all(dict(s).get(k) == v for k, v in labels.items())
            ]

    def points(self, series: Labels) -> list[tuple[int, float, bool]]:
        """``(ts_ms, value, is_stale_marker)`` of one series, in append order."""
        with self._lock:
            ref = self._refs[series]
            return [
                (ts, value, self.stale[i])
                for i, (r, ts, value) in enumerate(self.samples)
                if r == ref
            ]


# --- a controllable exporter -----------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a scraper that timed out closes the connection mid-response: expected


class FakeExporter:
    """An HTTP endpoint on loopback whose body, status and delay the test sets."""

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        self.delay_s = 0.0
        self.content_type = "text/plain; version=0.0.4"
        self.requests: list[dict[str, str]] = []
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                exporter.requests.append({**dict(self.headers.items()), "path": self.path})
                if exporter.delay_s:
                    time.sleep(exporter.delay_s)
                body = exporter.body
                self.send_response(exporter.status)
                self.send_header("Content-Type", exporter.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


# --- peers and waiting -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_udp_tcp_port() -> int:
    """A port free for both UDP and TCP (a DNS server listens on both)."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port for both UDP and TCP")


def find_binary(path: str) -> str | None:
    """``path`` if it is executable, else the same name on PATH, else None."""
    if os.access(path, os.X_OK):
        return path
    return shutil.which(os.path.basename(path))


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout_s}s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.1)
