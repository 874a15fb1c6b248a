"""Parameters of Prometheus' HTTP API, read and checked as Prometheus reads them
(``web/api/v1/api.go``): the form merges a urlencoded body and the URL query (Go's ``FormValue``:
body first), times are float seconds or RFC 3339, durations float seconds or ``1m30s``,
``match[]`` is a list of series selectors. Every failure is a ``BadParameter`` whose message is
Prometheus' own wording (``invalid parameter "time": ...``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import promql_parser

from obskit.errors import QueryError
from obskit.model.durations import parse_duration_ms
from obskit.model.matchers import Matcher, MatchType

__all__ = [
    "MAX_TIME_MS",
    "MIN_TIME_MS",
    "BadParameter",
    "Form",
    "duration_param",
    "invalid",
    "parse_duration_ns",
    "parse_limit",
    "parse_matchers",
    "parse_promql",
    "parse_time_ms",
    "time_param",
    "unescape_label_name",
]

# Prometheus' MinTime/MaxTime (the defaults of start/end on metadata endpoints): the widest
# instants Go's time package can still format, in ms.
MIN_TIME_MS = -9223309901257974000
MAX_TIME_MS = 9223309901257974999
_MIN_TIME_TEXT = "-292273086-05-16T16:47:06Z"
_MAX_TIME_TEXT = "292277026596-12-04T15:30:07.999999999Z"

_INT64_MAX = 2**63 - 1
# Go's strconv.ParseFloat syntax (decimal, optional underscores between digits) plus the
# special words it accepts; Python's float() would also take spaces and other spellings.
_DIGITS = r"\d(?:_?\d)*"
_GO_FLOAT = re.compile(
    rf"[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
    r"|[+-]?inf(?:inity)?|nan",
    re.IGNORECASE,
)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))"
)
# promql_parser's MatchOp is not hashable; its str() is "MatchOp.<Name>"
_MATCH_TYPES = {
    "MatchOp.Equal": MatchType.EQ,
    "MatchOp.NotEqual": MatchType.NEQ,
    "MatchOp.Re": MatchType.RE,
    "MatchOp.NotRe": MatchType.NRE,
}


class BadParameter(ValueError):
    """A request parameter Prometheus would answer with 400 ``bad_data``."""


def invalid(name: str, reason: str) -> BadParameter:
    """Prometheus' ``invalidParamError`` wording."""
    return BadParameter(f'invalid parameter "{name}": {reason}')


@dataclass(frozen=True, slots=True)
class Form:
    """Request parameters as Go's ``Request.Form``: urlencoded body values first, then URL ones."""

    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, query: str, body: bytes | None = None) -> Form:
        pairs: list[tuple[str, str]] = []
        if body:
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        pairs += parse_qsl(query, keep_blank_values=True)
        return cls(tuple(pairs))

    def get(self, name: str) -> str:
        """The first value of ``name``, or "" (Go's ``FormValue``)."""
        return next((v for k, v in self.pairs if k == name), "")

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]


def _go_float(text: str) -> float | None:
    if not _GO_FLOAT.fullmatch(text):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _round_half_away(x: float) -> float:
    return math.copysign(math.floor(abs(x) + 0.5), x)


def _rfc3339_ms(text: str) -> int | None:
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    if m.group(9):
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        offset = timedelta(hours=oh, minutes=om)
        moment -= offset if m.group(9) == "+" else -offset
    fraction_ms = int((m.group(7) or "0")[:3].ljust(3, "0"))  # Go truncates below the ms
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return (moment - epoch) // timedelta(seconds=1) * 1000 + fraction_ms


def parse_time_ms(text: str) -> int:
    """Unix seconds (float, rounded to the ms) or RFC 3339 as Prometheus' ``parseTime``.
    Raises ``ValueError`` with Prometheus' message."""
    x = _go_float(text)
    if x is not None:
        if math.isnan(x):
            raise ValueError(f"cannot parse {_go_quote(text)} to a valid timestamp")
        if not MIN_TIME_MS / 1000 <= x <= MAX_TIME_MS / 1000:
            return MIN_TIME_MS if x < 0 else MAX_TIME_MS
        whole = math.trunc(x)
        ns = int(_round_half_away((x - whole) * 1000) / 1000 * 1e9)
        return whole * 1000 + ns // 1_000_000
    ms = _rfc3339_ms(text)
    if ms is not None:
        return ms
    if text == _MIN_TIME_TEXT:
        return MIN_TIME_MS
    if text == _MAX_TIME_TEXT:
        return MAX_TIME_MS
    raise ValueError(f"cannot parse {_go_quote(text)} to a valid timestamp")


