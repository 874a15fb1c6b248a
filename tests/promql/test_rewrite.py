"""The query-text pre-pass: duration expressions folded, anchored/smoothed wrapped, strings and
label matchers left alone, bad arithmetic refused with a position in the original text."""

from __future__ import annotations

import pytest

from obskit.errors import ParseError
from obskit.promql.engine import parse
from obskit.promql.rewrite import rewrite


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("x[26m+4m]", "x[1800000ms]"),
        ("x[2m*(10+5)]", "x[1800000ms]"),
        ("x[24m+((1.5*2m)+2m)]", "x[1740000ms]"),
        ("x[30m1s-30m1s % 1m]", "x[1800000ms]"),
        ("x[-5m+35m]", "x[1800000ms]"),
        ("x[29s+1s:5s+5s]", "x[30000ms:10000ms]"),
        ("x[step()]", "x[5000ms]"),
        ("x[range()]", "x[60000ms]"),
        ("x[1+(STep()-5)*2]", "x[1000ms]"),
        ("x[max_of(min_of(step()+1,1h),1ms)]", "x[6000ms]"),
        ("x offset (1m*2)", "x offset 120000ms"),
        ("x offset -(min_of(step(), 2s)-5)+8000", "x offset 3000ms+8000"),
        ("x offset -step()*2", "x offset -5000ms*2"),
        ("x offset (step()*0)", "x offset 0"),
        ("x @ (100+5)", "x @ 105.0"),
    ],
)
def test_duration_expressions_fold_to_literals(query: str, expected: str) -> None:
    assert rewrite(query, step_ms=5_000, range_ms=60_000).text == expected


@pytest.mark.parametrize(
    "query",
    ["x[5m]", "x[5m:]", "x[5m:1m]", "x[1800]", "x offset 5m", "x offset -2 ^ 2", "x @ 100"],
)
def test_plain_syntax_is_untouched(query: str) -> None:
    assert rewrite(query).text == query


def test_string_literals_and_matchers_are_untouched() -> None:
    query = 'label_replace(x{a="[5m+1m] offset (1)"}[5m+1m] anchored, "d", "[1m*2]", "s", "(.*)")'
    out = rewrite(query).text
    assert out == (
        'label_replace(__obskit_anchored_range__(x{a="[5m+1m] offset (1)"}[360000ms]) , '
        '"d", "[1m*2]", "s", "(.*)")'
    )
    assert rewrite("sum by (offset) (x)").text == "sum by (offset) (x)"
    assert rewrite("x{offset='anchored'}").text == "x{offset='anchored'}"


def test_nested_parentheses() -> None:
    query = "sum_over_time(x[29s+1s:20*500ms] offset -(20*(((((8 - 2) / 3) * 7s) % 4) + 8000ms)))"
    assert rewrite(query).text == "sum_over_time(x[30000ms:10000ms] offset -200000ms)"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("rate(x[5m] anchored)", "rate(__obskit_anchored_range__(x[5m]) )"),
        ("rate(x{a='b'}[5m] offset 1m smoothed)", None),
        ("x @ 100 smoothed + 0", "__obskit_smoothed__(x @ 100)  + 0"),
        ("x offset -100 smoothed", "__obskit_smoothed__(x offset -100) "),
        ("x @ start() smoothed", "__obskit_smoothed__(x @ start()) "),
    ],
)
def test_modifiers_wrap_their_selector(query: str, expected: str | None) -> None:
    out = rewrite(query).text
    if expected is not None:
        assert out == expected
    assert "anchored" not in out.replace("__obskit_anchored", "")
    parse(query)


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("x[5m/0]", "division by zero", 5),
        ("x[5m-10m]", "duration must be greater than 0", 3),
        ("x[5m+]", "ends too early", 5),
        ("x[5m % (1m-1m)]", "division by zero", 6),
        ("x[5m:1m] anchored", "not supported for subqueries", 10),
        ("1 smoothed", "must follow a selector", 3),
    ],
)
def test_bad_duration_arithmetic_is_refused(query: str, message: str, column: int) -> None:
    with pytest.raises(ParseError, match=message) as info:
        parse(query)
    assert str(info.value).startswith(f"1:{column}: parse error:")


def test_parser_errors_point_into_the_original_text() -> None:
    with pytest.raises(ParseError) as info:
        parse("rate(x[1m+1m]) foo")
    assert info.value.position == len("rate(x[1m+1m]) ")
    assert str(info.value).startswith("1:16: parse error:")
