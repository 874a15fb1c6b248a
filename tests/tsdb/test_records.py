"""WAL and series-log payloads round-trip; bad payloads raise, never decode silently wrong."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from obskit.tsdb.records import (
    RecordError,
    decode_samples,
    decode_series,
    encode_samples,
    encode_series,
)

text = st.text(min_size=1, max_size=20)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 2**32 - 1), st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**64 - 1)
        ),
        max_size=50,
    )
)
def test_samples_round_trip_bit_exact(rows: list[tuple[int, int, int]]) -> None:
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    ts = np.array([r[1] for r in rows], dtype=np.int64)
    values = np.array([r[2] for r in rows], dtype=np.uint64).view(np.float64)
    got = decode_samples(encode_samples(ids, ts, values))
    assert (got[0] == ids).all() and (got[1] == ts).all()
    assert (got[2].view(np.uint64) == values.view(np.uint64)).all()


@given(st.integers(0, 2**40), st.lists(st.lists(st.tuples(text, text), max_size=5), max_size=5))
def test_series_round_trip(first: int, labels: list[list[tuple[str, str]]]) -> None:
    sets = [tuple(x) for x in labels]
    assert decode_series(encode_series(first, sets)) == (first, sets)


def test_truncated_payloads_raise() -> None:
    raw = encode_samples(np.arange(3), np.arange(3), np.ones(3))
    with pytest.raises(RecordError):
        decode_samples(raw[:-1])
    raw = encode_series(0, [(("__name__", "up"),)])
    for cut in range(len(raw)):
        with pytest.raises(RecordError):
            decode_series(raw[:cut])


def test_encode_series_holds_little_more_than_its_output() -> None:
    sets = [
        (("__name__", "m"), *((f"label_{k}", f"value {i % 97} {k}") for k in range(10)))
        for i in range(3000)
    ]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        raw = encode_series(0, sets)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert decode_series(raw) == (0, sets)
    assert peak < 3 * len(raw)  # a piece list made it ~6x