def time_param(form: Form, name: str, default_ms: int) -> int:
    """``parseTimeParam``: the default when absent or empty, else a time (400 when bad)."""
    text = form.get(name)
    if text == "":
        return default_ms
    try:
        return parse_time_ms(text)
    except ValueError as exc:
        raise invalid(name, f"Invalid time value for '{name}': {exc}") from None


def parse_duration_ns(text: str) -> int:
    """Float seconds or a Prometheus duration, in ns, as Prometheus' ``parseDuration``."""
    x = _go_float(text)
    if x is not None:
        if math.isnan(x):
            return -_INT64_MAX - 1  # what Go's conversion yields; rejected as "negative"
        ns = x * 1e9
        if not -(2.0**63) <= ns <= float(_INT64_MAX):
            raise ValueError(
                f"cannot parse {_go_quote(text)} to a valid duration. It overflows int64"
            )
        return int(ns)
    try:
        return parse_duration_ms(text) * 1_000_000
    except ValueError:
        raise ValueError(f"cannot parse {_go_quote(text)} to a valid duration") from None


def duration_param(form: Form, name: str) -> int | None:
    """A duration parameter in ns, or None when absent (400 when bad)."""
    text = form.get(name)
    if text == "":
        return None
    try:
        return parse_duration_ns(text)
    except ValueError as exc:
        raise invalid(name, str(exc)) from None


def parse_limit(form: Form) -> int:
    """``limit``: 0 (no limit) when absent; a non-negative integer otherwise."""
    text = form.get("limit")
    if text == "":
        return 0
    if not re.fullmatch(r"[+-]?\d+", text):
        raise invalid("limit", f"strconv.Atoi: parsing {_go_quote(text)}: invalid syntax")
    limit = int(text)
    if limit < 0:
        raise invalid("limit", "limit must be non-negative")
    return limit


def parse_promql(text: str, name: str) -> Any:
    """``text`` parsed by ``promql_parser``; a ``BadParameter`` naming parameter ``name`` when
    it does not parse (including the parser's rare Rust panics, which are BaseExceptions)."""
    try:
        return promql_parser.parse(text)
    except ValueError as exc:
        raise invalid(name, f"parse error: {exc}") from None
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise invalid(name, f"parse error: {exc}") from None


def _selector_matchers(text: str) -> list[Matcher]:
    expr = parse_promql(text, "match[]")
    if not isinstance(expr, promql_parser.VectorSelector):
        raise invalid("match[]", f"parse error: {text!r} is not a series selector")
    if expr.offset is not None or expr.at is not None:
        raise invalid("match[]", "parse error: unexpected <offset> or @ in a series selector")
    if expr.matchers.or_matchers:
        raise invalid("match[]", "parse error: 'or' is not allowed in a series selector")
    out: list[Matcher] = []
    if expr.name is not None:
        out.append(Matcher(MatchType.EQ, "__name__", expr.name))
    try:
        out += [Matcher(_MATCH_TYPES[str(m.op)], m.name, m.value) for m in expr.matchers.matchers]
    except QueryError as exc:
        raise invalid("match[]", str(exc)) from None
    return out


def parse_matchers(texts: list[str]) -> list[list[Matcher]]:
    """One matcher set per ``match[]`` selector (``parseMatchersParam``): each must select
    something, i.e. have a matcher that does not match the empty string."""
    sets = [_selector_matchers(text) for text in texts]
    for matchers in sets:
        if all(m.matches_empty for m in matchers):
            raise BadParameter("match[] must contain at least one non-empty matcher")
    return sets


def unescape_label_name(name: str) -> str:
    """Undo Grafana's ``U__`` escaping of a label name (Prometheus' value-encoding escaping:
    ``U__http_2e_status`` is ``http.status``, ``__`` is ``_``); unchanged when not valid."""
    if not name.startswith("U__"):
        return name
    escaped = name[3:]
    out: list[str] = []
    i = 0
    while i < len(escaped):
        ch = escaped[i]
        if ch != "_":
            out.append(ch)
            i += 1
            continue
        i += 1
        if i >= len(escaped):
            return name
        if escaped[i] == "_":
            out.append("_")
            i += 1
            continue
        end = escaped.find("_", i)
        code = escaped[i:end] if end != -1 else ""
        if end == -1 or not 0 < len(code) <= 6 or not re.fullmatch(r"[0-9a-fA-F]+", code):
            return name
        value = int(code, 16)
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            return name
        out.append(chr(value))
        i = end + 1
    return "".join(out)


def _go_quote(text: str) -> str:
    """``%q`` of a parameter as Go prints it in messages (enough for ASCII input)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
