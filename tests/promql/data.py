"""Seeded series with the edges of real scrapes, for the differential tests.

One ``dataset(seed)`` holds 90 minutes at a 15 s scrape interval starting 2024-02-29 23:00 UTC
(so date functions cross a day, a month and a leap day) with: counters that reset, start late,
go stale and come back after more than the lookback; gauges with NaN and ±Inf; a series on the
exact scrape grid (windows start exactly on its samples) next to jittered ones; sparse series;
classic histograms with ``le`` buckets, ``_sum`` and ``_count``; an info metric for joins.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from obskit.model import SampleBatch

T0_MS = 1_709_247_600_000  # 2024-02-29T23:00:00Z
SCRAPE_MS = 15_000
SPAN_MS = 90 * 60_000
END_MS = T0_MS + SPAN_MS
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
LE_BOUNDS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SeriesData:
    labels: dict[str, str]
    timestamps_ms: I64
    values: F64


def _grid(rng: np.random.Generator, start_ms: int, end_ms: int, jitter_ms: int) -> I64:
    ts = np.arange(start_ms, end_ms, SCRAPE_MS, dtype=np.int64)
    if jitter_ms:
        ts = ts + rng.integers(-jitter_ms, jitter_ms + 1, size=len(ts))
    return ts


def _cut(ts: I64, vs: F64, lo_ms: int, hi_ms: int) -> tuple[I64, F64]:
    """Drop the samples in [lo_ms, hi_ms): a gap in scraping."""
    keep = (ts < lo_ms) | (ts >= hi_ms)
    return ts[keep], vs[keep]


def _stale_then_gap(ts: I64, vs: F64, at_ms: int, resume_ms: int) -> tuple[I64, F64]:
    """A staleness marker at ``at_ms`` (the target vanished), nothing until ``resume_ms``."""
    ts, vs = _cut(ts, vs, at_ms, resume_ms)
    i = int(np.searchsorted(ts, at_ms))
    return np.insert(ts, i, at_ms), np.insert(vs, i, STALE_NAN)


def _counter(rng: np.random.Generator, n: int, resets: int) -> F64:
    inc = rng.exponential(3.0, size=n).round(2) * (rng.random(n) < 0.85)
    inc[0] = rng.integers(0, 1000)
    vs = np.cumsum(inc)
    for at in rng.integers(1, n, size=resets):
        vs[at:] -= vs[at] - rng.integers(0, 5)  # restarts from a small count
    return vs


def dataset(seed: int) -> list[SeriesData]:
    rng = np.random.default_rng(seed)
    out: list[SeriesData] = []

    def add(labels: dict[str, str], ts: I64, vs: F64) -> None:
        out.append(SeriesData(labels, ts.astype(np.int64), vs.astype(np.float64)))

    # counters: 3 instances x 2 codes
    for k in range(3):
        for code in ("200", "500"):
            inst = f"i{k}"
            ts = _grid(rng, T0_MS, END_MS, 900 if k != 1 else 0)
            vs = _counter(rng, len(ts), resets=int(rng.integers(0, 3)))
            if k == 0 and code == "500":  # starts 20 minutes in
                keep = ts >= T0_MS + 20 * 60_000
                ts, vs = ts[keep], vs[keep]
            if k == 2 and code == "200":  # vanishes for 8 minutes, then a reset
                ts, vs = _stale_then_gap(ts, vs, T0_MS + 50 * 60_000, T0_MS + 58 * 60_000)
            if k == 2 and code == "500":  # 7 minutes unscraped, no marker
                ts, vs = _cut(ts, vs, T0_MS + 30 * 60_000, T0_MS + 37 * 60_000)
            labels = {"__name__": "http_requests_total", "job": "api", "instance": inst}
            add({**labels, "code": code}, ts, vs)

    # gauges
    for k, sensor in enumerate(("cpu", "gpu", "disk", "psu")):
        ts = _grid(rng, T0_MS, END_MS, 500 if k % 2 else 0)
        vs = 40 + np.cumsum(rng.normal(0, 1.5, size=len(ts))).round(3)
        if sensor == "gpu":
            vs = vs - 60  # negative values
        if sensor == "disk":
            for special in (math.nan, math.inf, -math.inf):
                vs[rng.integers(0, len(vs), size=3)] = special
        if sensor == "psu":  # ends with a staleness marker an hour in
            ts, vs = _stale_then_gap(ts, vs, T0_MS + 60 * 60_000, END_MS)
        labels = {"__name__": "node_temperature_celsius", "instance": f"i{k % 3}"}
        add({**labels, "sensor": sensor}, ts, vs)

    # up: 0/1 per instance, exact grid
    for k in range(3):
        ts = _grid(rng, T0_MS, END_MS, 0)
        add(
            {"__name__": "up", "job": "api", "instance": f"i{k}"},
            ts,
            (rng.random(len(ts)) < 0.9).astype(np.float64),
        )

    # an info metric to join on
    for k in range(3):
        ts = _grid(rng, T0_MS, END_MS, 0)
        version = ("1.0", "1.1", "2.0")[k]
        add(
            {"__name__": "build_info", "job": "api", "instance": f"i{k}", "version": version},
            ts,
            np.ones(len(ts)),
        )

    # sparse: a sample every 2 to 7 minutes, off the grid
    for k in range(2):
        gaps = rng.integers(120_000, 420_000, size=40)
        ts = T0_MS + 1_234 + np.cumsum(gaps)
        ts = ts[ts < END_MS]
        add(
            {"__name__": "sparse_metric", "instance": f"i{k}"},
            ts,
            rng.integers(-5, 20, size=len(ts)).astype(np.float64),
        )

    # classic histograms: cumulative buckets, with _sum and _count, one with a reset
    for k in range(2):
        ts = _grid(rng, T0_MS, END_MS, 700 if k else 0)
        n = len(ts)
        per_bucket = rng.poisson(lam=[2, 3, 5, 4, 2, 1, 0.5], size=(n, len(LE_BOUNDS)))
        per_bucket[0] += rng.integers(0, 50, size=len(LE_BOUNDS))
        counts = np.cumsum(np.cumsum(per_bucket, axis=0), axis=1).astype(np.float64)
        sums = np.cumsum(per_bucket.sum(axis=1) * rng.uniform(0.05, 1.5, size=n)).round(4)
        if k == 1:
            at = n // 2
            counts[at:] -= counts[at]
            sums[at:] -= sums[at]
        base = {"job": "api", "instance": f"i{k}"}
        name = "request_duration_seconds"
        for j, le in enumerate(LE_BOUNDS):
            add({"__name__": f"{name}_bucket", **base, "le": le}, ts, counts[:, j])
        add({"__name__": f"{name}_count", **base}, ts, counts[:, -1])
        add({"__name__": f"{name}_sum", **base}, ts, sums)

    # broken classic histograms: no +Inf bucket; buckets that are not monotonic in le; an le
    # spelled two ways (both parse to 1)
    ts = _grid(rng, T0_MS, END_MS, 0)
    n = len(ts)
    grow = np.cumsum(rng.poisson(3, size=n)).astype(np.float64)
    for le, mult in (("0.5", 1.0), ("1", 2.0), ("2", 3.0)):
        add({"__name__": "broken_bucket", "case": "no_inf", "le": le}, ts, grow * mult)
    for le, mult in (("0.5", 1.0), ("1", 2.5), ("2", 2.0), ("+Inf", 3.0)):
        add({"__name__": "broken_bucket", "case": "not_monotonic", "le": le}, ts, grow * mult)
    for le, mult in (("0.5", 1.0), ("1", 2.0), ("1.0", 2.0), ("+Inf", 3.0)):
        add({"__name__": "broken_bucket", "case": "le_twice", "le": le}, ts, grow * mult)

    # extremes: overflow to Inf in sums, denormals, negative zero, NaN in a counter
    extremes = {
        "huge": [1.7e308, 1.5e308, -1.7e308, 1e308],
        "tiny": [5e-324, -5e-324, 2.2250738585072014e-308, 0.0],
        "zeros": [0.0, -0.0, 0.0, -0.0],
    }
    ts = _grid(rng, T0_MS, END_MS, 0)
    for kind, cycle in extremes.items():
        vs = np.resize(np.array(cycle), len(ts))
        add({"__name__": "extreme_metric", "kind": kind}, ts, vs)
    vs = _counter(rng, len(ts), resets=1)
    vs[rng.integers(0, len(vs), size=4)] = math.nan
    add({"__name__": "nan_counter_total", "job": "api"}, ts, vs)

    # UTF-8 names (quoted in selectors since Prometheus 3) and a label value with a newline
    ts = _grid(rng, T0_MS, END_MS, 300)
    for k, service in enumerate(("checkout", "cart")):
        vs = _counter(rng, len(ts), resets=0)
        add({"__name__": "my.dotted.metric", "service.name": service, "instance": f"i{k}"}, ts, vs)
    for value in ("a\nb", "a.b", "ab"):
        add({"__name__": "weird_labels", "v": value}, ts, rng.normal(size=len(ts)).round(2))

    # a constant on the exact grid, and a series with a single sample
    add({"__name__": "const_metric", "job": "api"}, _grid(rng, T0_MS, END_MS, 0), np.full(360, 7.0))
    add({"__name__": "single_sample", "job": "api"}, np.array([T0_MS + 600_000]), np.array([3.0]))
    # in label order: Prometheus' TSDB hands series to the engine in the order they were created,
    # which decides ties in topk/bottomk/limitk; a store that keeps no creation order can only
    # match it when that order is the label order
    return sorted(out, key=lambda s: sorted(s.labels.items()))


def sample_batch(seed: int) -> SampleBatch:
    """``dataset(seed)`` as one batch for ``Appender.append``."""
    data = dataset(seed)
    return SampleBatch(
        [s.labels for s in data],
        np.repeat(np.arange(len(data)), [len(s.timestamps_ms) for s in data]),
        np.concatenate([s.timestamps_ms for s in data]),
        np.concatenate([s.values for s in data]),
    )
