"""Bounded steps of flush and compaction: every step stays near its sample budget and the steps
together are exactly the merged input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from obskit.tsdb.head import make_part
from obskit.tsdb.sortkey import concat_columns, sort_dedup
from obskit.tsdb.stream import merged_part_steps, series_steps


@pytest.mark.parametrize("max_samples", [1, 7, 1000, 10**9])
def test_series_steps_cover_all_series_within_the_budget(max_samples: int) -> None:
    counts = np.random.default_rng(3).integers(1, 50, 500)
    steps = series_steps(counts, max_samples)
    assert [lo for lo, _ in steps] == [0] + [hi for _, hi in steps[:-1]]
    assert steps[-1][1] == len(counts)
    for lo, hi in steps:
        assert hi - lo == 1 or counts[lo:hi].sum() <= max_samples


@pytest.mark.parametrize("max_samples", [64, 1000, 1 << 20])
def test_merged_part_steps_equal_a_global_sort_in_bounded_steps(max_samples: int) -> None:
    rng = np.random.default_rng(7)
    parts, raw = [], []
    for n in (20_000, 5_000, 300, 1):  # oldest first, overlapping ids and timestamps
        cols = (
            rng.integers(0, 400, n),
            rng.integers(0, 200, n) * 15_000,
            rng.standard_normal(n),
        )
        raw.append(cols)
        parts.append(make_part(*cols))
    steps = list(merged_part_steps(parts, max_samples))
    want = sort_dedup(*concat_columns(raw))
    got = concat_columns(steps)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)
    for prev, step in itertools.pairwise(steps):
        assert prev[0][-1] < step[0][0]  # whole series per step, in id order
    # a step holds at most the budget, plus the candidate spacing of each part and one series
    slack = max(1, max_samples // (4 * len(parts))) * len(parts)
    largest_series = int(np.bincount(want[0]).max())
    assert max(len(s[0]) for s in steps) <= max_samples + slack + largest_series
    assert list(merged_part_steps([], max_samples)) == []
