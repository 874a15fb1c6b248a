"""Series notation and value-sequence expansion of the ``.test`` format."""

from __future__ import annotations

import math

import pytest

from conformance.seriesdesc import (
    STALE_NAN,
    HistogramLiteral,
    SyntaxProblem,
    expand_values,
    format_series_labels,
    go_unquote,
    is_stale_nan,
    parse_scalar,
    parse_series_line,
    parse_series_notation,
    parse_start_timestamps,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", [7.0]),
        ("-2.5 1e3 .5", [-2.5, 1000.0, 0.5]),
        ("1x4", [1.0] * 5),  # xN: N further samples
        ("0+10x3", [0.0, 10.0, 20.0, 30.0]),
        ("1-2x4", [1.0, -1.0, -3.0, -5.0, -7.0]),
        ("-1+1x2", [-1.0, 0.0, 1.0]),
        ("1 -2x1", [1.0, -2.0, -2.0]),  # a space makes two items
        ("_", [None]),
        ("_x3", [None, None, None]),  # exactly N empty slots
        ("1 _x2 2", [1.0, None, None, 2.0]),
        ("0x3", [0.0] * 4),  # not hexadecimal inside a sequence: 0 then x3
        ("0x59 60", [0.0] * 60 + [60.0]),
        ("1m 1h30m", [60.0, 5400.0]),  # durations count in seconds
        ("010", [8.0]),  # Go's base-0 integer parse: octal
        ("1_000", [1000.0]),
    ],
)
def test_expand_values(text: str, expected: list[float | None]) -> None:
    assert expand_values(text) == expected


def test_expand_special_floats() -> None:
    inf, neg, nan, stale = expand_values("Inf -Inf NaN stale")
    assert inf == math.inf and neg == -math.inf
    assert isinstance(nan, float) and math.isnan(nan) and not is_stale_nan(nan)
    assert isinstance(stale, float) and is_stale_nan(stale)


def test_increment_is_repeated_float_addition() -> None:
    # (1 + 0.1) + 0.1 is 1.2000000000000002, while 1 + 2 * 0.1 is 1.2
    assert expand_values("1+0.1x2")[2] == 1.2000000000000002
    many = expand_values("0+0.1x30")
    total = 0.0
    for v in many:
        assert v == total
        total += 0.1
    assert many[6] == 0.6 and 6 * 0.1 != 0.6


def test_histogram_literals_are_recognised() -> None:
    values = expand_values("1 {{schema:1 sum:3 count:22 buckets:[5 10 7]}} {{sum:1}}x2 _")
    assert values[0] == 1.0 and values[-1] is None
    assert isinstance(values[1], HistogramLiteral)
    assert values[1].text == "{{schema:1 sum:3 count:22 buckets:[5 10 7]}}"
    assert len(values) == 6
    stepped = expand_values("{{schema:0 sum:1}}+{{schema:0 sum:2}}x3")
    assert len(stepped) == 4 and all(isinstance(v, HistogramLiteral) for v in stepped)


@pytest.mark.parametrize("text", ["1+2", "abc", "1x", "1+x3", "1 2x", "{{sum:1", "1,2"])
def test_bad_values_are_rejected(text: str) -> None:
    with pytest.raises(SyntaxProblem):
        expand_values(text)


def test_stale_marker_bits() -> None:
    assert is_stale_nan(STALE_NAN)
    assert not is_stale_nan(math.nan)
    assert not is_stale_nan(0.0)


def test_series_notation() -> None:
    assert parse_series_line('m{b="2", a="1"} 1') == (
        (("__name__", "m"), ("a", "1"), ("b", "2")),
        [1.0],
    )
    labels, _ = parse_series_notation("{__name__=\"m\", job='x', path=`a\\b`}")
    assert labels == (("__name__", "m"), ("job", "x"), ("path", "a\\b"))
    labels, _ = parse_series_notation('{"my.metric", "a.b"="c", trailing="comma",}')
    assert labels == (("__name__", "my.metric"), ("a.b", "c"), ("trailing", "comma"))
    labels, _ = parse_series_notation('{job="x", empty=""}')
    assert labels == (("job", "x"),)  # empty value = no label
    assert parse_series_notation("{}")[0] == ()
    assert parse_series_notation("ns:metric_total")[0] == (("__name__", "ns:metric_total"),)


@pytest.mark.parametrize("text", ['m{a="1"', "m{a=1} 1", 'm{a="1" a="2"} 1', "{a} 1"])
def test_bad_series_are_rejected(text: str) -> None:
    with pytest.raises(SyntaxProblem):
        parse_series_line(text)


def test_go_unquote() -> None:
    assert go_unquote('"a\\"b\\n\\t\\u00e9\\x41\\101"') == 'a"b\n\té' + "AA"
    assert go_unquote("'it\\'s'") == "it's"
    assert go_unquote("`raw\\n`") == "raw\\n"
    with pytest.raises(SyntaxProblem):
        go_unquote('"bad \\q"')


def test_format_series_labels_round_trips() -> None:
    for text in ['m{a="1", b="x\\"y"}', '{"my.metric", "a.b"="c"}', '{job="x"}', "up"]:
        labels, _ = parse_series_notation(text)
        assert parse_series_notation(format_series_labels(labels))[0] == labels


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("12340000", 12340000.0),
        ("0x3d", 61.0),  # hexadecimal is allowed on a scalar line
        ("-0.0000002", -2e-7),
        ("1e3", 1000.0),
        ("-Inf", -math.inf),
        ("+Inf", math.inf),
    ],
)
def test_parse_scalar(line: str, value: float) -> None:
    assert parse_scalar(line) == value


def test_parse_scalar_rejects_series() -> None:
    assert parse_scalar("NaN") is not None and math.isnan(parse_scalar("NaN") or 0.0)
    for line in ["metric", "{} 1", "1 2", "1m", "x1"]:
        assert parse_scalar(line) is None


def test_start_timestamp_offsets() -> None:
    assert parse_start_timestamps("_ _ -30s-1mx2") == [None, None, -30_000, -90_000, -150_000]
    assert parse_start_timestamps("-1mx2 _x2 1ms 0") == [-60_000] * 3 + [None, None, 1, 0]
    with pytest.raises(SyntaxProblem):
        parse_start_timestamps("-1m+x2")
