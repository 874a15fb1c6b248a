"""``DB.select_flat``: one pair of flat columns in label order, equal to a last-write-wins
reference over blocks, head and overlapping backfill, for any matchers and time range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import obskit.tsdb as tsdb
from obskit.model import Labels, Matcher, MatchType, SampleBatch, make_labels
from obskit.tsdb.options import HOUR_MS

N_SERIES = 40
SPAN_MS = 12 * HOUR_MS


def reference_columns(
    ref: dict[tuple[int, int], float], labels: list[Labels], keep: set[int], lo: int, hi: int
) -> tuple[list[Labels], list[int], list[float], list[int]]:
    """What select_flat must return: matching series with samples in [lo, hi], by labels."""
    out_labels, ts, values, offsets = [], [], [], [0]
    for sid in sorted(keep, key=labels.__getitem__):
        points = sorted((t, v) for (s, t), v in ref.items() if s == sid and lo <= t <= hi)
        if not points:
            continue
        out_labels.append(labels[sid])
        ts += [t for t, _ in points]
        values += [v for _, v in points]
        offsets.append(len(ts))
    return out_labels, ts, values, offsets


@pytest.mark.parametrize("backfill", [False, True], ids=["in-order", "backfill"])
def test_select_flat_equals_a_reference(tmp_path: Path, backfill: bool) -> None:
    rng = np.random.default_rng(11)
    # ids in creation order, labels sorting otherwise ("10" < "2", job b before a for odd ids)
    labels = [make_labels("m", i=str(i), job="ab"[i % 2]) for i in range(N_SERIES)]
    ref: dict[tuple[int, int], float] = {}
    opts = tsdb.Options(fsync="none", retention_ms=0)
    with tsdb.open(tmp_path, opts) as db:
        steps = SPAN_MS // 60_000
        for k in range(6):
            if backfill:  # random times: windows written again after their flush
                ts = rng.integers(0, steps, 3000) * 60_000
            else:  # time moves on: blocks hold disjoint windows, the head the newest
                ts = rng.integers(k * steps // 6, (k + 1) * steps // 6, 3000) * 60_000
            idx = rng.integers(0, N_SERIES, 3000)
            values = np.round(rng.normal(size=3000), 3)
            db.append(SampleBatch(labels, idx, ts, values))
            for i, t, v in zip(idx.tolist(), ts.tolist(), values.tolist(), strict=True):
                ref[(i, t)] = v
            if k < 5:
                db.flush()
            if k == 3:
                db.compact()
        assert db.blocks and db.head.num_samples()
        cases = [
            ([], -(2**62), 2**62),  # every block whole: decoded straight into label order
            ([], 3 * HOUR_MS + 1, 9 * HOUR_MS - 1),  # clipped blocks
            ([Matcher(MatchType.EQ, "job", "b")], 0, SPAN_MS),
            ([Matcher(MatchType.RE, "i", "1.|3")], 5 * HOUR_MS, SPAN_MS),
            ([Matcher(MatchType.EQ, "i", "7")], 11 * HOUR_MS, SPAN_MS),  # head only
            ([Matcher(MatchType.EQ, "i", "nope")], 0, SPAN_MS),
        ]
        for matchers, lo, hi in cases:
            keep = {
                i
                for i, ls in enumerate(labels)
                if all(m.matches(dict(ls).get(m.name, "")) for m in matchers)
            }
            want = reference_columns(ref, labels, keep, lo, hi)
            got = db.select_flat(matchers, lo, hi)
            assert got.labels == want[0]
            assert got.timestamps_ms.tolist() == want[1]
            assert got.values.tolist() == want[2]
            assert got.offsets.tolist() == want[3]
            assert got.timestamps_ms.dtype == np.int64 and got.values.dtype == np.float64
            series = db.select(matchers, lo, hi)
            assert [s.labels for s in series] == want[0]
            assert sum(len(s) for s in series) == len(want[1])


@pytest.mark.parametrize("compact", [False, True], ids=["format-1", "compacted"])
def test_select_flat_says_when_no_staleness_marker_was_read(tmp_path: Path, compact: bool) -> None:
    """``stale_free`` may be True only when no value read is a staleness marker; the native
    decoder proves it for the columns it decodes (whatever their codec), numpy never does."""
    from obskit import kernels

    stale = np.uint64(0x7FF0000000000002).view(np.float64)
    ts = np.arange(0, 4 * HOUR_MS, 15_000, dtype=np.int64)
    n = len(ts)
    rng = np.random.default_rng(3)
    columns = {
        "counter": np.cumsum(rng.integers(0, 9, n)).astype(float),  # integer codecs
        "gauge": np.round(rng.normal(size=n), 2),  # decimal codecs
        "noise": rng.normal(size=n),  # xor / float codecs
        "const": np.ones(n),
    }
    marked = {name: vals.copy() for name, vals in columns.items()}
    for vals in marked.values():
        vals[n // 2] = stale
    labels = [make_labels(name, kind=kind) for kind in ("clean", "marked") for name in columns]
    values = list(columns.values()) + list(marked.values())
    idx = np.repeat(np.arange(len(labels)), n)
    with tsdb.open(tmp_path, tsdb.Options(fsync="none", retention_ms=0)) as db:
        db.append(SampleBatch(labels, idx, np.tile(ts, len(labels)), np.concatenate(values)))
        db.flush()
        if compact:
            db.compact()
        native = kernels.BACKEND == "native"
        for name in columns:
            for kind in ("clean", "marked"):
                matchers = [
                    Matcher(MatchType.EQ, "__name__", name),
                    Matcher(MatchType.EQ, "kind", kind),
                ]
                got = db.select_flat(matchers, 0, 4 * HOUR_MS)
                has = bool((got.values.view(np.uint64) == np.uint64(0x7FF0000000000002)).any())
                assert has == (kind == "marked")
                assert got.stale_free == (native and not has), (name, kind)
        # a marker in the head only
        db.append(
            SampleBatch(
                [labels[0]], np.zeros(1, np.int64), np.array([5 * HOUR_MS]), np.array([stale])
            )
        )
        got = db.select_flat([Matcher(MatchType.EQ, "kind", "clean")], 0, 6 * HOUR_MS)
        assert not got.stale_free
