"""Matcher semantics as Prometheus 3 defines them, and fast paths checked against plain RE2."""

from __future__ import annotations

import copy
import pickle

import pytest
import re2
from hypothesis import example, given, settings
from hypothesis import strategies as st

from obskit.errors import QueryError
from obskit.model.matchers import Matcher, MatchType

EQ, NEQ, RE, NRE = MatchType.EQ, MatchType.NEQ, MatchType.RE, MatchType.NRE


@pytest.mark.parametrize(
    ("type_", "value", "label", "expected"),
    [
        # A missing label is "", so these select series without the label...
        (RE, "", "", True),
        (NRE, ".+", "", True),
        (EQ, "", "", True),
        (RE, ".*", "", True),
        (NEQ, "foo", "", True),
        # ...and these do not.
        (NEQ, "", "", False),
        (RE, ".+", "", False),
        (RE, "foo", "", False),
        (NRE, ".*", "", False),
        (NRE, "", "", False),
        # Series that have the label.
        (NEQ, "", "x", True),
        (RE, ".*", "anything at all", True),
        (RE, "", "x", False),
        (NRE, ".+", "x", False),
        (EQ, "foo", "foo", True),
        (EQ, "foo", "Foo", False),
        (NEQ, "foo", "foo", False),
        (NEQ, "foo", "bar", True),
    ],
)
def test_basic_semantics(type_: MatchType, value: str, label: str, expected: bool) -> None:
    assert Matcher(type_, "x", value).matches(label) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        # Fully anchored at both ends.
        ("fo", "foo", False),
        ("oo", "foo", False),
        ("foo", "foo", True),
        ("foo", "xfoo", False),
        ("f.o", "foo", True),
        ("foo|bar", "foobar", False),
        ("foo|bar", "bar", True),
        ("(foo|bar)", "foo", True),
        ("(?:foo|bar)", "bar", True),
        ("foo|bar|", "", True),
        ("a|b|c", "b", True),
        ("a|b|c", "d", False),
        # An explicit anchor or "$" inside changes nothing; "$" never matches before a newline.
        ("^foo$", "foo", True),
        ("foo$", "foo\n", False),
        # "." matches a newline (Prometheus 3).
        (".*", "a\nb", True),
        ("a.b", "a\nb", True),
        (".+", "\n", True),
        ("foo.*", "foo\nbar", True),
        (".*bar", "foo\nbar", True),
        # Case is significant unless the pattern says otherwise.
        ("foo", "FOO", False),
        ("(?i)foo", "FOO", True),
        ("(?i)foo|bar", "BAR", True),
        ("FOO.*", "foobar", False),
        ("(?i:foo).*", "FOObar", True),
        # Prefix, suffix and contains shapes.
        ("host-1.*", "host-1", True),
        ("host-1.*", "host-10", True),
        ("host-1.*", "host-2", False),
        ("host-1.+", "host-1", False),
        ("host-1.+", "host-1x", True),
        (".*-1", "host-1", True),
        (".+-1", "-1", False),
        (".*ost.*", "host-1", True),
        (".*ost.*", "hst", False),
        # Escaped metacharacters are literals.
        (r"a\.b", "a.b", True),
        (r"a\.b", "axb", False),
        (r"10\.0\.0\.1|10\.0\.0\.2", "10.0.0.2", True),
        (r"a\|b", "a|b", True),
        (r"a\.*", "a...", True),
        (r"a\.*", "ab", False),
        # Unicode: "." is one code point.
        ("caf.", "café", True),
        ("é.+", "é", False),
        (r"\d+", "123", True),
        ("[a-c]+", "abcabc", True),
    ],
)
def test_regex_semantics(pattern: str, value: str, expected: bool) -> None:
    assert Matcher(RE, "x", pattern).matches(value) is expected
    assert Matcher(NRE, "x", pattern).matches(value) is not expected


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        (EQ, "", True),
        (EQ, "a", False),
        (NEQ, "", False),
        (NEQ, "a", True),
        (RE, "", True),
        (RE, ".*", True),
        (RE, "a|", True),
        (RE, ".+", False),
        (RE, "a*", True),
        (NRE, ".+", True),
        (NRE, ".*", False),
        (NRE, "a", True),
    ],
)
def test_matches_empty(type_: MatchType, value: str, expected: bool) -> None:
    assert Matcher(type_, "x", value).matches_empty is expected


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(", "missing )"),
        ("a)|(b", "unexpected )"),
        ("*", "no argument for repetition operator"),
        ("a{1001}", "invalid repetition size"),
        (r"\q", "invalid escape sequence"),
        ("(?P<n", "invalid named capture group"),
        ("[a", "missing ]"),
        ("a(?=b)", "invalid perl operator"),
    ],
)
def test_invalid_regex_raises_query_error(pattern: str, reason: str) -> None:
    for type_ in (RE, NRE):
        with pytest.raises(QueryError, match="invalid regular expression in matcher") as info:
            Matcher(type_, "job", pattern)
        assert reason in str(info.value)


def test_invalid_regex_message_names_the_matcher() -> None:
    with pytest.raises(QueryError) as info:
        Matcher(RE, "job", "(")
    assert str(info.value) == 'invalid regular expression in matcher job=~"(": missing )'
    assert isinstance(info.value, ValueError)


