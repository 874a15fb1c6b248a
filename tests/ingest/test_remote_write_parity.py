"""The C remote-write decoder and ref cache give exactly the reference's columns, codes, refs."""

from __future__ import annotations

from typing import Any

import cramjam
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit import kernels
from obskit.kernels import _remote_write as ref

from .rw_encode import Sample, TimeSeries, encode_request, write_requests

pytestmark = pytest.mark.skipif(
    kernels.BACKEND != "native", reason="obskit._native is not built: nothing to compare"
)


def outcome(count: Any, decode: Any, cache: Any, raw: bytes) -> Any:
    data = np.frombuffer(raw, dtype=np.uint8)
    try:
        counts = count(data)
        cols = decode(data, counts, cache)
    except ref.MalformedError as exc:
        return ("error", exc.code, exc.offset)
    arrays = tuple(
        (a.dtype.str, a.shape, a.tobytes())
        for a in (
            cols.series_ref,
            cols.key_off,
            cols.key_len,
            cols.label_start,
            cols.labels,
            cols.sample_series,
            cols.timestamps_ms,
            cols.values,
        )
    )
    return counts, arrays, cols.histograms


def both(raw: bytes, py_cache: Any, c_cache: Any) -> Any:
    want = outcome(ref.count_write_request, ref.decode_write_request, py_cache, raw)
    got = outcome(kernels.count_write_request, kernels.decode_write_request, c_cache, raw)
    assert got == want
    return want


def fill(cache: Any, raw: bytes, result: Any) -> None:
    """Cache every series of a decoded request under ref = its index (as a writer would)."""
    if result[0] == "error":
        return
    data = np.frombuffer(raw, dtype=np.uint8)
    cols = ref.decode_write_request(data, ref.count_write_request(data), ref.PyRefCache(1, 1))
    refs = np.arange(cols.series_ref.size, dtype=np.int64)
    cache.insert(data, cols.key_off, cols.key_len, refs)


@settings(max_examples=200, deadline=None)
@given(series=write_requests(), cache_size=st.sampled_from([2, 8, 1000]))
def test_decode_parity_cold_and_warm(series: Any, cache_size: int) -> None:
    raw = encode_request(series)
    py_cache = ref.PyRefCache(cache_size, cache_size * 64)
    c_cache = kernels.new_ref_cache(cache_size, cache_size * 64)
    result = both(raw, py_cache, c_cache)
    fill(py_cache, raw, result)
    fill(c_cache, raw, result)
    assert len(py_cache) == len(c_cache)
    both(raw, py_cache, c_cache)
    assert len(py_cache) == len(c_cache)


@settings(max_examples=30, deadline=None)
@given(series=write_requests(max_series=3))
def test_truncation_parity(series: Any) -> None:
    raw = encode_request(series)
    for cut in range(len(raw)):
        both(raw[:cut], ref.PyRefCache(10, 1000), kernels.new_ref_cache(10, 1000))


@settings(max_examples=500, deadline=None)
@given(raw=st.binary(max_size=300))
def test_garbage_parity(raw: bytes) -> None:
    both(raw, ref.PyRefCache(10, 1000), kernels.new_ref_cache(10, 1000))


@settings(max_examples=100, deadline=None)
@given(
    ops=st.lists(st.tuples(st.booleans(), st.binary(max_size=6), st.integers(0, 99)), max_size=60),
    entries=st.integers(1, 8),
    key_bytes=st.integers(1, 40),
)
def test_cache_policy_parity(
    ops: list[tuple[bool, bytes, int]], entries: int, key_bytes: int
) -> None:
    py_cache = ref.PyRefCache(entries, key_bytes)
    c_cache = kernels.new_ref_cache(entries, key_bytes)
    for is_insert, key, value in ops:
        if is_insert:
            args = (
                np.frombuffer(key, dtype=np.uint8),
                np.array([0]),
                np.array([len(key)]),
                np.array([value]),
            )
            py_cache.insert(*args)
            c_cache.insert(*args)
        else:
            assert c_cache.lookup(key) == py_cache.lookup(key)
        assert len(c_cache) == len(py_cache)
    c_cache.clear()
    assert len(c_cache) == 0


