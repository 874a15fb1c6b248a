"""Prometheus' JSON for query values: Go's float format (golden strings taken from Prometheus
2.42's own answers), timestamps, and the one-pass column encoders against the per-value one."""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from obskit.api.promjson import (
    encode_data,
    encode_points,
    format_float,
    format_timestamp,
    format_values,
    query_body,
    success_body,
)
from obskit.model.series import Series
from obskit.promql import Matrix, Scalar, Vector

# (value, what Prometheus writes in a vector or matrix: MarshalFloat)
GOLDEN = [
    (2.0, "2"),
    (-2.0, "-2"),
    (0.0, "0"),
    (-0.0, "-0"),
    (1 / 3, "0.3333333333333333"),
    (0.1, "0.1"),
    (1e-6, "0.000001"),
    (1.5e-6, "0.0000015"),
    (1e-7, "1e-07"),
    (-1e-7, "-1e-07"),
    (123456789e-20, "1.23456789e-12"),
    (1e20, "100000000000000000000"),
    (9.999999999999999e20, "999999999999999900000"),
    (1e21, "1e+21"),
    (1e100, "1e+100"),
    (2.0**63, "9223372036854776000"),
    (123456789.0, "123456789"),
    (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (math.inf, "+Inf"),
    (-math.inf, "-Inf"),
    (math.nan, "NaN"),
]


@pytest.mark.parametrize(("value", "text"), GOLDEN)
def test_format_float_as_prometheus(value: float, text: str) -> None:
    assert format_float(value) == text
    assert format_values(np.array([value])) == [text.encode()]
    assert encode_points(np.array([1000]), np.array([value])) == f'[[1,"{text}"]]'.encode()


def test_scalars_never_use_the_exponent_form() -> None:
    # Prometheus' Scalar.MarshalJSON uses strconv 'f' (seen: 1e21 and 1e-7 at time=4)
    assert format_float(1e21, exponent=False) == "1000000000000000000000"
    assert format_float(1e-7, exponent=False) == "0.0000001"
    assert encode_data(Scalar(4000, 1e-7)) == b'{"resultType":"scalar","result":[4,"0.0000001"]}'


@pytest.mark.parametrize(
    ("t_ms", "text"),
    [
        (0, "0"),
        (4000, "4"),
        (4500, "4.5"),
        (1, "0.001"),
        (-1500, "-1.5"),
        (1700000000123, "1700000000.123"),
    ],
)
def test_format_timestamp(t_ms: int, text: str) -> None:
    assert format_timestamp(t_ms) == text
    assert float(format_timestamp(t_ms, pad=True)) == t_ms / 1000
    assert json.loads(encode_points(np.array([t_ms]), np.array([1.0])))[0][0] == t_ms / 1000


finite_or_not = st.floats(allow_nan=True, allow_infinity=True)
interesting = st.one_of(
    finite_or_not,
    st.integers(-(2**60), 2**60).map(float),
    st.sampled_from([v for v, _ in GOLDEN]),
    st.floats(min_value=1e-8, max_value=1e-4),
    st.floats(min_value=1e14, max_value=1e22),
)


@given(st.lists(interesting, max_size=50))
def test_column_encoders_match_the_per_value_formatter(values: list[float]) -> None:
    column = np.array(values, dtype=np.float64)
    assert format_values(column) == [format_float(v).encode() for v in values]
    ts = np.arange(len(values), dtype=np.int64) * 1500 - 3000
    want = (
        "["
        + ",".join(
            f'[{format_timestamp(int(t), pad=True)},"{format_float(v)}"]'
            for t, v in zip(ts, values, strict=True)
        )
        + "]"
    )
    assert encode_points(ts, column) == want.encode()


@given(interesting)
def test_format_float_round_trips(value: float) -> None:
    text = format_float(value)
    back = float(text.replace("Inf", "inf"))
    assert back == value or (math.isnan(back) and math.isnan(value))
    assert math.copysign(1, back) == math.copysign(1, value) or math.isnan(value)


def test_vector_timestamps_are_padded_as_prometheus() -> None:
    # Prometheus 2.42: vector(1e-7) at time=4.5 is [4.500,"1e-07"]
    assert encode_data(Vector(4500, [()], np.array([1e-7]))) == (
        b'{"resultType":"vector","result":[{"metric":{},"value":[4.500,"1e-07"]}]}'
    )
    assert encode_data(Vector(-1, [()], np.array([1.0]))).endswith(b'[-0.001,"1"]}]}')


def test_vector_and_matrix_json() -> None:
    vector = Vector(1500, [(("a", "1"),), (("__name__", "up"), ("b", "<&>"))], np.array([1.0, 2.5]))
    assert json.loads(encode_data(vector)) == {
        "resultType": "vector",
        "result": [
            {"metric": {"a": "1"}, "value": [1.5, "1"]},
            {"metric": {"__name__": "up", "b": "<&>"}, "value": [1.5, "2.5"]},
        ],
    }
    matrix = Matrix(
        [Series((("a", "1"),), np.array([0, 15000], np.int64), np.array([np.nan, 7.0]))]
    )
    assert encode_data(matrix) == (
        b'{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[[0,"NaN"],[15,"7"]]}]}'
    )
    ts = np.array([-1500, 1, 20, 300, 4000, 4050], np.int64)
    assert encode_points(ts, np.ones(6)) == (
        b'[[-1.500,"1"],[0.001,"1"],[0.020,"1"],[0.300,"1"],[4,"1"],[4.050,"1"]]'
    )
    assert encode_data(Matrix([])) == b'{"resultType":"matrix","result":[]}'
    # non-contiguous columns (views the engine may hand over) are fine
    values = np.arange(10, dtype=np.float64)[::2]
    assert format_values(values) == [b"0", b"2", b"4", b"6", b"8"]


def test_envelope_keys_and_order() -> None:
    assert success_body(b"[]") == b'{"status":"success","data":[]}'
    assert success_body(b"{}", ["w"], ["i"]) == (
        b'{"status":"success","data":{},"warnings":["w"],"infos":["i"]}'
    )


@given(st.lists(st.integers(-(2**47) + 1, 2**47 - 1), min_size=1, max_size=30))
def test_point_timestamps_as_prometheus(timestamps_ms: list[int]) -> None:
    got = encode_points(np.array(timestamps_ms, np.int64), np.ones(len(timestamps_ms)))
    want = ",".join(f'[{format_timestamp(t, pad=True)},"1"]' for t in timestamps_ms)
    assert got == f"[{want}]".encode()


@pytest.mark.parametrize("native", [True, False])
@given(
    values=st.lists(interesting, min_size=1, max_size=40),
    t0=st.integers(-(10**12), 10**13),
    step=st.sampled_from([1, 7, 10, 15, 100, 500, 1000, 1500, 60_000]),
)
def test_encode_points_native_and_replace_paths_agree(
    native: bool, values: list[float], t0: int, step: int
) -> None:
    """The C layout (kernels.json_points) and the bytes.replace path write the same bytes,
    whatever the timestamps' decimals (none, one, two, three; negative)."""
    from obskit import kernels

    if native and kernels.json_points is None:
        pytest.skip("obskit._native not built")
    column = np.array(values, dtype=np.float64)
    ts = t0 + np.arange(len(values), dtype=np.int64) * step
    want = (
        "["
        + ",".join(
            f'[{format_timestamp(int(t), pad=True)},"{format_float(v)}"]'
            for t, v in zip(ts.tolist(), values, strict=True)
        )
        + "]"
    ).encode()
    saved = kernels.json_points
    try:
        if not native:
            kernels.json_points = None
        assert encode_points(ts, column) == want
        assert encode_points(ts[::-1].copy()[::-1], column) == want  # non-contiguous views
    finally:
        kernels.json_points = saved


def test_json_points_refuses_mismatched_tokens() -> None:
    from obskit import kernels

    if kernels.json_points is None:
        pytest.skip("obskit._native not built")
    ts = np.array([1000, 2000], np.int64)
    assert kernels.json_points(ts, b"[1.5,2.0]") == b'[[1,"1.5"],[2,"2"]]'
    for bad in (b"[1.0]", b"[1.0,2.0,3.0]", b"[1.0,,2.0]", b'["a",1.0]', b"1.0,2.0", b""):
        with pytest.raises(ValueError):
            kernels.json_points(ts, bad)


labels_st = st.lists(
    st.tuples(st.sampled_from(["a", "job", "le", "__name__"]), st.text(max_size=4)),
    max_size=3,
    unique_by=lambda p: p[0],
).map(lambda pairs: tuple(sorted(pairs)))


@st.composite
def matrices(draw: st.DrawFn) -> Matrix:
    out = []
    for lab in draw(st.lists(labels_st, max_size=5)):
        values = draw(st.lists(interesting, max_size=12))
        ts = (
            np.cumsum(
                draw(st.lists(st.integers(1, 90_000), min_size=len(values), max_size=len(values))),
                dtype=np.int64,
            )
            - 50_000
        )
        out.append(Series(lab, np.asarray(ts, np.int64).reshape(-1), np.array(values, np.float64)))
    return Matrix(out)


def _series_by_series(matrix: Matrix) -> bytes:
    """The reference: every series encoded on its own (encode_points), joined."""
    items = [
        b'{"metric":'
        + orjson.dumps(dict(s.labels))
        + b',"values":'
        + encode_points(s.timestamps_ms, s.values)
        + b"}"
        for s in matrix.series
    ]
    return b'{"resultType":"matrix","result":[' + b",".join(items) + b"]}"


@given(matrices(), st.lists(st.text(max_size=5), max_size=2))
def test_whole_matrix_answer_matches_series_by_series(matrix: Matrix, warnings: list[str]) -> None:
    data = encode_data(matrix)
    assert data == _series_by_series(matrix)
    assert query_body(matrix, warnings, ["i"]) == success_body(data, warnings, ["i"])
    assert json.loads(data)["resultType"] == "matrix"


def test_query_body_of_other_values() -> None:
    vector = Vector(1500, [(("a", "1"),)], np.array([2.0]))
    assert query_body(vector, ["w"]) == success_body(encode_data(vector), ["w"])
    assert (
        query_body(Matrix([])) == b'{"status":"success","data":{"resultType":"matrix","result":[]}}'
    )