def test_regex_that_is_not_utf8_raises_query_error() -> None:
    with pytest.raises(QueryError, match="not valid UTF-8"):
        Matcher(RE, "x", "a\ud800")


def test_equality_matchers_accept_regex_metacharacters() -> None:
    assert Matcher(EQ, "x", "(").matches("(")
    assert Matcher(NEQ, "x", "(").matches("a")


def test_empty_name_and_wrong_types_are_rejected() -> None:
    with pytest.raises(QueryError, match="empty label name"):
        Matcher(EQ, "", "x")
    with pytest.raises(TypeError):
        Matcher("=", "x", "y")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Matcher(EQ, "x", 1)  # type: ignore[arg-type]


def test_hostile_regexes_run_in_linear_time() -> None:
    # Catastrophic for backtracking engines; RE2 answers in one pass. The suite timeout guards.
    value = "a" * 100_000 + "!"
    for pattern in ["(a+)+$", "(a|a)*b", "(a*)*b", "(.*a){20}", "(?:a|aa)+c", "(x+x+)+y"]:
        assert not Matcher(RE, "x", pattern).matches(value)
        assert Matcher(NRE, "x", pattern).matches(value)
    assert Matcher(RE, "x", "(a+)+!").matches(value)


def test_str_renders_promql() -> None:
    assert str(Matcher(RE, "job", "a|b")) == 'job=~"a|b"'
    assert str(Matcher(NEQ, "job", "")) == 'job!=""'
    assert str(Matcher(NRE, "instance", r"host-1\..*")) == r'instance!~"host-1\\..*"'
    assert str(Matcher(EQ, "msg", 'say "hi"\n\t\x00')) == r'msg="say \"hi\"\n\t\x00"'
    assert str(Matcher(EQ, "service.name", "x")) == '"service.name"="x"'
    assert str(Matcher(EQ, "_a1", "é")) == '_a1="é"'


def test_value_semantics_hash_pickle_copy() -> None:
    a = Matcher(RE, "job", "a.*")
    b = Matcher(RE, "job", "a.*")
    assert a == b
    assert hash(a) == hash(b)
    assert a != Matcher(NRE, "job", "a.*")
    assert len({a, b}) == 1
    for clone in (pickle.loads(pickle.dumps(a)), copy.copy(a), copy.deepcopy(a)):
        assert clone == a
        assert clone.matches("abc")
        assert not clone.matches("bc")
    with pytest.raises(AttributeError):
        a.value = "b"  # type: ignore[misc]


def test_literal_values() -> None:
    assert Matcher(EQ, "x", "a").literal_values == frozenset({"a"})
    assert Matcher(NEQ, "x", "a").literal_values == frozenset({"a"})
    assert Matcher(RE, "x", "a|b|c").literal_values == frozenset({"a", "b", "c"})
    assert Matcher(NRE, "x", "(?:a|b)").literal_values == frozenset({"a", "b"})
    assert Matcher(RE, "x", r"a\.b|").literal_values == frozenset({"a.b", ""})
    assert Matcher(RE, "x", "a.*").literal_values is None
    assert Matcher(RE, "x", "(?i)a").literal_values is None


# Patterns built from a small alphabet hit every fast-path shape and its near misses; the values
# use the same characters (and a newline, for "."). RE2 itself is the oracle.
_PATTERN_PARTS = [
    "a", "b", "ab", ".", "*", "+", "?", "|", "(", ")", "(?:", ".*", ".+",
    "\\.", "\\", "\n", "^", "$", "[ab]", "(?i)", "A", "é", "{2}",
]  # fmt: skip
_patterns = st.lists(st.sampled_from(_PATTERN_PARTS), max_size=7).map("".join)
_values = st.text(alphabet="abA.é\n|*", max_size=8)


def _re2_oracle(pattern: str, value: str) -> bool | None:
    """Prometheus' definition, run on RE2 directly; None when the pattern does not compile."""
    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(pattern, options)
    except re2.error:
        return None
    return re2.compile(f"^(?s:{pattern})$", options).search(value) is not None


@settings(max_examples=3000, deadline=None)
@given(_patterns, st.lists(_values, min_size=1, max_size=6))
@example(".*", ["", "\n"])
@example("a.*", ["a\n", "b"])
@example(".+a", ["a", "aa"])
@example(".*a.*", ["bab", "b"])
@example("a|b|", [""])
@example("\\.*", ["..", ""])
@example("a\\.*", ["a.", "a"])
@example("(a|b)", ["a", "(a|b)"])
def test_fast_paths_agree_with_re2(pattern: str, values: list[str]) -> None:
    try:
        matcher = Matcher(RE, "x", pattern)
    except QueryError:
        assert _re2_oracle(pattern, "") is None
        return
    negated = Matcher(NRE, "x", pattern)
    for value in [*values, ""]:
        expected = _re2_oracle(pattern, value)
        assert expected is not None
        assert matcher.matches(value) is expected, (pattern, value)
        assert negated.matches(value) is not expected
    if matcher.literal_values is not None:
        for value in values:
            assert matcher.matches(value) is (value in matcher.literal_values)
