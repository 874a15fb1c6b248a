"""Batch column codecs: same bytes as the per-column codecs, round trips, damage names the column.

Both backends are exercised directly (``_encode_numpy``/``_encode_native`` ...) when the C extension
is built, so the numpy/C parity is checked here too.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit import kernels
from obskit.encoding import (
    codec_name,
    codec_names,
    decode_columns,
    decode_pages_into,
    encode_columns,
    encode_timestamps,
    encode_values,
)
from obskit.encoding import columns as col
from obskit.errors import CorruptDataError
from strategies import float_columns, timestamp_columns

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import gen_node

NATIVE = kernels.BACKEND == "native"
ENCODERS: list[Callable[..., Any]] = [col._encode_numpy] + ([col._encode_native] if NATIVE else [])


def out_arrays(total: int) -> tuple[np.ndarray, np.ndarray]:
    return np.empty(total, np.int64), np.empty(total, np.float64)


DECODERS: list[Callable[..., Any]] = [col._decode_numpy] + ([col._decode_native] if NATIVE else [])


def flatten(series: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    sizes = np.array([t.size for t, _ in series], dtype=np.int64)
    ends = np.cumsum(sizes)
    ts = np.concatenate([t for t, _ in series]) if series else np.zeros(0, np.int64)
    vs = np.concatenate([v for _, v in series]) if series else np.zeros(0, np.float64)
    return ts.astype(np.int64), vs.astype(np.float64), ends - sizes, ends


def layout(ts_lens: np.ndarray, val_lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of the ts and value columns of ts 0, values 0, ts 1, ... concatenated."""
    both = np.ravel(np.column_stack([ts_lens, val_lens]))
    offs = np.concatenate(([0], np.cumsum(both)))[:-1].astype(np.int64)
    return offs[0::2].copy(), offs[1::2].copy()


def check_encode(ts: np.ndarray, vs: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bytes:
    """Every backend writes the per-column codecs' bytes; returns them."""
    want_cols = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        want_cols += [encode_timestamps(ts[a:b]), encode_values(vs[a:b])]
    want = b"".join(want_cols)
    for encode in ENCODERS:
        data, ts_lens, val_lens, codecs = encode(ts, vs, starts, ends)
        assert data == want
        assert ts_lens.tolist() == [len(c) for c in want_cols[0::2]]
        assert val_lens.tolist() == [len(c) for c in want_cols[1::2]]
        assert codec_names(codecs) == [codec_name(c) for c in want_cols]
    return want


def check_round_trip(ts: np.ndarray, vs: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
    data, ts_lens, val_lens, _ = encode_columns(ts, vs, starts, ends)
    ts_offs, val_offs = layout(ts_lens, val_lens)
    counts = ends - starts
    page = b"junk" + data  # columns need not start at 0
    for decode in DECODERS:
        index = (ts_offs + 4, ts_lens, val_offs + 4, val_lens, counts)
        got_ts, got_vs = decode(page, index, out_arrays(int(counts.sum())))
        order = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)] or [[]])
        order = order.astype(np.intp)
        assert np.array_equal(got_ts, ts[order])
        assert np.array_equal(got_vs.view(np.uint64), vs[order].view(np.uint64))
    got_ts, got_vs = decode_columns(page, ts_offs + 4, ts_lens, val_offs + 4, val_lens, counts)
    assert got_ts.size == got_vs.size == int(counts.sum())


@st.composite
def series_lists(draw: st.DrawFn) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for _ in range(draw(st.integers(0, 5))):
        v = draw(float_columns(min_size=0, max_size=150))
        t = draw(timestamp_columns(min_size=max(v.size, 1), max_size=max(v.size, 1)))[: v.size]
        out.append((t, v))
    return out


@settings(max_examples=300)
@given(series_lists())
def test_encode_columns_writes_the_per_column_bytes(series: list[Any]) -> None:
    ts, vs, starts, ends = flatten(series)
    check_encode(ts, vs, starts, ends)
    check_round_trip(ts, vs, starts, ends)


