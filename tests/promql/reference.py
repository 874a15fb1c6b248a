"""The reference: ``tests/reference/promref`` (Prometheus' own PromQL engine), built once, run.

The Go program is built into ``~/.cache/obskit/promref-<hash>/`` (``$OBSKIT_CACHE_DIR`` replaces
``~/.cache/obskit``), where the hash covers its sources and the Go version, so a build is reused
until they change. ``python tests/promql/reference.py`` builds it and prints the binary's path
(CI runs that once before the tests). Tests skip only when ``go`` is missing or the module
download fails for want of a network; any other build failure is an error. With
``OBSKIT_PROMREF_SAVE=dir`` every request is also saved there, for the checks of the reference
itself in ``promref_test.go``.

This module imports nothing from obskit: it speaks JSON to the Go program (request and response
formats are in the doc comment of ``tests/reference/promref/main.go``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE_DIR = Path(__file__).resolve().parent.parent / "reference" / "promref"
SOURCES = ("go.mod", "go.sum", "main.go")  # promref_test.go is not in the binary
# What the go command prints when the module proxy cannot be reached: then the tests skip.
OFFLINE_HINTS = (
    "dial tcp",
    "no such host",
    "i/o timeout",
    "connection refused",
    "network is unreachable",
    "TLS handshake timeout",
    "proxyconnect",
    "disabled by GOPROXY=off",
)
STALE_NAN_BITS = 0x7FF0000000000002
BUILD_TIMEOUT_S = 1200  # a cold build downloads the module graph and compiles it: minutes


class ReferenceUnavailable(Exception):
    """The reference cannot be built here (no ``go``, or no network for the module download)."""


def cache_root() -> Path:
    env = os.environ.get("OBSKIT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "obskit"


def _go_version(go: str) -> str:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def binary_path() -> Path:
    """The built reference binary, building it first if its sources changed since the last build."""
    go = shutil.which("go")
    if go is None:
        raise ReferenceUnavailable("the `go` command is not installed")
    digest = hashlib.sha256(_go_version(go).encode())
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (SOURCE_DIR / name).read_bytes() + b"\0")
    out_dir = cache_root() / f"promref-{digest.hexdigest()[:16]}"
    binary = out_dir / "promref"
    if binary.exists():
        return binary
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as lock:  # parallel test workers build once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        tmp = out_dir / "promref.tmp"
        proc = subprocess.run(
            [go, "build", "-o", str(tmp), "."],
            cwd=SOURCE_DIR,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            env={**os.environ, "GOFLAGS": "-mod=readonly -buildvcs=false"},
        )
        if proc.returncode != 0:
            if any(hint in proc.stderr for hint in OFFLINE_HINTS):
                raise ReferenceUnavailable(
                    "cannot download the Go modules of tests/reference/promref (offline?): "
                    + proc.stderr.strip()[-500:]
                )
            raise RuntimeError(f"cannot build tests/reference/promref:\n{proc.stderr}")
        tmp.replace(binary)
    return binary


def encode_value(v: float) -> str:
    """A float as promref reads it back bit for bit (NaN payloads, the staleness marker)."""
    bits = struct.unpack("<Q", struct.pack("<d", v))[0]
    if bits == STALE_NAN_BITS:
        return "stale"
    if v != v:
        return f"0x{bits:016x}"
    return repr(v)


@dataclass(frozen=True, slots=True)
class RefSeries:
    labels: dict[str, str]
    timestamps_ms: Iterable[int]
    values: Iterable[float]


@dataclass(frozen=True, slots=True)
class RefQuery:
    """An instant query (``time_ms``) or a range query (``start_ms``, ``end_ms``, ``step_ms``)."""

    expr: str
    time_ms: int | None = None
    start_ms: int = 0
    end_ms: int = 0
    step_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        if self.time_ms is not None:
            return {"expr": self.expr, "time": self.time_ms}
        return {"expr": self.expr, "start": self.start_ms, "end": self.end_ms, "step": self.step_ms}


def evaluate(
    series: Sequence[RefSeries],
    queries: Sequence[RefQuery],
    *,
    lookback_ms: int = 300_000,
    max_samples: int = 10_000,
) -> list[dict[str, Any]]:
    """Load ``series`` into Prometheus' storage, run ``queries``, return one result per query."""
    request = {
        "lookback_ms": lookback_ms,
        "max_samples": max_samples,
        "series": [
            {
                "labels": s.labels,
                "timestamps": [int(t) for t in s.timestamps_ms],
                "values": [encode_value(float(v)) for v in s.values],
            }
            for s in series
        ],
        "queries": [q.to_json() for q in queries],
    }
    text = json.dumps(request)
    if save_dir := os.environ.get("OBSKIT_PROMREF_SAVE"):  # for promref's own TSDB check
        saved = sorted(Path(save_dir).glob("request-*.json"))
        (Path(save_dir) / f"request-{len(saved)}.json").write_text(text)
    proc = subprocess.run(
        [str(binary_path())],
        input=text,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"promref failed ({proc.returncode}): {proc.stderr.strip()}")
    results: list[dict[str, Any]] = json.loads(proc.stdout)["results"]
    return results


if __name__ == "__main__":
    try:
        print(binary_path())
    except ReferenceUnavailable as exc:
        print(f"reference unavailable: {exc}", file=sys.stderr)
        sys.exit(1)
