"""Parser of Prometheus' PromQL ``.test`` scripts into commands (FORMAT.md §1-§6).

``parse_test_file(text)`` returns ``Load``, ``Clear`` and ``Eval`` commands in file order.
A line that does not follow the format raises ``TestFileError`` naming its line number.
Expressions are kept as text: whether they parse is the classifier's question, not ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import re2

from conformance.seriesdesc import (
    SeriesLabels,
    SyntaxProblem,
    Value,
    go_unquote,
    parse_scalar,
    parse_series_line,
    parse_series_notation,
    parse_start_timestamps,
)
from obskit.model.durations import parse_duration_ms

__all__ = [
    "AnnotationExpectation",
    "Clear",
    "Command",
    "Eval",
    "ExpectedSeries",
    "Load",
    "LoadedSeries",
    "TestFile",
    "TestFileError",
    "parse_test_file",
    "read_test_file",
]


class TestFileError(ValueError):
    """A ``.test`` file that does not follow the format; names the line (1-based)."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class LoadedSeries:
    """One series of a ``load`` block: its slots (at i * interval) and optional start-timestamp
    offsets per slot (``@st`` lines)."""

    labels: SeriesLabels
    values: list[Value]
    start_offsets_ms: list[int | None] | None = None


@dataclass(frozen=True, slots=True)
class Load:
    line: int
    interval_ms: int
    series: list[LoadedSeries]
    with_nhcb: bool = False


@dataclass(frozen=True, slots=True)
class Clear:
    line: int


@dataclass(frozen=True, slots=True)
class AnnotationExpectation:
    """``expect fail|warn|info [msg: text | regex: re]``; neither means "any"."""

    message: str | None = None
    regex: str | None = None

    def matches(self, text: str) -> bool:
        if self.message is not None:
            return text == self.message
        if self.regex is not None:
            return re2.search(self.regex, text) is not None
        return True

    def describe(self) -> str:
        if self.message is not None:
            return f"msg: {self.message}"
        if self.regex is not None:
            return f"regex: {self.regex}"
        return "(any)"


@dataclass(frozen=True, slots=True)
class ExpectedSeries:
    line: int
    labels: SeriesLabels
    values: list[Value]


@dataclass(slots=True)
class Eval:
    """An ``eval instant`` (``step_ms == 0``, ``start_ms == end_ms``) or ``eval range``."""

    line: int
    expr: str
    instant: bool
    start_ms: int
    end_ms: int
    step_ms: int
    fail: AnnotationExpectation | None = None
    warn: list[AnnotationExpectation] = field(default_factory=list)
    info: list[AnnotationExpectation] = field(default_factory=list)
    no_warn: bool = False
    no_info: bool = False
    ordered: bool = False
    string: str | None = None
    # "expect range vector from A to B step S": the instant query's result is a range vector
    # whose points sit at A, A+S, ...; the query runs at B.
    range_vector: tuple[int, int, int] | None = None
    scalar: float | None = None
    series: list[ExpectedSeries] = field(default_factory=list)

    @property
    def eval_ms(self) -> int:
        """When an instant query runs (the end of an expected range vector, if any)."""
        return self.range_vector[1] if self.range_vector else self.start_ms


Command = Load | Clear | Eval


@dataclass(frozen=True, slots=True)
class TestFile:
    name: str
    commands: list[Command]

    __test__ = False

    @property
    def evals(self) -> list[Eval]:
        return [c for c in self.commands if isinstance(c, Eval)]


_W = r"[ \t]+"  # blanks between words
_LOAD = re.compile(rf"load(?:_(with_nhcb))?{_W}(\S+)\Z")
_INSTANT = re.compile(rf"eval(?:_(fail|warn|ordered|info))?{_W}instant{_W}at{_W}(\S+){_W}(.+)\Z")
_RANGE = re.compile(
    rf"eval(?:_(fail|warn|info))?{_W}range{_W}from{_W}(\S+){_W}to{_W}(\S+)"
    rf"{_W}step{_W}(\S+){_W}(.+)\Z"
)
_EXPECT = re.compile(
    rf"expect{_W}(ordered|fail|warn|no_warn|info|no_info)(?:{_W}(regex|msg):(.*))?\Z"
)
_RANGE_VECTOR = re.compile(
    rf"expect range vector{_W}from{_W}(\S+){_W}to{_W}(\S+){_W}step{_W}(\S+)\Z"
)