@given(series_lists(), st.data())
def test_overlapping_and_reordered_ranges(series: list[Any], data: st.DataObject) -> None:
    ts, vs, _, _ = flatten(series)
    k = data.draw(st.integers(0, 6))
    starts = np.array([data.draw(st.integers(0, ts.size)) for _ in range(k)], dtype=np.int64)
    ends = np.array([data.draw(st.integers(s, ts.size)) for s in starts], dtype=np.int64)
    check_encode(ts, vs, starts, ends)
    check_round_trip(ts, vs, starts, ends)


@pytest.mark.parametrize("block", [1, 2, 3, 100, 480, 1440])
@pytest.mark.parametrize("jitter_ms", [0, 25])
def test_realistic_data(block: int, jitter_ms: int) -> None:
    ds = gen_node.generate(1, 12, jitter_ms=jitter_ms)
    t = np.ascontiguousarray(ds.timestamps().T)[:, : 2 * block]
    v = np.ascontiguousarray(ds.values.T)[:, : 2 * block]
    s = v.shape[1]
    starts = np.concatenate([np.arange(t.shape[0]) * s, np.arange(t.shape[0]) * s + block])
    ends = np.minimum(starts + block, (np.arange(2 * t.shape[0]) % t.shape[0] + 1) * s)
    ts, vs = t.ravel(), v.ravel()
    check_encode(ts, vs, starts.astype(np.int64), ends.astype(np.int64))
    check_round_trip(ts, vs, starts.astype(np.int64), ends.astype(np.int64))


