"""``DB.select_instant``: the samples an instant selector picks at each step, read straight from
the blocks' pages and the head. It must equal Prometheus' rule applied to the merged series (the
last sample <= the step's end within the lookback, later writes winning), over blocks, head,
overlapping backfill, staleness markers and the codecs the fast paths read in place
(const-step timestamps, raw and constant values)."""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np
import pytest

import obskit.tsdb as tsdb
from obskit import kernels
from obskit.errors import CorruptDataError
from obskit.model import Labels, Matcher, MatchType, SampleBatch, make_labels
from obskit.tsdb.options import HOUR_MS

N_SERIES = 30
SPAN_MS = 12 * HOUR_MS
STALE = np.uint64(0x7FF0000000000002).view(np.float64)
INT64_MIN = np.iinfo(np.int64).min


def reference(
    ref: dict[tuple[int, int], float],
    labels: list[Labels],
    keep: set[int],
    ends: np.ndarray,
    lookback: int,
) -> tuple[list[Labels], list[list[tuple[int, float] | None]]]:
    """Series with samples in (ends[0] - lookback, ends[-1]] by labels, and per step the
    (ts, value) Prometheus' instant selector takes before the staleness check (None: none)."""
    out_labels, picks = [], []
    lo, hi = int(ends[0]) - lookback, int(ends[-1])
    for sid in sorted(keep, key=labels.__getitem__):
        points = sorted((t, v) for (s, t), v in ref.items() if s == sid)
        times = [t for t, _ in points]
        if not any(lo < t <= hi for t in times):
            continue
        row: list[tuple[int, float] | None] = []
        for e in ends.tolist():
            i = bisect.bisect_right(times, e) - 1
            row.append(points[i] if i >= 0 and times[i] > e - lookback else None)
        out_labels.append(labels[sid])
        picks.append(row)
    return out_labels, picks


