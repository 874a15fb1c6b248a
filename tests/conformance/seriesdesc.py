"""Series notation and value sequences of Prometheus' ``.test`` scripts (FORMAT.md §3, §5).

``parse_series_line('m{a="b"} 1+1x2 _ stale')`` gives the label set and the expanded slots
``[1.0, 2.0, 3.0, None, STALE_NAN]``: a float, ``None`` for an empty slot, or a
``HistogramLiteral`` (native histograms are recognised, not interpreted). What deviates from
FORMAT.md follows Prometheus' lexer: hexadecimal is not a number inside a value sequence
(``0x59`` is 0 repeated 60 times), only on a scalar expectation line (``parse_scalar``).
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass

from obskit.model.durations import parse_duration_ms

__all__ = [
    "STALE_NAN",
    "HistogramLiteral",
    "SeriesLabels",
    "SyntaxProblem",
    "Value",
    "expand_values",
    "format_series_labels",
    "go_unquote",
    "is_stale_nan",
    "parse_scalar",
    "parse_series_line",
    "parse_series_notation",
    "parse_start_timestamps",
]

STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]

SeriesLabels = tuple[tuple[str, str], ...]
"""A label set as sorted ``(name, value)`` pairs without empty values; ``__name__`` optional."""


class SyntaxProblem(ValueError):
    """A line of a ``.test`` file that does not follow the format."""


@dataclass(frozen=True, slots=True)
class HistogramLiteral:
    """A native histogram ``{{...}}`` as written (one slot); its fields are not interpreted."""

    text: str


Value = float | HistogramLiteral | None


def is_stale_nan(value: float) -> bool:
    """Whether ``value`` is Prometheus' staleness marker (compared by bit pattern)."""
    bits: int = struct.unpack("<Q", struct.pack("<d", value))[0]
    return bits == STALE_NAN_BITS


# ---- strings and names ----------------------------------------------------------------------

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


def go_unquote(text: str) -> str:
    """Decode a PromQL string literal (``"..."``, ``'...'`` or backquoted) as Go does."""
    if len(text) < 2 or text[0] != text[-1] or text[0] not in "\"'`":
        raise SyntaxProblem(f"not a quoted string: {text}")
    quote, body = text[0], text[1:-1]
    if quote == "`":
        if "`" in body:
            raise SyntaxProblem(f"backquote inside a raw string: {text}")
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == quote:
            raise SyntaxProblem(f"unescaped quote in {text}")
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        if i + 1 >= len(body):
            raise SyntaxProblem(f"escape sequence not terminated in {text}")
        kind = body[i + 1]
        if kind in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[kind].encode()
            i += 2
        elif kind in "01234567":
            out.append(int(body[i + 1 : i + 4], 8))
            i += 4
        elif kind in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[kind]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise SyntaxProblem(f"bad \\{kind} escape in {text}")
            code = int(digits, 16)
            if kind == "x":
                out.append(code)
            else:
                out += chr(code).encode()
            i += 2 + width
        else:
            raise SyntaxProblem(f"unknown escape sequence \\{kind} in {text}")
    return out.decode("utf-8", errors="replace")


_LEGACY_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_LEGACY_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_GO_QUOTE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _go_quote(text: str) -> str:
    return '"' + "".join(_GO_QUOTE_ESCAPES.get(c, c) for c in text) + '"'


def format_series_labels(labels: SeriesLabels) -> str:
    """A label set in series notation, as the expectation lines write it."""
    name = next((v for k, v in labels if k == "__name__"), None)
    items = []
    head = ""
    if name is not None:
        if _LEGACY_METRIC.match(name):
            head = name
        else:
            items.append(_go_quote(name))
    for k, v in labels:
        if k == "__name__":
            continue
        key = k if _LEGACY_NAME.match(k) else _go_quote(k)
        items.append(f"{key}={_go_quote(v)}")
    if head and not items:
        return head
    return head + "{" + ", ".join(items) + "}"


# ---- series notation ------------------------------------------------------------------------