def test_native_rejects_bad_buffers() -> None:
    cache = kernels.new_ref_cache(10, 100)
    data = np.zeros(4, dtype=np.uint8)
    with pytest.raises(ValueError, match="key outside"):
        cache.insert(data, np.array([2]), np.array([3]), np.array([1]))
    with pytest.raises(ValueError, match="differ in size"):
        cache.insert(data, np.array([0, 1]), np.array([1]), np.array([1]))
    counts = ref.WriteRequestCounts(series=0, samples=0, labels=0, histograms=0)
    raw = encode_request([])  # empty: fine with zero-sized buffers
    kernels.decode_write_request(np.frombuffer(raw, dtype=np.uint8), counts, cache)
    lying = np.frombuffer(b"\x0a\x00", dtype=np.uint8)  # one TimeSeries, counts say none
    with pytest.raises(ValueError, match="smaller than the request needs"):
        kernels.decode_write_request(lying, counts, cache)


def ref_series(i: int, timestamps: list[int], suffix: bytes = b"") -> TimeSeries:
    labels = [(b"__name__", b"node_cpu_seconds_total"), (b"cpu", str(i).encode() + suffix)]
    return TimeSeries(labels, [Sample(t, i) for t in timestamps])


def snappy_outcome(decompress: Any, body: bytes, size: int) -> Any:
    out = np.full(size, 0xAA, dtype=np.uint8)
    try:
        decompress(body, out)
    except ValueError:
        return "error"
    return out.tobytes()


def snappy_both(body: bytes, size: int | None = None) -> Any:
    if size is None:
        try:
            size = ref.snappy_length(body)
        except ValueError:
            size = 0
    want = snappy_outcome(ref.snappy_decompress_into, body, size)
    assert snappy_outcome(kernels.snappy_decompress_into, body, size) == want
    return want


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(st.tuples(st.binary(min_size=1, max_size=40), st.integers(1, 300)), max_size=30)
)
def test_snappy_parity(chunks: list[tuple[bytes, int]]) -> None:
    raw = b"".join(chunk * times for chunk, times in chunks)  # repeats: copies of all offsets
    body = bytes(cramjam.snappy.compress_raw(raw))
    assert snappy_both(body) == raw
    assert snappy_both(body, len(raw) + 1) == "error"  # buffer not the declared length
    for cut in range(0, len(body), max(1, len(body) // 40)):
        snappy_both(body[:cut])


def test_snappy_parity_on_requests() -> None:
    rng = np.random.default_rng(7)
    raw = encode_request([ref_series(i, rng.integers(0, 2**40, 3).tolist()) for i in range(300)])
    body = bytes(cramjam.snappy.compress_raw(raw))
    assert snappy_both(body) == raw
    flipped = bytearray(body)
    for pos in rng.integers(1, len(body), 200).tolist():
        flipped[pos] ^= 0x5A
        snappy_both(bytes(flipped))


@settings(max_examples=500, deadline=None)
@given(body=st.binary(max_size=200))
def test_snappy_garbage_parity(body: bytes) -> None:
    snappy_both(body)


def test_predicted_lookups_match_the_reference() -> None:
    """Look-ups follow the order of the previous request; other orders, keys sharing a prefix
    with the predicted one, and a rotating cache must still give the reference's refs."""
    rng = np.random.default_rng(3)
    series = [ref_series(i, [i]) for i in range(64)]
    series += [ref_series(i, [i], suffix=b"x") for i in range(8)]  # same prefix, longer key
    for entries in (16, 40, 1000):
        py_cache = ref.PyRefCache(entries, entries * 200)
        c_cache = kernels.new_ref_cache(entries, entries * 200)
        for _ in range(12):
            order = rng.permutation(len(series)) if rng.random() < 0.5 else range(len(series))
            raw = encode_request([series[i] for i in order])
            result = both(raw, py_cache, c_cache)
            fill(py_cache, raw, result)
            fill(c_cache, raw, result)
            both(raw, py_cache, c_cache)
            assert len(py_cache) == len(c_cache)
