"""Round trips and damage handling of the timestamp column codecs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit.encoding import codec_name, decode_timestamps, encode_timestamps
from obskit.errors import CorruptDataError
from strategies import timestamp_columns

FORCEABLE = ["raw", "delta", "dod"]


@given(timestamp_columns())
def test_auto_codec_round_trips(ts: np.ndarray) -> None:
    got = decode_timestamps(encode_timestamps(ts))
    assert got.dtype == np.int64
    assert np.array_equal(got, ts)


@pytest.mark.parametrize("codec", FORCEABLE)
@given(ts=timestamp_columns(max_size=80))
def test_forced_codec_round_trips(codec: str, ts: np.ndarray) -> None:
    buf = encode_timestamps(ts, codec=codec)
    assert codec_name(buf) == (codec if codec != "dod" or ts.size >= 3 else "delta")
    assert np.array_equal(decode_timestamps(buf), ts)


def test_regular_scrapes_cost_a_few_bytes() -> None:
    ts = 1_700_000_000_000 + 15_000 * np.arange(5760, dtype=np.int64)
    buf = encode_timestamps(ts)
    assert codec_name(buf) == "const-step"
    assert len(buf) < 16
    assert np.array_equal(decode_timestamps(buf), ts)


def test_jittered_scrapes_use_about_one_byte() -> None:
    rng = np.random.default_rng(3)
    ts = 1_700_000_000_000 + 15_000 * np.arange(4000, dtype=np.int64) + rng.integers(-50, 51, 4000)
    buf = encode_timestamps(ts)
    assert codec_name(buf) in ("delta", "dod")
    assert len(buf) < 4000 * 1.05
    assert np.array_equal(decode_timestamps(buf), ts)


def test_extremes_duplicates_and_one_sample() -> None:
    cases = [
        np.array([0], dtype=np.int64),
        np.array([-(2**63), 2**63 - 1, -(2**63), 0], dtype=np.int64),
        np.array([5, 5, 5, 5, 6, 6], dtype=np.int64),
        np.array([10, 9, 8, -100], dtype=np.int64),
        np.array([2**63 - 1, 2**63 - 1], dtype=np.int64),
    ]
    for ts in cases:
        for codec in [None, *FORCEABLE]:
            assert np.array_equal(decode_timestamps(encode_timestamps(ts, codec=codec)), ts)


def test_const_step_refuses_irregular() -> None:
    with pytest.raises(ValueError, match="const-step"):
        encode_timestamps(np.array([1, 2, 4], dtype=np.int64), codec="const-step")


@pytest.mark.slow
def test_million_samples() -> None:
    rng = np.random.default_rng(11)
    ts = 1_700_000_000_000 + np.cumsum(rng.integers(14_000, 16_000, 1_000_000))
    assert np.array_equal(decode_timestamps(encode_timestamps(ts)), ts)


@given(timestamp_columns(min_size=1, max_size=60), st.data())
@settings(max_examples=200)
def test_truncated_or_padded_column_raises(ts: np.ndarray, data: st.DataObject) -> None:
    codec = data.draw(st.sampled_from([None, *FORCEABLE]))
    buf = encode_timestamps(ts, codec=codec)
    cut = data.draw(st.integers(0, len(buf) - 1))
    with pytest.raises(CorruptDataError):
        decode_timestamps(buf[:cut])
    with pytest.raises(CorruptDataError):
        decode_timestamps(buf + b"\x01")


@given(timestamp_columns(min_size=1, max_size=60), st.data())
@settings(max_examples=300)
def test_garbled_header_raises_or_keeps_shape(ts: np.ndarray, data: st.DataObject) -> None:
    buf = bytearray(encode_timestamps(ts))
    i = data.draw(st.integers(0, min(len(buf), 24) - 1))
    buf[i] ^= data.draw(st.integers(1, 255))
    try:
        got = decode_timestamps(bytes(buf))
    except CorruptDataError:
        return
    assert got.dtype == np.int64
    assert got.ndim == 1
