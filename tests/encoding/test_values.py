"""Round trips and damage handling of the value column codecs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit.encoding import codec_name, decode_values, encode_page, encode_values
from obskit.errors import CorruptDataError
from strategies import STALE_NAN_BITS, decimal_floats, float_columns, full_precision_floats

FORCEABLE = ["raw", "decimal-delta", "decimal-dod", "xor", "float-delta", "float-dod"]


def assert_same_bits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == np.float64
    assert got.shape == want.shape
    assert np.array_equal(got.view(np.uint64), want.view(np.uint64))


@given(float_columns())
def test_auto_codec_round_trips_bit_for_bit(v: np.ndarray) -> None:
    assert_same_bits(decode_values(encode_values(v)), v)


@pytest.mark.parametrize("codec", FORCEABLE)
@given(v=float_columns(max_size=80))
def test_forced_codec_round_trips(codec: str, v: np.ndarray) -> None:
    buf = encode_values(v, codec=codec)
    if codec.endswith("-dod") and v.size < 3:
        assert codec_name(buf) == codec.replace("-dod", "-delta")
    else:
        assert codec_name(buf) == codec
    assert_same_bits(decode_values(buf), v)


@given(st.floats(allow_nan=True), st.integers(1, 50))
def test_const(x: float, n: int) -> None:
    v = np.full(n, x)
    buf = encode_values(v)
    assert codec_name(buf) == "const"
    assert len(buf) <= 10
    assert_same_bits(decode_values(buf), v)


def test_const_refuses_varying_values() -> None:
    with pytest.raises(ValueError, match="const"):
        encode_values(np.array([1.0, 2.0]), codec="const")


@given(decimal_floats(min_size=20))
def test_decimal_columns_pick_a_decimal_codec(v: np.ndarray) -> None:
    assert codec_name(encode_values(v)) in ("const", "decimal-delta", "decimal-dod")


@given(full_precision_floats(min_size=20))
def test_full_precision_columns_round_trip(v: np.ndarray) -> None:
    buf = encode_values(v)
    assert len(buf) <= 9 * v.size + 32  # candidates are ranked by their zstd size, not raw size
    assert_same_bits(decode_values(buf), v)


def test_staleness_marker_in_a_counter_is_an_exception_not_a_float_column() -> None:
    v = np.arange(1000, dtype=np.float64) * 0.25
    v.view(np.uint64)[500] = STALE_NAN_BITS
    buf = encode_values(v)
    assert codec_name(buf).startswith("decimal")
    assert len(encode_page([buf])) < 100  # residuals are 0 but around the exception

    got = decode_values(buf)
    assert int(got.view(np.uint64)[500]) == STALE_NAN_BITS
    assert_same_bits(got, v)


def test_negative_zero_and_specials_survive() -> None:
    v = np.array([-0.0, 0.0, np.inf, -np.inf, 5e-324, np.nan, 1.5, -0.0])
    for codec in [None, *FORCEABLE]:
        assert_same_bits(decode_values(encode_values(v, codec=codec)), v)


def test_one_sample() -> None:
    for codec in [None, *FORCEABLE]:
        v = np.array([3.25])
        assert_same_bits(decode_values(encode_values(v, codec=codec)), v)


def test_empty_column() -> None:
    assert decode_values(encode_values(np.zeros(0))).size == 0


def test_gcd_makes_sector_counters_small() -> None:
    rng = np.random.default_rng(1)
    v = (10**9 + 512 * np.cumsum(rng.integers(0, 4, 5000))).astype(np.float64)
    buf = encode_values(v)
    assert len(buf) < 5000 * 1.1  # one byte plane: residuals are 0..3 after dividing by 512
    assert_same_bits(decode_values(buf), v)


@pytest.mark.slow
def test_million_samples() -> None:
    rng = np.random.default_rng(7)
    for v in (np.round(rng.normal(0, 1, 1_000_000).cumsum(), 2), rng.normal(0, 1, 1_000_000)):
        assert_same_bits(decode_values(encode_values(v)), v)


@given(float_columns(min_size=2, max_size=60), st.data())
@settings(max_examples=200)
def test_truncated_column_raises(v: np.ndarray, data: st.DataObject) -> None:
    codec = data.draw(st.sampled_from([None, *FORCEABLE]))
    buf = encode_values(v, codec=codec)
    cut = data.draw(st.integers(0, len(buf) - 1))
    with pytest.raises(CorruptDataError):
        decode_values(buf[:cut])
    with pytest.raises(CorruptDataError):
        decode_values(buf + b"\x00")


@given(float_columns(min_size=1, max_size=60), st.data())
@settings(max_examples=300)
def test_garbled_header_raises_or_keeps_length(v: np.ndarray, data: st.DataObject) -> None:
    buf = bytearray(encode_values(v))
    i = data.draw(st.integers(0, min(len(buf), 24) - 1))
    buf[i] ^= data.draw(st.integers(1, 255))
    try:
        got = decode_values(bytes(buf))
    except CorruptDataError:
        return
    # Damage the header cannot detect (it is in the sample bytes) keeps the announced length;
    # the page CRC is what catches it.
    assert got.dtype == np.float64
    assert got.ndim == 1


def test_unknown_codec_raises() -> None:
    with pytest.raises(CorruptDataError, match="unknown"):
        decode_values(b"\x7f\x01")
    with pytest.raises(CorruptDataError):
        decode_values(b"")
