"""``anchored``/``smoothed`` through ``Engine`` on a real store, checked against a plain
per-step reference of Prometheus' algorithm on seeded irregular counters with resets and gaps."""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

import obskit.tsdb as tsdb
from obskit.errors import QueryError
from obskit.model import SampleBatch, make_labels
from obskit.promql import Engine, Matrix

LOOKBACK_MS = 300_000
Points = list[tuple[int, float]]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tsdb.DB]:
    with tsdb.open(tmp_path, tsdb.Options(fsync="none", retention_ms=0)) as store:
        yield store


def _series(seed: int) -> Points:
    """An irregular counter: 7-40 s apart, an occasional 6-minute gap, resets."""
    rng = np.random.default_rng(seed)
    t, v, out = 0, 0.0, []
    while t < 1_800_000:
        out.append((t, v))
        t += int(rng.integers(7_000, 40_000)) + (360_000 if rng.random() < 0.03 else 0)
        v = float(rng.integers(0, 5)) if rng.random() < 0.08 else v + float(rng.integers(0, 9))
    return out


def _interpolate(p1: tuple[int, float], p2: tuple[int, float], t: int, counter: bool) -> float:
    y1, y2 = p1[1], p2[1]
    if counter and y2 < y1:
        y1 = 0.0
    return y1 + (y2 - y1) * (t - p1[0]) / (p2[0] - p1[0])


def _reference(points: Points, func: str, modifier: str, end: int, rng_ms: int) -> float | None:
    """Prometheus' extended rate (and anchored changes/resets) for one step, sample by sample."""
    start = end - rng_ms
    smoothed = modifier == "smoothed"
    hi = end + (LOOKBACK_MS if smoothed else 0)
    f = [p for p in points if start - LOOKBACK_MS < p[0] <= hi]
    if not f:
        return None
    last = len(f) - 1
    first = max(0, next((i for i in range(last) if f[i][0] > start), last) - 1)
    if smoothed:
        last = next((i for i in range(last) if f[i][0] >= end), last)
    if f[last][0] <= start or (smoothed and f[first][0] > end):
        return None
    if func in ("changes", "resets"):
        seq = [f[first][1]] + [p[1] for p in f[first + 1 : last + 1]]
        pairs = list(pairwise(seq))
        if func == "resets":
            return float(sum(b < a for a, b in pairs))
        return float(sum(b != a for a, b in pairs))
    counter = func != "delta"
    left = f[first][1]
    if smoothed and f[first][0] < start:
        left = _interpolate(f[first], f[first + 1], start, counter)
    right = f[last][1]
    if smoothed and last > 0 and f[last][0] > end:
        right = _interpolate(f[last - 1], f[last], end, counter)
    result = right - left
    if counter:
        a = first + 1 if f[first][0] <= start else first
        b = last - 1 if f[last][0] >= end else last
        prev, correction = left, 0.0
        for _, value in f[a : b + 1]:
            if value < prev:
                correction += prev
            prev = value
        if right < prev:
            correction += prev
        result += correction
    return result / (rng_ms / 1000) if func == "rate" else result


@pytest.mark.parametrize(
    ("func", "modifier"),
    [
        ("rate", "anchored"),
        ("increase", "anchored"),
        ("delta", "anchored"),
        ("changes", "anchored"),
        ("resets", "anchored"),
        ("rate", "smoothed"),
        ("increase", "smoothed"),
        ("delta", "smoothed"),
    ],
)
@pytest.mark.parametrize("rng_ms", [30_000, 120_000])
def test_matches_the_per_step_reference(db: tsdb.DB, func: str, modifier: str, rng_ms: int) -> None:
    data = {make_labels("c", id=str(k)): _series(k) for k in range(4)}
    labels = list(data)
    index = [k for k, lab in enumerate(labels) for _ in data[lab]]
    db.append(
        SampleBatch(
            labels,
            np.array(index, np.int64),
            np.array([t for lab in labels for t, _ in data[lab]], np.int64),
            np.array([v for lab in labels for _, v in data[lab]], np.float64),
        )
    )
    start, end, step = 0, 2_400_000, 15_000
    query = f"{func}(c[{rng_ms // 1000}s] {modifier})"
    result = Engine(db).range_query(query, start, end, step).value
    assert isinstance(result, Matrix)
    got = {
        dict(s.labels)["id"]: dict(zip(s.timestamps_ms.tolist(), s.values.tolist(), strict=True))
        for s in result.series
    }
    for lab in labels:
        row = got.get(dict(lab)["id"], {})
        for t in range(start, end + 1, step):
            want = _reference(data[lab], func, modifier, t, rng_ms)
            have = row.get(t)
            if want is None:
                assert have is None, (lab, t)
            else:
                assert have is not None and math.isclose(have, want, rel_tol=1e-9, abs_tol=1e-9), (
                    lab,
                    t,
                    have,
                    want,
                )


def test_functions_without_the_modifier_are_refused(db: tsdb.DB) -> None:
    with pytest.raises(QueryError, match="not with max_over_time"):
        Engine(db).instant_query("max_over_time(x[1m] smoothed)", 0)
