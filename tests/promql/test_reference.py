"""The reference itself: values reach it bit for bit, and it answers a hand-checked query."""

from __future__ import annotations

import math
import struct

import pytest

from .reference import (
    BUILD_TIMEOUT_S,
    ReferenceUnavailable,
    RefQuery,
    RefSeries,
    encode_value,
    evaluate,
)


def _bits(v: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", v))[0])


def test_encode_value_keeps_special_floats() -> None:
    stale = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
    assert encode_value(stale) == "stale"
    payload_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8DEADBEEF0001))[0]
    assert encode_value(payload_nan) == "0x7ff8deadbeef0001"
    for v in (0.1, -0.0, 5e-324, 1.7976931348623157e308, math.inf, -math.inf):
        assert _bits(float(encode_value(v))) == _bits(v)


@pytest.mark.timeout(BUILD_TIMEOUT_S + 300)  # may build the reference first
def test_reference_answers_a_known_query() -> None:
    stale = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
    series = [
        RefSeries({"__name__": "c", "job": "a"}, [0, 60_000, 120_000], [0.0, 60.0, 5.0]),
        RefSeries({"__name__": "g", "job": "a"}, [0, 60_000], [1.0, stale]),
    ]
    queries = [
        # window (0, 120 s] is left-open: samples 60 and 5 (a reset), an increase of 5 over 60 s
        # extrapolated to the window's start: 10
        RefQuery("increase(c[2m])", time_ms=120_000),
        RefQuery("g", time_ms=30_000),
        RefQuery("g", time_ms=60_000),  # stale
        RefQuery("c", start_ms=0, end_ms=120_000, step_ms=60_000),
        RefQuery("sum(", time_ms=0),
    ]
    try:
        results = evaluate(series, queries)
    except ReferenceUnavailable as exc:
        pytest.skip(f"no reference Prometheus engine: {exc}")
    assert results[0]["result"] == [{"metric": {"job": "a"}, "t": 120_000, "v": "10"}]
    assert results[1]["result"][0]["v"] == "1"
    assert results[2] == {"resultType": "vector", "result": []}
    assert results[3]["result"][0]["v"] == ["0", "60", "5"]
    assert results[4]["errorType"] == "bad_data"