def _write(db: tsdb.DB, labels: list[Labels], backfill: bool) -> dict[tuple[int, int], float]:
    """Six batches, five flushed (one compaction between): regular 15 s series with constant
    values (const-step and const codecs), jittered ones with random values, staleness markers;
    with ``backfill`` later batches rewrite earlier windows (overlapping blocks, equal
    timestamps in several sources)."""
    rng = np.random.default_rng(5 if backfill else 6)
    ref: dict[tuple[int, int], float] = {}
    per = SPAN_MS // 6
    for k in range(6):
        w = rng.integers(0, 6) if backfill and k >= 3 else k
        ts_parts, idx_parts, val_parts = [], [], []
        for sid in range(N_SERIES):
            if sid % 3 == 0:  # regular scrape, constant value: read in place
                ts = np.arange(w * per, (w + 1) * per, 15_000, dtype=np.int64)
                vals = np.full(len(ts), float(sid % 2))
            else:
                ts = np.unique(rng.integers(w * per, (w + 1) * per, 200)) // 1000 * 1000
                ts = np.unique(ts)
                vals = np.round(rng.normal(size=len(ts)), 3)
            if sid % 5 == 1 and len(ts) > 10:  # a gap closed by a staleness marker
                vals[len(ts) // 2] = STALE
                ts = np.concatenate((ts[: len(ts) // 2 + 1], ts[-3:]))
                vals = np.concatenate((vals[: len(vals) // 2 + 1], vals[-3:]))
            ts_parts.append(ts)
            idx_parts.append(np.full(len(ts), sid))
            val_parts.append(vals)
        ts, idx, vals = (np.concatenate(p) for p in (ts_parts, idx_parts, val_parts))
        db.append(SampleBatch(labels, idx, ts, vals))
        for i, t, v in zip(idx.tolist(), ts.tolist(), vals.tolist(), strict=True):
            ref[(i, t)] = v
        if k < 5:
            db.flush()
        if k == 3:
            db.compact()
    return ref


@pytest.mark.parametrize("backfill", [False, True], ids=["in-order", "backfill"])
def test_select_instant_equals_a_reference(tmp_path: Path, backfill: bool) -> None:
    labels = [make_labels("m", i=str(i), job="ab"[i % 2]) for i in range(N_SERIES)]
    opts = tsdb.Options(fsync="none", retention_ms=0)
    with tsdb.open(tmp_path, opts) as db:
        ref = _write(db, labels, backfill)
        assert db.blocks and db.head.num_samples()
        every = np.arange(0, SPAN_MS + 1, 60_000, dtype=np.int64)
        cases = [
            ([], every, 300_000),
            ([], every + 7_001, 300_000),  # ends between samples
            ([], every[1:] - 1, 300_000),  # ends 1 ms before a sample
            ([], np.arange(-HOUR_MS, SPAN_MS + HOUR_MS, 7_000, dtype=np.int64), 20_000),
            ([Matcher(MatchType.EQ, "job", "b")], every[100:400:3], 3_600_000),  # > span step
            ([Matcher(MatchType.RE, "i", "1.|3")], np.full(5, 9 * HOUR_MS), 300_000),  # @
            ([Matcher(MatchType.EQ, "i", "7")], every[-30:], 300_000),  # head mostly
            ([Matcher(MatchType.EQ, "i", "nope")], every, 300_000),
            ([], np.array([-5 * HOUR_MS], np.int64), 300_000),  # before every sample
        ]
        for matchers, ends, lookback in cases:
            keep = {
                i
                for i, ls in enumerate(labels)
                if all(m.matches(dict(ls).get(m.name, "")) for m in matchers)
            }
            want_labels, picks = reference(ref, labels, keep, ends, lookback)
            got = db.select_instant(matchers, ends, lookback)
            assert got.labels == want_labels
            assert got.values.shape == got.timestamps_ms.shape == (len(want_labels), len(ends))
            for s, row in enumerate(picks):
                for k, pick in enumerate(row):
                    t = int(got.timestamps_ms[s, k])
                    if pick is None:
                        assert t <= ends[k] - lookback, (s, k)
                    else:
                        assert t == pick[0], (s, k)
                        assert got.values[s, k].tobytes() == np.float64(pick[1]).tobytes()


def test_select_instant_refuses_descending_ends(tmp_path: Path) -> None:
    with (
        tsdb.open(tmp_path, tsdb.Options(fsync="none")) as db,
        pytest.raises(ValueError, match="ascending"),
    ):
        db.select_instant([], np.array([2, 1], np.int64), 1000)


def test_sample_columns_by_hand() -> None:
    """Two sources offering to the same rows: the newer sample wins, ties go to the later
    call, a column offers nothing to steps a lookback past its last sample."""
    ends = np.array([10, 20, 30, 40, 100], np.int64)
    t = np.full((2, 5), INT64_MIN, np.int64)
    v = np.zeros((2, 5))
    # source 1: row 1 gets [5, 15, 25], row 0 gets [12]
    kernels.pq_sample_columns(
        np.array([5, 15, 25, 12], np.int64),
        np.array([1.0, 2.0, 3.0, 9.0]),
        np.array([0, 3, 4], np.int64),
        np.array([1, 0], np.int64),
        ends,
        20,
        v,
        t,
    )
    assert t[1].tolist() == [5, 15, 25, 25, INT64_MIN]
    assert v[1, :4].tolist() == [1.0, 2.0, 3.0, 3.0]
    assert t[0].tolist() == [INT64_MIN, 12, 12, INT64_MIN, INT64_MIN]
    # source 2 (later): row 1 gets [15, 18]: 15 ties and wins, 18 is newer
    kernels.pq_sample_columns(
        np.array([15, 18], np.int64),
        np.array([7.0, 8.0]),
        np.array([0, 2], np.int64),
        np.array([1], np.int64),
        ends,
        20,
        v,
        t,
    )
    assert t[1].tolist() == [5, 18, 25, 25, INT64_MIN]
    assert v[1, :3].tolist() == [1.0, 8.0, 3.0]
    present, keep, points = kernels.pq_instant_finish(v, t, ends, 20)
    assert present.tolist() == [
        [False, True, True, False, False],
        [True, True, True, True, False],
    ]
    assert keep.tolist() == [True, True] and points == 6
    assert v[0].tolist() == [0.0, 9.0, 9.0, 0.0, 0.0]


def test_a_damaged_page_names_the_series(tmp_path: Path) -> None:
    labels = [make_labels("m", i=str(i)) for i in range(3)]
    with tsdb.open(tmp_path, tsdb.Options(fsync="none", retention_ms=0)) as db:
        ts = np.arange(0, 600_000, 15_000, dtype=np.int64)
        idx = np.repeat(np.arange(3), len(ts))
        db.append(SampleBatch(labels, idx, np.tile(ts, 3), np.arange(len(idx), dtype=float)))
        db.flush()
        block = db.blocks[0]
        rows = np.arange(3, dtype=np.int64)
        # a page whose bytes lie: the index points past its end
        block._table[0, 1] = 1 << 30  # ts offset of series 1 (row 1)
        with pytest.raises(CorruptDataError, match="cannot decode series"):
            block.sample_into(
                block.plan_rows(rows),
                rows,
                np.array([300_000], np.int64),
                300_000,
                (np.zeros((3, 1)), np.full((3, 1), INT64_MIN, np.int64)),
            )
