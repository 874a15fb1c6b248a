"""Throughput of the text parsers: node_exporter-like scrapes and a 1M-line import.

Bodies come from ``gen_node`` (seeded): a scrape renders ~1,000 series of 10 hosts with HELP/TYPE
lines (text format, values printed as Go's %g would); the import renders 1M lines with
millisecond timestamps; the Influx body is the same data as line protocol. Each body is parsed
with the C tokenizer and with the pure-Python twin.

    python benchmarks/bench_parsers.py            # prints lines/s and samples/s
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_node import generate
from obskit import kernels
from obskit.ingest.exposition import parse_exposition
from obskit.ingest.influx import parse_influx
from obskit.kernels import exposition_lines


def _key(labels: tuple[tuple[str, str], ...]) -> str:
    name = dict(labels)["__name__"]
    inner = ",".join(f'{k}="{v}"' for k, v in labels if k != "__name__")
    return f"{name}{{{inner}}}" if inner else name


def scrape_body(hosts: int) -> bytes:
    ds = generate(hosts, 0.01)
    lines, seen = [], set()
    for s, labels in enumerate(ds.labels):
        fam = ds.family(s)
        if fam not in seen:
            seen.add(fam)
            lines += [f"# HELP {fam} Help text of {fam}.", f"# TYPE {fam} gauge"]
        lines.append(f"{_key(labels)} {float(ds.values[-1, s])!r}")
    return ("\n".join(lines) + "\n").encode()


def import_body(n_lines: int) -> tuple[bytes, bytes]:
    ds = generate(100, n_lines / (100 * 97) * 15 / 3600 + 0.01)
    keys = [_key(lb) for lb in ds.labels]
    influx_keys = [
        ",".join([dict(lb)["__name__"].replace(",", "\\,")]
                 + [f"{k}={v}".replace(" ", "\\ ") for k, v in lb if k != "__name__"])
        for lb in ds.labels
    ]  # fmt: skip
    text, influx = [], []
    for t in range(ds.values.shape[0]):
        ts = int(ds.timestamps_ms[t])
        for s in range(len(keys)):
            v = float(ds.values[t, s])
            text.append(f"{keys[s]} {v!r} {ts}")
            influx.append(f"{influx_keys[s]} value={v!r} {ts}")
            if len(text) == n_lines:
                return ("\n".join(text) + "\n").encode(), ("\n".join(influx) + "\n").encode()
    return ("\n".join(text) + "\n").encode(), ("\n".join(influx) + "\n").encode()


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines of the import body")
    args = ap.parse_args()
    scrape = scrape_body(10)
    big_text, big_influx = import_body(args.lines)
    n_scrape = scrape.count(b"\n")
    n_samples = len(parse_exposition(scrape, 0))
    print(f"scrape: {n_scrape} lines ({n_samples} samples, {len(scrape)} bytes)")
    backends = [("python", exposition_lines.tokenize_exposition)]
    if kernels.BACKEND == "native":
        backends.insert(0, ("native", kernels.tokenize_exposition))
    orig = kernels.tokenize_exposition
    for name, fn in backends:
        kernels.tokenize_exposition = fn
        try:
            dt = best_of(lambda: parse_exposition(scrape, 0), 20)
            tok = best_of(lambda: fn(scrape, False), 20)  # noqa: B023
            rate = n_scrape / dt / 1e6
            print(f"  {name:6s} parse_exposition {dt * 1e3:7.2f} ms/scrape  {rate:6.2f} M lines/s"
                  f"  (tokenizer alone {tok * 1e3:.2f} ms)")  # fmt: skip
            dt = best_of(lambda: parse_exposition(big_text, 0), 1 if name == "python" else 3)
            n = big_text.count(b"\n")
            print(f"  {name:6s} import {n} lines  {dt:6.2f} s  {n / dt / 1e6:6.2f} M lines/s  "
                  f"({len(big_text) / dt / 1e6:.0f} MB/s)")  # fmt: skip
        finally:
            kernels.tokenize_exposition = orig
    dt = best_of(lambda: parse_influx(big_influx, 0, precision="ms"), 1)
    n = big_influx.count(b"\n")
    print(f"  influx import {n} lines  {dt:6.2f} s  {n / dt / 1e6:6.2f} M lines/s")


if __name__ == "__main__":
    main()