_METRIC_AT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_AT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_STRING_AT = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`[^`]*`')


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def parse_series_notation(text: str, pos: int = 0) -> tuple[SeriesLabels, int]:
    """Parse ``name{l="v", "utf8.name"="v"}`` (either part optional) starting at ``pos``;
    returns the label set and the position after it."""
    labels: dict[str, str] = {}
    match = _METRIC_AT.match(text, pos)
    if match:
        labels["__name__"] = match.group()
        pos = match.end()
    if pos < len(text) and text[pos] == "{" and not text.startswith("{{", pos):
        pos += 1
        while True:
            pos = _skip_spaces(text, pos)
            if pos >= len(text):
                raise SyntaxProblem(f"unclosed label set in {text!r}")
            if text[pos] == "}":
                pos += 1
                break
            if text[pos] in "\"'`":
                quoted = _STRING_AT.match(text, pos)
                if not quoted:
                    raise SyntaxProblem(f"bad string at column {pos + 1} of {text!r}")
                name = go_unquote(quoted.group())
                pos = _skip_spaces(text, quoted.end())
                if pos < len(text) and text[pos] in ",}":
                    # A lone quoted string is the metric name (UTF-8 form).
                    if "__name__" in labels:
                        raise SyntaxProblem(f"metric name set twice in {text!r}")
                    labels["__name__"] = name
                    if text[pos] == ",":
                        pos += 1
                    continue
            else:
                ident = _LABEL_AT.match(text, pos)
                if not ident:
                    raise SyntaxProblem(f"expected a label name at column {pos + 1} of {text!r}")
                name = ident.group()
                pos = _skip_spaces(text, ident.end())
            if pos >= len(text) or text[pos] != "=":
                raise SyntaxProblem(f"expected '=' at column {pos + 1} of {text!r}")
            pos = _skip_spaces(text, pos + 1)
            quoted = _STRING_AT.match(text, pos)
            if not quoted:
                raise SyntaxProblem(f"expected a label value at column {pos + 1} of {text!r}")
            if name in labels:
                raise SyntaxProblem(f"label {name!r} set twice in {text!r}")
            labels[name] = go_unquote(quoted.group())
            pos = _skip_spaces(text, quoted.end())
            if pos < len(text) and text[pos] == ",":
                pos += 1
    elif not match:
        raise SyntaxProblem(f"expected a series at column {pos + 1} of {text!r}")
    return tuple(sorted((k, v) for k, v in labels.items() if v != "")), pos


# ---- numbers and value sequences ------------------------------------------------------------

_DIGITS = r"(?:\d(?:_?\d)*)"
_NUMBER = rf"(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
_DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
_OPERAND = rf"(?:{_DURATION}|{_NUMBER}|[iI][nN][fF]|[nN][aA][nN])"
_ITEM = re.compile(rf"(?P<a>[+-]?{_OPERAND})(?:(?P<op>[+-])(?P<b>{_OPERAND}))?(?:x(?P<n>\d+))?\Z")
_BLANKS = re.compile(r"_(?:x(?P<n>\d+))?\Z")
_GO_OCTAL = re.compile(r"0[0-7_]+\Z")


