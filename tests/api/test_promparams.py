"""Parameter parsing as Prometheus' web/api/v1: the merged form, times, durations, limits,
match[] selectors and Grafana's U__ label-name escaping."""

from __future__ import annotations

import pytest

from obskit.api.promparams import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    BadParameter,
    Form,
    parse_duration_ns,
    parse_limit,
    parse_matchers,
    parse_promql,
    parse_time_ms,
    unescape_label_name,
)
from obskit.model.matchers import Matcher, MatchType


def test_form_is_body_then_url_with_repeats() -> None:
    form = Form.parse("match[]=a&time=5&query=3", b"query=1%2B1&match[]=b+c")
    assert form.get("query") == "1+1" and form.get("time") == "5" and form.get("nope") == ""
    assert form.getlist("match[]") == ["b c", "a"]
    assert Form.parse("x=&y").get("x") == ""


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("4", 4000),
        # rounded to the ms from the float's fraction, as Prometheus 2.42 answered these
        ("4.0005", 4000),
        ("0.0015", 2),
        ("-0.0015", -2),
        ("1.0025", 1002),
        ("1_0", 10000),  # Go's ParseFloat takes underscores between digits
        (".5", 500),
        ("1.", 1000),
        ("1e30", MAX_TIME_MS),
        ("-Inf", MIN_TIME_MS),
        ("2020-01-01T00:00:00Z", 1577836800000),
        ("2019-12-31T23:00:00-01:00", 1577836800000),
        ("2020-01-01T00:00:00.9999Z", 1577836800999),
        ("-292273086-05-16T16:47:06Z", MIN_TIME_MS),
        ("292277026596-12-04T15:30:07.999999999Z", MAX_TIME_MS),
    ],
)
def test_times(text: str, ms: int) -> None:
    assert parse_time_ms(text) == ms


@pytest.mark.parametrize(
    "text", ["", " 1", "0x10", "abc", "NaN", "2020-01-01t00:00:00z", "2020-13-01T00:00:00Z"]
)
def test_bad_times(text: str) -> None:
    with pytest.raises(ValueError, match="to a valid timestamp"):
        parse_time_ms(text)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("15", 15 * 10**9),
        ("0.5", 5 * 10**8),
        ("1m0s", 60 * 10**9),
        ("1h30m", 5400 * 10**9),
        ("100ms", 10**8),
        ("1d", 86400 * 10**9),
        ("0", 0),
        ("-1", -(10**9)),
    ],
)
def test_durations(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize(("text", "fragment"), [("1.5s", "valid duration"), ("Inf", "overflows")])
def test_bad_durations(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_duration_ns(text)


def test_limit() -> None:
    assert parse_limit(Form.parse("")) == 0
    assert parse_limit(Form.parse("limit=40000")) == 40000
    for bad in ("x", "-1", "1.5"):
        with pytest.raises(BadParameter, match='invalid parameter "limit"'):
            parse_limit(Form.parse(f"limit={bad}"))


def test_match_selectors() -> None:
    eq, re_ = MatchType.EQ, MatchType.RE
    assert parse_matchers(['up{job="a"}', '{__name__=~".+",}', '{"my.name", x!~"y"}']) == [
        [Matcher(eq, "__name__", "up"), Matcher(eq, "job", "a")],
        [Matcher(re_, "__name__", ".+")],
        [Matcher(eq, "__name__", "my.name"), Matcher(MatchType.NRE, "x", "y")],
    ]
    for bad in ['{a=""}', '{a=~".*"}', "sum(up)", "up[5m]", "up @ 5", "up{"]:
        with pytest.raises(BadParameter):
            parse_matchers([bad])


@pytest.mark.parametrize(
    ("escaped", "name"),
    [
        ("U__http_2e_status", "http.status"),
        ("U__my__label", "my_label"),
        ("U___1f600_", "\U0001f600"),
        ("plain_name", "plain_name"),
        ("U__bad_zz_", "U__bad_zz_"),  # not valid escaping: left as it is
        ("U__open_2e", "U__open_2e"),
        ("U__surrogate_d800_", "U__surrogate_d800_"),
    ],
)
def test_unescape_label_name(escaped: str, name: str) -> None:
    assert unescape_label_name(escaped) == name


def test_parser_panics_are_bad_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    class PanicException(BaseException):  # what pyo3 raises when the Rust parser panics
        pass

    def panic(text: str) -> None:
        raise PanicException("index out of bounds")

    monkeypatch.setattr("promql_parser.parse", panic)
    with pytest.raises(BadParameter, match='invalid parameter "match\\[\\]": parse error'):
        parse_matchers(["up"])
    with pytest.raises(BadParameter, match='"query": parse error: index out of bounds'):
        parse_promql("up", "query")
