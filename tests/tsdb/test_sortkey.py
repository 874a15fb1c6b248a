"""sort_dedup and merge_series against brute-force references (last write wins)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit.tsdb.merge import merge_series
from obskit.tsdb.sortkey import sort_dedup

samples = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.one_of(st.integers(-3, 3), st.integers(-(2**62), 2**62)),
        st.floats(allow_nan=True),
    ),
    max_size=60,
)


@given(samples)
@settings(max_examples=300)
def test_sort_dedup_keeps_last_write_per_id_and_time(rows: list[tuple[int, int, float]]) -> None:
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    ts = np.array([r[1] for r in rows], dtype=np.int64)
    values = np.array([r[2] for r in rows], dtype=np.float64)
    ref: dict[tuple[int, int], int] = {}
    for i, (sid, t, _) in enumerate(rows):
        ref[(sid, t)] = i
    keys = sorted(ref)
    out_ids, out_ts, out_values = sort_dedup(ids, ts, values)
    assert list(zip(out_ids.tolist(), out_ts.tolist(), strict=True)) == keys
    want = values[[ref[k] for k in keys]] if keys else np.empty(0)
    assert (out_values.view(np.uint64) == want.view(np.uint64)).all()


@given(st.lists(st.lists(st.tuples(st.integers(-50, 50), st.floats()), max_size=20), max_size=5))
def test_merge_series_later_chunks_win(chunks_raw: list[list[tuple[int, float]]]) -> None:
    chunks = []
    ref: dict[int, float] = {}
    for raw in chunks_raw:
        d = dict(raw)  # unique timestamps within a chunk
        ts = np.array(sorted(d), dtype=np.int64)
        chunks.append((ts, np.array([d[t] for t in ts.tolist()], dtype=np.float64)))
        ref.update(d)
    ts, values = merge_series(chunks)
    assert ts.tolist() == sorted(ref)
    want = np.array([ref[t] for t in sorted(ref)], dtype=np.float64)
    assert (values.view(np.uint64) == want.view(np.uint64)).all()