def sample_page() -> tuple[bytes, tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(5)
    series = [
        (15_000 * np.arange(50, dtype=np.int64), np.round(np.cumsum(rng.random(50)), 2)),
        (15_000 * np.arange(40, dtype=np.int64) + rng.integers(0, 9, 40), rng.normal(size=40)),
        (np.arange(30, dtype=np.int64) ** 2, np.full(30, 3.0)),
    ]
    ts, vs, starts, ends = flatten(series)
    data, ts_lens, val_lens, _ = encode_columns(ts, vs, starts, ends)
    ts_offs, val_offs = layout(ts_lens, val_lens)
    return data, (ts_offs, ts_lens, val_offs, val_lens, ends - starts)


def damaged_column(decode: Callable[..., Any], page: bytes, index: tuple[np.ndarray, ...]) -> int:
    with pytest.raises(CorruptDataError) as info:
        decode(page, index, out_arrays(int(index[4].sum())))
    assert f"column {info.value.column}" in str(info.value)
    return int(info.value.column)


def test_count_mismatch_names_the_column() -> None:
    page, index = sample_page()
    counts = index[4].copy()
    counts[1] += 1
    for decode in DECODERS:
        assert damaged_column(decode, page, (*index[:4], counts)) == 1


def test_range_outside_page_names_the_column() -> None:
    page, index = sample_page()
    for j in range(4):
        bad = [a.copy() for a in index]
        bad[j][2] += len(page)
        for decode in DECODERS:
            assert damaged_column(decode, page, tuple(bad)) == 2


@settings(max_examples=300)
@given(st.data())
def test_damage_is_corrupt_data_for_the_same_column_on_both_backends(data: st.DataObject) -> None:
    page, index = sample_page()
    buf = bytearray(page)
    for _ in range(data.draw(st.integers(1, 3))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    results = []
    for decode in DECODERS:
        try:
            got = decode(bytes(buf), index, out_arrays(int(index[4].sum())))
            results.append(("ok", got[0].tobytes(), got[1].tobytes()))
        except CorruptDataError as exc:
            results.append(("corrupt", exc.column))
    assert all(r == results[0] for r in results)


def test_shortened_column_lengths() -> None:
    page, index = sample_page()
    for j in (1, 3):
        for i in range(3):
            bad = [a.copy() for a in index]
            bad[j][i] -= 1
            for decode in DECODERS:
                assert damaged_column(decode, page, tuple(bad)) == i


def test_bad_arguments_are_value_errors() -> None:
    page, index = sample_page()
    with pytest.raises(ValueError, match="differ in length"):
        decode_columns(page, *index[:4], index[4][:2])
    with pytest.raises(ValueError, match="negative"):
        decode_columns(page, *index[:4], -index[4])
    ts = np.zeros(4, np.int64)
    with pytest.raises(ValueError, match="outside"):
        encode_columns(ts, np.zeros(4), [0], [5])
    with pytest.raises(ValueError, match="outside"):
        encode_columns(ts, np.zeros(4), [3], [2])
    with pytest.raises(ValueError, match="shapes"):
        encode_columns(ts, np.zeros(3), [0], [2])


def test_empty_batch() -> None:
    data, ts_lens, val_lens, codecs = encode_columns(np.zeros(0, np.int64), np.zeros(0), [], [])
    assert data == b""
    assert ts_lens.size == val_lens.size == 0
    assert codecs.shape == (0, 2)
    ts, vs = decode_columns(b"", [], [], [], [], [])
    assert ts.size == vs.size == 0


def test_out_offsets_place_columns_anywhere_on_both_backends() -> None:
    page, index = sample_page()
    counts = index[4]
    k = len(counts)
    # reverse the column order inside a larger buffer, with gaps
    places = np.cumsum(counts[::-1] + 3)[::-1] - counts - 3 + 5
    room = int((places + counts).max()) + 7
    want_ts, want_vs = out_arrays(int(counts.sum()))
    col._decode_numpy(page, index, (want_ts, want_vs))
    starts = np.cumsum(counts) - counts
    for decode in DECODERS:
        ts, vs = np.zeros(room, np.int64), np.zeros(room, np.float64)
        decode(page, index, (ts, vs), places.astype(np.int64))
        for i in range(k):
            a, n, b = int(places[i]), int(counts[i]), int(starts[i])
            assert (ts[a : a + n] == want_ts[b : b + n]).all()
            assert (vs[a : a + n].view(np.uint64) == want_vs[b : b + n].view(np.uint64)).all()
    with pytest.raises(ValueError, match="outside"):
        decode_columns(page, *index, out=out_arrays(room), out_offsets=places + room)


def test_decode_pages_into_one_page_equals_the_checked_call() -> None:
    page, index = sample_page()
    counts = index[4]
    places = (np.cumsum(counts[::-1] + 2)[::-1] - counts - 2).astype(np.int64)
    room = int((places + counts).max()) + 3
    want = np.zeros(room, np.int64), np.zeros(room, np.float64)
    decode_columns(page, *index, out=want, out_offsets=places)
    got = np.zeros(room, np.int64), np.zeros(room, np.float64)
    index = tuple(np.ascontiguousarray(a, np.int64) for a in index)
    one = np.array([0, len(counts)], np.int64)
    decode_pages_into([page], one, index, got, places)
    assert (got[0] == want[0]).all() and (got[1].view(np.uint64) == want[1].view(np.uint64)).all()
    damaged = bytearray(page)
    damaged[int(index[2][0])] = 0x7F  # an unknown value codec in column 0
    with pytest.raises(CorruptDataError) as info:
        decode_pages_into([bytes(damaged)], one, index, got, places)
    assert info.value.column == 0


def _big_page(n: int, seed: int) -> tuple[bytes, tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(seed)
    series = [
        (15_000 * np.arange(n, dtype=np.int64), np.round(np.cumsum(rng.random(n)), 2)),
        (15_000 * np.arange(n, dtype=np.int64) + rng.integers(0, 9, n), rng.normal(size=n)),
    ]
    ts, vs, starts, ends = flatten(series)
    data, ts_lens, val_lens, _ = encode_columns(ts, vs, starts, ends)
    ts_offs, val_offs = layout(ts_lens, val_lens)
    return data, (ts_offs, ts_lens, val_offs, val_lens, ends - starts)


@pytest.mark.parametrize("backend", ["numpy", "native"])
@pytest.mark.parametrize("big", [False, True])  # big: over 256 Ki samples, decoded on threads
def test_decode_pages_into_equals_page_by_page(
    backend: str, big: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "native" and not NATIVE:
        pytest.skip("native kernels not built")
    monkeypatch.setattr(kernels, "BACKEND", backend)
    pages = [_big_page(80_000, s) if big else sample_page() for s in range(4)]
    index = tuple(np.concatenate([p[1][j] for p in pages]).astype(np.int64) for j in range(5))
    starts = np.cumsum([0] + [len(p[1][4]) for p in pages]).astype(np.int64)
    counts = index[4]
    # columns placed in reverse order, with gaps
    places = (np.cumsum(counts[::-1] + 2)[::-1] - counts - 2).astype(np.int64)
    room = int((places + counts).max()) + 3
    want = np.zeros(room, np.int64), np.zeros(room, np.float64)
    for p, (page, _) in enumerate(pages):
        a, b = int(starts[p]), int(starts[p + 1])
        decode_columns(page, *(c[a:b] for c in index), out=want, out_offsets=places[a:b])
    got = np.zeros(room, np.int64), np.zeros(room, np.float64)
    decode_pages_into([p[0] for p in pages], starts, index, got, places)
    assert (got[0] == want[0]).all() and (got[1].view(np.uint64) == want[1].view(np.uint64)).all()
    # damage in the third page's second column: reported as that column of the whole index
    damaged = bytearray(pages[2][0])
    damaged[int(pages[2][1][2][1])] = 0x7F  # an unknown value codec
    data = [p[0] for p in pages]
    data[2] = bytes(damaged)
    with pytest.raises(CorruptDataError) as info:
        decode_pages_into(data, starts, index, got, places)
    assert info.value.column == int(starts[2]) + 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(timestamp_columns(1, 120), st.data()), min_size=1, max_size=4),
    st.integers(-(2**40), 2**40),
    st.integers(1, 120_000),
    st.integers(0, 600_000),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3),
)
def test_sample_pages_into_equals_numpy_and_survives_damage(
    cols: list[tuple[np.ndarray, st.DataObject]],
    first: int,
    step: int,
    lookback: int,
    damage: list[tuple[int, int]],
) -> None:
    """The native instant-selector read gives the numpy reference's outputs on any columns
    (unsorted timestamps included), and damaged pages raise CorruptDataError or read something,
    never crash (the fast paths read const-step and raw columns in place)."""
    series = []
    for ts, data in cols:
        ts = np.sort(ts) if data.draw(st.booleans()) else ts  # unsorted: garbage in, no crash
        series.append((ts, data.draw(float_columns(len(ts), len(ts)))))
    ordered = all((np.diff(t) >= 0).all() for t, _ in series)
    ts, vs, starts, ends_ = flatten(series)
    page, ts_lens, val_lens, _ = encode_columns(ts, vs, starts, ends_)
    ts_offs, val_offs = layout(ts_lens, val_lens)
    index = tuple(
        np.ascontiguousarray(a, np.int64)
        for a in (ts_offs, ts_lens, val_offs, val_lens, ends_ - starts)
    )
    ends = first + step * np.arange(40, dtype=np.int64)
    rows = np.arange(len(series), dtype=np.int64)[::-1].copy()
    one = np.array([0, len(series)], np.int64)
    shape = (len(series), len(ends))

    def run(backend: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        out = np.zeros(shape), np.full(shape, np.iinfo(np.int64).min, np.int64)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(kernels, "BACKEND", backend)
            col.sample_pages_into([data], one, index, rows, ends, lookback, out)
        return out

    if NATIVE and ordered:
        want_v, want_t = run("numpy", page)
        got_v, got_t = run("native", page)
        assert (got_t == want_t).all()
        assert (got_v.view(np.uint64) == want_v.view(np.uint64)).all()
    damaged = bytearray(page)
    for at, byte in damage:
        damaged[at % len(damaged)] = byte
    for backend in ["numpy"] + (["native"] if NATIVE else []):
        with contextlib.suppress(CorruptDataError):
            run(backend, bytes(damaged))
