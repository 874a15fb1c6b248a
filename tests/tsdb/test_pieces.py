"""merge_pieces against merging each series on its own (later sources win on equal times)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit.tsdb.merge import merge_series
from obskit.tsdb.pieces import Pieces, clip_pieces, merge_pieces

source = st.dictionaries(
    st.integers(0, 6),
    st.dictionaries(st.integers(-20, 20), st.integers(0, 2**64 - 1), min_size=1, max_size=8),
    max_size=5,
)


def to_pieces(src: dict[int, dict[int, int]]) -> Pieces:
    sids = sorted(src)
    ts = [t for s in sids for t in sorted(src[s])]
    bits = [src[s][t] for s in sids for t in sorted(src[s])]
    return Pieces(
        np.array(sids, np.int64),
        np.array([len(src[s]) for s in sids], np.int64),
        np.array(ts, np.int64),
        np.array(bits, np.uint64).view(np.float64),
    )


@given(st.lists(source, max_size=4), st.integers(-25, 5), st.integers(-5, 25))
@settings(max_examples=300)
def test_merge_pieces_matches_per_series_merge(
    sources: list[dict[int, dict[int, int]]], lo: int, hi: int
) -> None:
    pieces = [clip_pieces(to_pieces(s), lo, hi) for s in sources]
    got = merge_pieces(pieces)
    want_sids = sorted(
        {sid for s in sources for sid, d in s.items() if any(lo <= t <= hi for t in d)}
    )
    assert got.sids.tolist() == want_sids
    for sid, ts, values in got.runs():
        chunks = []
        for s in sources:
            if sid in s:
                d = {t: v for t, v in s[sid].items() if lo <= t <= hi}
                keys = sorted(d)
                chunks.append(
                    (
                        np.array(keys, np.int64),
                        np.array([d[k] for k in keys], np.uint64).view(np.float64),
                    )
                )
        want_ts, want_values = merge_series(chunks)
        assert ts.tolist() == want_ts.tolist()
        assert (values.view(np.uint64) == want_values.view(np.uint64)).all()