def _operand(text: str) -> float:
    """A value-sequence number as Prometheus' parser reads it (``strconv.ParseInt`` with base 0
    first, so ``010`` is octal 8, then ``ParseFloat``); a duration counts in seconds."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if re.fullmatch(_DURATION, body):
        return sign * parse_duration_ms(body) / 1000.0
    lowered = body.lower()
    if lowered == "inf":
        return sign * math.inf
    if lowered == "nan":
        return math.nan
    if _GO_OCTAL.match(body):
        return sign * float(int(body.replace("_", ""), 8))
    return sign * float(body.replace("_", ""))


def _expand_item(item: str) -> list[Value]:
    blanks = _BLANKS.match(item)
    if blanks:
        return [None] * (int(blanks.group("n")) if blanks.group("n") else 1)
    if item == "stale":
        return [STALE_NAN]
    match = _ITEM.match(item)
    if not match:
        raise SyntaxProblem(f"bad value {item!r}")
    value = _operand(match.group("a"))
    repeat = match.group("n")
    if match.group("op") is None:
        return [value] * (int(repeat) + 1 if repeat is not None else 1)
    if repeat is None:
        raise SyntaxProblem(f"bad value {item!r}: a step needs a count (a+bxN)")
    step = _operand(match.group("b"))
    if match.group("op") == "-":
        step = -step
    out: list[Value] = []
    for _ in range(int(repeat) + 1):
        out.append(value)
        value += step  # repeated float64 addition, as Prometheus does
    return out


def _histogram_end(text: str, pos: int) -> int:
    end = text.find("}}", pos + 2)
    if end < 0:
        raise SyntaxProblem(f"unclosed histogram literal at column {pos + 1} of {text!r}")
    return end + 2


def expand_values(text: str) -> list[Value]:
    """Expand a value sequence (FORMAT.md §5) into its slots."""
    out: list[Value] = []
    pos = _skip_spaces(text, 0)
    while pos < len(text):
        if text.startswith("{{", pos):
            end = _histogram_end(text, pos)
            first = HistogramLiteral(text[pos:end])
            slots: list[Value] = [first]
            if end < len(text) and text[end] in "+-" and text.startswith("{{", end + 1):
                step_end = _histogram_end(text, end + 1)
                times = re.match(r"x(\d+)", text[step_end:])
                if not times:
                    raise SyntaxProblem(f"histogram step without a count in {text!r}")
                slots = [first] * (int(times.group(1)) + 1)
                end = step_end + times.end()
            elif end < len(text) and text[end] == "x":
                times = re.match(r"x(\d+)", text[end:])
                if not times:
                    raise SyntaxProblem(f"bad histogram repetition in {text!r}")
                slots = [first] * (int(times.group(1)) + 1)
                end += times.end()
            out.extend(slots)
            pos = end
        else:
            end = pos
            while end < len(text) and text[end] not in " \t":
                end += 1
            out.extend(_expand_item(text[pos:end]))
            pos = end
        if pos < len(text) and text[pos] not in " \t":
            raise SyntaxProblem(f"expected a space at column {pos + 1} of {text!r}")
        pos = _skip_spaces(text, pos)
    return out


def parse_series_line(line: str) -> tuple[SeriesLabels, list[Value]]:
    """``<series> <value sequence>`` as in ``load`` blocks and expectations."""
    labels, pos = parse_series_notation(line)
    if pos < len(line) and line[pos] not in " \t":
        raise SyntaxProblem(f"expected a space after the series in {line!r}")
    return labels, expand_values(line[pos:])


def parse_scalar(line: str) -> float | None:
    """The number on a scalar expectation line (Go ``ParseInt(s, 0, 64)`` then ``ParseFloat``:
    hex and ``Inf``/``NaN`` allowed), or None when the line is not a number."""
    text = line.strip()
    sign, body = 1.0, text
    if text[:1] in ("+", "-"):
        sign, body = (-1.0 if text[0] == "-" else 1.0), text[1:]
    lowered = body.lower()
    if re.fullmatch(r"0[xX]_?[0-9a-fA-F](?:_?[0-9a-fA-F])*", body):
        return sign * float(int(body.replace("_", ""), 16))
    if re.fullmatch(r"0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP][+-]?\d+", body):
        return sign * float.fromhex(body)
    if _GO_OCTAL.match(body):
        return sign * float(int(body.replace("_", ""), 8))
    if re.fullmatch(_NUMBER, body):
        return sign * float(body.replace("_", ""))
    if lowered in ("inf", "infinity"):
        return sign * math.inf
    if lowered == "nan":
        return math.nan
    return None


# ---- start timestamps (@st lines, start_timestamps.test) ------------------------------------

_ST_DURATION = r"[+-]?(?:\d+(?:ms|s|m|h|d|w|y))+|[+-]?0"
_ST_ITEM = re.compile(
    rf"(?P<a>{_ST_DURATION})(?:(?P<op>[+-])(?P<b>(?:\d+(?:ms|s|m|h|d|w|y))+))?(?:x(?P<n>\d+))?\Z"
)


def _signed_duration_ms(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    return sign * parse_duration_ms(text.lstrip("+-"))


def parse_start_timestamps(text: str) -> list[int | None]:
    """Expand an ``@st`` offset sequence (FORMAT.md §3) into per-slot offsets in ms."""
    out: list[int | None] = []
    for item in text.split():
        blanks = _BLANKS.match(item)
        if blanks:
            out.extend([None] * (int(blanks.group("n")) if blanks.group("n") else 1))
            continue
        match = _ST_ITEM.match(item)
        if not match:
            raise SyntaxProblem(f"bad start-timestamp item {item!r}")
        base = _signed_duration_ms(match.group("a"))
        count = int(match.group("n")) + 1 if match.group("n") else 1
        step = 0
        if match.group("op"):
            if not match.group("n"):
                raise SyntaxProblem(f"bad start-timestamp item {item!r}: step without count")
            step = parse_duration_ms(match.group("b")) * (-1 if match.group("op") == "-" else 1)
        out.extend(base + i * step for i in range(count))
    return out
