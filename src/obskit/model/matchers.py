"""Label matchers (=, !=, =~, !~) with RE2 semantics, fully anchored as in Prometheus 3.

A regex matcher ``name=~"p"`` matches a value ``v`` when RE2 matches ``^(?s:p)$`` against all of
``v``: anchored at both ends, and ``.`` also matches a newline. A missing label is the empty
string. Regexes are validated and compiled once (module-level cache); common shapes (literals,
alternations of literals, ``.*``, ``.+``, ``lit.*``, ``.*lit``, ``.*lit.*``) skip RE2 entirely, as
Prometheus' FastRegexMatcher does. Index look-ups over postings live in ``obskit.tsdb.index``.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import re2

from obskit.errors import QueryError

__all__ = ["MatchType", "Matcher"]

# Distinct regexes kept compiled. A query set rarely holds more than a few hundred; RE2 objects
# are capped at 8 MiB each by RE2 itself, and most are far smaller.
_REGEX_CACHE_SIZE = 1024

# Characters that make a pattern more than a literal. ``]`` and ``}`` are literals to RE2 when
# unpaired, but treating them as special only costs the fast path, never correctness.
_REGEX_META = frozenset("\\.+*?()|[]{}^$")


class MatchType(enum.Enum):
    """The four matcher operators, valued as PromQL spells them."""

    EQ = "="
    NEQ = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True, slots=True)
class _RegexPlan:
    """How to answer "does ``^(?s:pattern)$`` match this value", decided once per pattern.

    ``literals`` is the complete, finite set of values the pattern matches when the pattern is a
    literal or an alternation of literals; the index then looks values up instead of scanning.
    """

    match: Callable[[str], bool]
    literals: frozenset[str] | None


def _unescape_literal(text: str) -> str | None:
    """``text`` as the literal it denotes in RE2 syntax, or None if it is not a plain literal."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            # RE2 reads a backslash before ASCII punctuation as that character, literally.
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if not (nxt and nxt.isascii() and not nxt.isalnum() and nxt not in " \t\n\r"):
                return None
            out.append(nxt)
            i += 2
            continue
        if ch in _REGEX_META:
            return None
        out.append(ch)
        i += 1
    return "".join(out)


def _literal_alternatives(pattern: str) -> frozenset[str] | None:
    """The values matched by ``a|b|c`` (optionally inside one ``(...)``/``(?:...)``), else None."""
    body = pattern
    if body.startswith("(?:") and body.endswith(")"):
        body = body[3:-1]
    elif body.startswith("(") and body.endswith(")") and not body.startswith("(?"):
        body = body[1:-1]
    if "(" in body or ")" in body:
        return None
    values: set[str] = set()
    # Splitting on "|" would cut an escaped pipe (r"a\|b" is one literal): leave those to RE2.
    if "\\|" in body:
        return None
    for alternative in body.split("|"):
        literal = _unescape_literal(alternative)
        if literal is None:
            return None
        values.add(literal)
    return frozenset(values)


def _fast_match(pattern: str) -> Callable[[str], bool] | None:
    """A plain-Python matcher for ``.*``/``.+`` around one literal, or None for anything else."""
    if pattern == ".*":
        return lambda _value: True
    if pattern == ".+":
        return bool
    head, tail = pattern[:2], pattern[-2:]
    lead = head if head in (".*", ".+") else ""
    trail = tail if tail in (".*", ".+") and len(pattern) >= len(lead) + 2 else ""
    if not lead and not trail:
        return None
    # A trailing ".*" preceded by a backslash is an escaped dot followed by "*": not our shape.
    core = pattern[len(lead) : len(pattern) - len(trail)]
    if core.endswith("\\") or core == "":
        return None
    literal = _unescape_literal(core)
    if literal is None:
        return None
    size = len(literal)
    if lead == "" and trail == ".*":
        return lambda value: value.startswith(literal)
    if lead == "" and trail == ".+":
        return lambda value: len(value) > size and value.startswith(literal)
    if lead == ".*" and trail == "":
        return lambda value: value.endswith(literal)
    if lead == ".+" and trail == "":
        return lambda value: len(value) > size and value.endswith(literal)
    if lead == ".*" and trail == ".*":
        return lambda value: literal in value
    return None