_DEPRECATED_FAIL = ("expected_fail_message", "expected_fail_regexp")


def _duration(text: str, line: int) -> int:
    try:
        return parse_duration_ms(text)
    except ValueError as exc:
        raise TestFileError(line, str(exc)) from None


def _lines(text: str) -> list[str]:
    """Trimmed lines; comment lines become empty (they end blocks, as upstream)."""
    out = []
    for raw in text.split("\n"):
        stripped = raw.strip(" \t\r")
        out.append("" if stripped.startswith("#") else stripped)
    return out


def _block(lines: list[str], start: int) -> list[tuple[int, str]]:
    """The body lines after header ``start`` up to the next empty line, with 1-based numbers."""
    body = []
    i = start + 1
    while i < len(lines) and lines[i]:
        body.append((i + 1, lines[i]))
        i += 1
    return body


def _parse_load(header: str, body: list[tuple[int, str]], line: int) -> Load:
    match = _LOAD.match(header)
    if not match:
        raise TestFileError(line, f"invalid load command {header!r}")
    series: dict[SeriesLabels, LoadedSeries] = {}
    pending: tuple[int, SeriesLabels, list[int | None]] | None = None
    default_st: list[int | None] | None = None
    for number, text in body:
        try:
            head, _, rest = text.replace("\t", " ").partition(" ")
            if head.endswith("@st"):
                if pending is not None:
                    raise TestFileError(pending[0], "@st line has no following sample line")
                offsets = parse_start_timestamps(rest)
                if head == "@st":
                    default_st = offsets
                    continue
                labels, _ = parse_series_notation(head[: -len("@st")])
                pending = (number, labels, offsets)
                continue
            labels, values = parse_series_line(text)
        except SyntaxProblem as exc:
            raise TestFileError(number, str(exc)) from None
        offsets_for: list[int | None] | None = None
        if pending is not None:
            if pending[1] != labels:
                raise TestFileError(pending[0], "@st series differs from the next line's")
            if len(pending[2]) != len(values):
                raise TestFileError(pending[0], "@st line and sample line differ in length")
            offsets_for, pending = pending[2], None
        elif default_st:
            offsets_for = [default_st[i % len(default_st)] for i in range(len(values))]
        # A series listed twice in one block keeps only its last line (as upstream).
        series[labels] = LoadedSeries(labels, values, offsets_for)
    if pending is not None:
        raise TestFileError(pending[0], "@st line has no following sample line")
    return Load(line, _duration(match.group(2), line), list(series.values()), bool(match.group(1)))


