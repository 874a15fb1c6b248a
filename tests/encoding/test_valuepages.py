"""Version 2 pages: bit-exact round trips, identical bytes and values on both backends, damage."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import cramjam
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obskit import kernels
from obskit.encoding import decode_page, decode_values, encode_value_page, raw_column_lengths
from obskit.encoding.residuals import (
    KIND_DECIMAL,
    X_DIFF,
    X_FSCALED,
    X_LIN2,
    X_NEGSUM,
    X_NONE,
    X_SCALED,
    _fixed_scale,
    analyse_columns,
)
from obskit.errors import CorruptDataError
from strategies import STALE_NAN_BITS, float_columns

NATIVE = kernels.BACKEND == "native"
F64 = np.ndarray


@contextmanager
def backend(name: str) -> Iterator[None]:
    old = kernels.BACKEND
    kernels.BACKEND = name
    try:
        yield
    finally:
        kernels.BACKEND = old


def read_columns(decoded: bytes, ts_len: int, counts: list[int]) -> list[F64]:
    out = []
    at = ts_len
    for length in raw_column_lengths(np.array(counts)).tolist():
        out.append(decode_values(decoded[at : at + length]))
        at += length
    assert at == len(decoded)
    return out


def round_trip(cols: list[F64], ts: bytes = b"ts!") -> bytes:
    page, kinds = encode_value_page(ts, cols)
    assert len(kinds) == len(cols)
    decoded = decode_page(page)
    assert decoded[: len(ts)] == ts
    got = read_columns(decoded, len(ts), [c.size for c in cols])
    for want, have in zip(cols, got, strict=True):
        assert have.view(np.uint64).tobytes() == want.view(np.uint64).tobytes()
    return page


@st.composite
def related_pages(draw: st.DrawFn) -> list[F64]:
    """Columns of one block: mostly one count, many derived from earlier ones (what the cross
    predictors look for), mixed with arbitrary columns."""
    n = draw(st.integers(1, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cols: list[F64] = []
    with np.errstate(all="ignore"):  # derived from columns holding inf/NaN: fine, just odd
        for _ in range(draw(st.integers(1, 10))):
            _add_column(draw, rng, n, cols)
    return [np.ascontiguousarray(c, dtype=np.float64) for c in cols]


def _add_column(draw: st.DrawFn, rng: np.random.Generator, n: int, cols: list[F64]) -> None:
    if True:
        kind = draw(st.sampled_from(["any", "counter", "scaled", "sum", "float", "other_n"]))
        if kind == "any" or not cols:
            cols.append(draw(float_columns(min_size=n, max_size=n)))
        elif kind == "counter":
            step = draw(st.sampled_from([1, 7, 4096, 10**6]))
            m = rng.integers(0, step + 1, n).cumsum() + int(rng.integers(0, 10**9))
            cols.append(m / 10.0 ** draw(st.integers(0, 3)))
        elif kind == "scaled":
            a = draw(st.sampled_from([0.5, 3.0, 1 / 1500, 1e-9, -2.0, 7e8]))
            noise = rng.integers(-2, 3, cols[-1].size)
            cols.append(np.round(cols[-1] * a) + noise)
        elif kind == "sum" and len(cols) >= 2 and cols[-1].size == cols[-2].size:
            cols.append(cols[-1] + cols[-2])
        elif kind == "float":
            base = cols[-1] if np.all(np.isfinite(cols[-1])) else rng.normal(0, 1, cols[-1].size)
            cols.append(base * 1.25 + rng.normal(0, 1e-3, base.size))
        else:
            cols.append(draw(float_columns(min_size=1, max_size=50)))
        if draw(st.integers(0, 9)) == 0:  # a staleness marker somewhere
            c = cols[-1].copy()
            c.view(np.uint64)[draw(st.integers(0, c.size - 1))] = STALE_NAN_BITS
            cols[-1] = c


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(related_pages())
def test_round_trip_is_bit_exact(cols: list[F64]) -> None:
    round_trip(cols)


@pytest.mark.skipif(not NATIVE, reason="obskit._native is not built: nothing to compare")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(related_pages())
def test_backends_write_and_read_the_same(cols: list[F64]) -> None:
    with backend("numpy"):
        want, kinds_numpy = encode_value_page(b"", cols)
        decoded_numpy = decode_page(want)
    with backend("native"):
        got, kinds_native = encode_value_page(b"", cols)
        decoded_native = decode_page(got)
    assert got == want
    assert kinds_native.tobytes() == kinds_numpy.tobytes()
    assert decoded_native == decoded_numpy


@pytest.mark.parametrize(
    "cols",
    [
        [np.array([0.1])],  # one sample
        [np.array([1.5, 2.5])],
        [np.full(1000, 3.25), np.full(1000, -0.0)],  # constants
        [np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308])],
        [np.arange(70_000, dtype=np.float64) * 0.001],  # longer than 2**16 samples
        [np.random.default_rng(1).normal(40, 1, 5000), np.random.default_rng(2).random(3)],
        [np.frombuffer(np.random.default_rng(3).bytes(8 * 500), np.float64).copy()],
    ],
    ids=["one", "two", "const", "specials", "huge", "mixed-counts", "random-bits"],
)
def test_edge_cases_round_trip(cols: list[F64]) -> None:
    round_trip(cols)
    if NATIVE:
        with backend("numpy"):
            want = round_trip(cols)
        assert round_trip(cols) == want


def test_staleness_markers_inside_a_decimal_column_keep_their_payload() -> None:
    v = np.arange(500, dtype=np.float64) * 0.25
    v.view(np.uint64)[[3, 250, 499]] = STALE_NAN_BITS
    params, _ = analyse_columns([v])
    assert params.kind[0] == KIND_DECIMAL and params.n_exc[0] == 3
    round_trip([v])


def test_cross_series_predictors_are_used_and_pay() -> None:
    rng = np.random.default_rng(7)
    n = 1440
    base = rng.integers(0, 10**6, n).cumsum().astype(np.float64)
    other = rng.integers(0, 10**5, n).cumsum().astype(np.float64)
    packets = np.floor(base / 1500) + rng.integers(0, 2, n)
    temp = 40 + rng.normal(0, 0.3, n).cumsum()
    cols = [base, base + 5, packets, other, -(base + other) + 10**9, temp, temp * 1.01 + 1e-4]
    params, _ = analyse_columns(cols)
    chosen = set(params.xpred.tolist())
    assert {X_DIFF, X_SCALED, X_FSCALED} <= chosen | {X_LIN2, X_NEGSUM}
    assert chosen - {X_NONE}
    page = round_trip(cols)
    alone = sum(len(encode_value_page(b"", [c])[0]) for c in cols)
    assert len(page) < alone


@given(
    st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=50),
    st.integers(-(2**31) + 1, 2**31 - 1),
    st.integers(0, 32),
)
def test_fixed_point_scaling_is_exact(d: list[int], m: int, s: int) -> None:
    got = _fixed_scale(np.array(d, dtype=np.int64), m, s)
    for x, y in zip(d, got.tolist(), strict=True):
        want = (m * x + ((1 << (s - 1)) if s else 0)) >> s
        if -(2**63) <= want < 2**63:
            assert y == want


def reseal(page: bytes, body: bytes) -> bytes:
    """A page with another body and a crc that matches it (damage the crc cannot see)."""
    fields = page[:6]
    return fields + struct.pack("<I", zlib.crc32(body, zlib.crc32(fields))) + body


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_damage_is_corrupt_data_on_both_backends(data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    cols = [rng.integers(0, 50, 300).cumsum() * 0.5, 40 + rng.normal(0, 1, 300)]
    page, _ = encode_value_page(b"\x11\x00", cols)
    body = bytearray(page[10:])
    how = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(body) - 1))
            body[i] ^= 1 << data.draw(st.integers(0, 7))
    elif how == "truncate":
        del body[data.draw(st.integers(0, len(body) - 1)) :]
    else:
        body += bytes(data.draw(st.integers(1, 9)))
    damaged = reseal(page, bytes(body))
    results = []
    for name in ("numpy", "native") if NATIVE else ("numpy",):
        with backend(name):
            try:
                results.append(decode_page(damaged))
            except CorruptDataError:
                results.append(None)
    # Damage is either caught (CorruptDataError) or decodes to something; never a crash, and
    # both backends agree on which.
    assert len({r is None for r in results}) == 1
    if results[0] is not None:
        assert len(set(results)) == 1


def test_a_crc_mismatch_is_corrupt_data() -> None:
    page, _ = encode_value_page(b"", [np.arange(10.0)])
    bad = bytearray(page)
    bad[-1] ^= 1
    with pytest.raises(CorruptDataError, match="crc"):
        decode_page(bytes(bad))


def _with_meta(page: bytes, edit: Callable[[bytearray], None]) -> bytes:
    """``page`` with its meta blob edited by ``edit`` (then re-compressed and re-sealed)."""
    body = page[10:]
    zlen = struct.unpack_from("<I", body)[0]
    meta = bytearray(cramjam.zstd.decompress(body[4 : 4 + zlen]))
    edit(meta)
    packed = bytes(cramjam.zstd.compress(bytes(meta), 3))
    return reseal(page, struct.pack("<I", len(packed)) + packed + body[4 + zlen :])


def _outcomes(page: bytes) -> list[bytes | None]:
    results: list[bytes | None] = []
    for name in ("numpy", "native") if NATIVE else ("numpy",):
        with backend(name):
            try:
                results.append(decode_page(page))
            except CorruptDataError:
                results.append(None)
    return results


def _mixed_page() -> bytes:
    rng = np.random.default_rng(5)
    n = 200
    base = rng.integers(0, 10**6, n).cumsum().astype(np.float64)
    temp = 40 + rng.normal(0, 0.3, n).cumsum()
    cols = [base, base + 5, np.full(n, 2.0), np.floor(base / 1500), temp, temp * 1.01, base]
    return encode_value_page(b"\x11\x00", cols)[0]


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_damaged_meta_is_corrupt_data_on_both_backends(data: st.DataObject) -> None:
    page = _mixed_page()

    def flip(meta: bytearray) -> None:
        for _ in range(data.draw(st.integers(1, 3))):
            i = data.draw(st.integers(0, len(meta) - 1))
            meta[i] ^= 1 << data.draw(st.integers(0, 7))

    results = _outcomes(_with_meta(page, flip))
    assert len({r is None for r in results}) == 1
    if results[0] is not None:
        assert len(set(results)) == 1


META_HEAD = 36


@pytest.mark.parametrize("field", [2, 3, 4])  # xpred, ref1, ref2 (u8 fields, one per segment)
@pytest.mark.parametrize("value", [1, 2, 3, 4, 5, 9])
def test_every_reference_field_value_is_decoded_or_rejected_alike(field: int, value: int) -> None:
    """Cross predictors pointed at const, float, shorter or missing segments never crash and
    both backends agree (the native decoder used to read a const segment's missing lane)."""
    page = _mixed_page()
    n_cols, _, k = struct.unpack_from("<3I", decode_meta(page))
    ts_len = struct.unpack_from("<I", decode_meta(page), 24)[0]
    at = META_HEAD + ts_len + 4 * n_cols + field * k
    for seg in range(k):

        def put(meta: bytearray, pos: int = at + seg) -> None:
            meta[pos] = value

        results = _outcomes(_with_meta(page, put))
        assert len({r is None for r in results}) == 1, seg
        if results[0] is not None:
            assert len(set(results)) == 1


def decode_meta(page: bytes) -> bytes:
    body = page[10:]
    zlen = struct.unpack_from("<I", body)[0]
    return bytes(cramjam.zstd.decompress(body[4 : 4 + zlen]))


@pytest.mark.skipif(not NATIVE, reason="obskit._native is not built: nothing to compare")
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(related_pages())
def test_portable_build_of_the_native_decoder_agrees(cols: list[F64]) -> None:
    """The hot loop is compiled twice (with and without BMI2/LZCNT); both decode alike."""
    page, _ = encode_value_page(b"ts", cols)
    body = page[10:]
    zlen = struct.unpack_from("<I", body)[0]
    meta = decode_meta(page)
    raw_len = struct.unpack_from("<I", page, 2)[0]
    fast = kernels.decode_value_page(meta, body, 4 + zlen, raw_len)
    portable = kernels.decode_value_page(meta, body, 4 + zlen, raw_len, portable=True)
    assert fast == portable
    assert fast[0] == 0 and fast[1] == decode_page(page)