def _re2_match(pattern: str) -> Callable[[str], bool]:
    """A full-match function backed by RE2 (linear time whatever the pattern)."""
    options = re2.Options()
    options.log_errors = False
    # RE2::Set runs the DFA without building match objects: ~2 µs per call instead of ~12 µs
    # for re2.fullmatch, which builds a Python match object through a generator.
    regex_set = re2.Set.FullMatchSet(options)
    regex_set.Add(f"(?s:{pattern})")
    regex_set.Compile()
    set_match = regex_set.Match
    return lambda value: bool(set_match(value))


@functools.lru_cache(maxsize=_REGEX_CACHE_SIZE)
def _compile_regex(pattern: str) -> _RegexPlan:
    """Validate ``pattern`` and choose how to match it; raises QueryError when it is invalid."""
    options = re2.Options()
    options.log_errors = False
    try:
        # Compiled alone first, so that "a)|(b" cannot sneak through the "(?s:...)" wrapper.
        re2.compile(pattern, options)
    except re2.error as exc:
        raise ValueError(_re2_message(exc)) from None
    except UnicodeEncodeError:
        raise ValueError("pattern is not valid UTF-8") from None
    literals = _literal_alternatives(pattern)
    if literals is not None:
        if len(literals) == 1:
            (only,) = literals
            return _RegexPlan(only.__eq__, literals)
        return _RegexPlan(literals.__contains__, literals)
    fast = _fast_match(pattern)
    return _RegexPlan(fast if fast is not None else _re2_match(pattern), None)


def _re2_message(exc: BaseException) -> str:
    detail = exc.args[0] if exc.args else ""
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    text = str(detail)
    # RE2 phrases errors as "missing ): (" with the offending fragment last; keep the reason.
    reason, _sep, _fragment = text.partition(": ")
    return reason or "cannot compile"


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def quote_string(text: str) -> str:
    """``text`` as a double-quoted PromQL string literal (Go ``strconv.Quote`` escaping)."""
    out = ['"']
    for ch in text:
        escaped = _GO_ESCAPES.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _negate(match: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda value: not match(value)


def _is_legacy_name(name: str) -> bool:
    first = name[:1]
    return name.isascii() and (first.isalpha() or first == "_") and name.replace("_", "a").isalnum()


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher such as ``job=~"api|web"``; immutable, hashable, compared by text.

    Construction validates the name and compiles a regex once; an invalid regex raises
    ``QueryError``. ``matches("")`` answers for series that lack the label.
    """

    type: MatchType
    name: str
    value: str
    _match: Callable[[str], bool] = field(init=False, repr=False, compare=False, hash=False)
    _literals: frozenset[str] | None = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.type, MatchType):
            raise TypeError(f"matcher type must be a MatchType, not {type(self.type).__name__}")
        if not isinstance(self.name, str) or not isinstance(self.value, str):
            raise TypeError("matcher name and value must be str")
        if self.name == "":
            raise QueryError(f"invalid matcher {self}: empty label name")
        match: Callable[[str], bool]
        literals: frozenset[str] | None
        if self.type in (MatchType.EQ, MatchType.NEQ):
            literals = frozenset((self.value,))
            match = self.value.__eq__
        else:
            try:
                plan = _compile_regex(self.value)
            except ValueError as exc:
                raise QueryError(f"invalid regular expression in matcher {self}: {exc}") from None
            literals, match = plan.literals, plan.match
        if self.type in (MatchType.NEQ, MatchType.NRE):
            match = _negate(match)
        object.__setattr__(self, "_match", match)
        object.__setattr__(self, "_literals", literals)

    # Pickle and copy by the three public fields; the compiled matcher is rebuilt (and cached).
    def __reduce__(self) -> tuple[Any, ...]:
        return (Matcher, (self.type, self.name, self.value))

    def matches(self, value: str) -> bool:
        """Whether a series whose label ``name`` is ``value`` ("" when absent) is selected."""
        return self._match(value)

    @property
    def matches_empty(self) -> bool:
        """Whether series lacking the label are selected (``x=""``, ``x!="a"``, ``x=~".*"``)."""
        return self._match("")

    @property
    def is_negative(self) -> bool:
        """True for ``!=`` and ``!~``."""
        return self.type in (MatchType.NEQ, MatchType.NRE)

    @property
    def literal_values(self) -> frozenset[str] | None:
        """The finite set of values the positive form (``=``/``=~``) matches, when known.

        For ``=`` and ``!=`` it is ``{value}``; for a regex that is a literal or an alternation
        of literals it is those literals; otherwise None (the values must be scanned).
        """
        return self._literals

    def __str__(self) -> str:
        name = self.name if _is_legacy_name(self.name) else quote_string(self.name)
        return f"{name}{self.type.value}{quote_string(self.value)}"