def _parse_eval(header: str, body: list[tuple[int, str]], line: int) -> Eval:
    instant = _INSTANT.match(header)
    ranged = _RANGE.match(header)
    if instant:
        modifier, expr = instant.group(1), instant.group(3)
        at = _duration(instant.group(2), line)
        ev = Eval(line, expr, True, at, at, 0)
    elif ranged:
        modifier, expr = ranged.group(1), ranged.group(5)
        start, end = _duration(ranged.group(2), line), _duration(ranged.group(3), line)
        if end < start:
            raise TestFileError(line, "range end before start")
        ev = Eval(line, expr, False, start, end, _duration(ranged.group(4), line))
    else:
        raise TestFileError(line, f"invalid eval command {header!r}")
    if modifier == "fail":
        ev.fail = AnnotationExpectation()
    elif modifier == "warn":
        ev.warn.append(AnnotationExpectation())
    elif modifier == "info":
        ev.info.append(AnnotationExpectation())
    elif modifier == "ordered":
        ev.ordered = True
    for number, text in body:
        if ev.scalar is not None:
            raise TestFileError(number, "nothing may follow a scalar expectation")
        if ev.fail is not None and text.startswith(_DEPRECATED_FAIL):
            key, _, rest = text.partition(" ")
            rest = rest.strip()
            ev.fail = (
                AnnotationExpectation(message=rest)
                if key == "expected_fail_message"
                else AnnotationExpectation(regex=rest)
            )
            continue
        if text.startswith("expect range vector"):
            rv = _RANGE_VECTOR.match(text)
            if not rv:
                raise TestFileError(number, f"invalid range vector expectation {text!r}")
            start, end = _duration(rv.group(1), number), _duration(rv.group(2), number)
            ev.range_vector = (start, end, _duration(rv.group(3), number))
            continue
        if text.startswith("expect string"):
            literal = text[len("expect string") :].strip()
            try:
                ev.string = go_unquote(literal) if literal[:1] in ('"', "`") else None
            except SyntaxProblem:
                ev.string = None
            if ev.string is None:
                raise TestFileError(number, f"expect string needs a quoted string: {text!r}")
            continue
        if text.split(" ")[0] == "expect":
            _add_expectation(ev, text, number)
            continue
        scalar = parse_scalar(text)
        if scalar is not None:
            ev.scalar = scalar
            continue
        try:
            labels, values = parse_series_line(text)
        except SyntaxProblem as exc:
            raise TestFileError(number, str(exc)) from None
        if len(values) > 1 and ev.instant and ev.range_vector is None:
            raise TestFileError(number, "several values for an instant query")
        if any(s.labels == labels for s in ev.series):
            # Upstream keeps the last line; a duplicate is almost certainly a typo worth knowing.
            ev.series = [s for s in ev.series if s.labels != labels]
        ev.series.append(ExpectedSeries(number, labels, values))
    if ev.warn and ev.no_warn:
        raise TestFileError(line, "warn and no_warn together")
    if ev.info and ev.no_info:
        raise TestFileError(line, "info and no_info together")
    return ev


def _add_expectation(ev: Eval, text: str, number: int) -> None:
    match = _EXPECT.match(text)
    if not match:
        raise TestFileError(number, f"invalid expect line {text!r}")
    kind, how, rest = match.groups()
    expectation = AnnotationExpectation()
    if how == "msg":
        expectation = AnnotationExpectation(message=rest.strip())
    elif how == "regex":
        pattern = rest.strip()
        try:
            re2.compile(pattern)
        except re2.error as exc:
            raise TestFileError(number, f"invalid regex {pattern!r}: {exc}") from None
        expectation = AnnotationExpectation(regex=pattern)
    if kind == "ordered":
        ev.ordered = True
    elif kind == "fail":
        if ev.fail is not None:
            raise TestFileError(number, "more than one expect fail")
        ev.fail = expectation
    elif kind == "warn":
        ev.warn.append(expectation)
    elif kind == "info":
        ev.info.append(expectation)
    elif kind == "no_warn":
        ev.no_warn = True
    else:
        ev.no_info = True


def parse_test_file(text: str, name: str = "<string>") -> TestFile:
    """Parse a whole ``.test`` script."""
    lines = _lines(text)
    commands: list[Command] = []
    i = 0
    while i < len(lines):
        header = lines[i]
        if not header:
            i += 1
            continue
        body = _block(lines, i)
        word = re.split(_W, header, maxsplit=1)[0].lower()
        if word == "clear":
            commands.append(Clear(i + 1))
            body = []  # "clear" takes no body; following lines are commands of their own
        elif word.startswith("load"):
            commands.append(_parse_load(header, body, i + 1))
        elif word.startswith("eval"):
            commands.append(_parse_eval(header, body, i + 1))
        else:
            raise TestFileError(i + 1, f"invalid command {header!r}")
        i += 1 + len(body)
    return TestFile(name, commands)


def read_test_file(path: Path) -> TestFile:
    return parse_test_file(path.read_text(encoding="utf-8"), path.name)
