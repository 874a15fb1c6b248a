"""A pass over the query text for Prometheus 3.x syntax that ``promql-parser`` cannot parse.

* Duration expressions (``x[5m+1m]``, ``x[step()]``, ``x offset (1m*2)``, ``x @ (100+5)``) are
  folded into plain literals, so they need the query's step and range (0 for instant queries).
* The ``anchored``/``smoothed`` modifiers become calls of functions registered with
  ``promql-parser`` (``MODIFIER_FUNCTIONS``) wrapped around the selector they follow.

Text inside string literals and label matchers is never touched. Evaluating the modifiers lives
in ``extended.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import promql_parser as pp

from obskit.errors import ParseError

__all__ = ["MODIFIER_FUNCTIONS", "Rewritten", "rewrite"]

# Function name -> (modifier, applies to a range selector). Registered once with promql-parser.
MODIFIER_FUNCTIONS = {
    "__obskit_anchored_range__": ("anchored", True),
    "__obskit_smoothed_range__": ("smoothed", True),
    "__obskit_anchored__": ("anchored", False),
    "__obskit_smoothed__": ("smoothed", False),
}
pp.register_extra_functions(
    [
        *(
            pp.Function(name, [kind], kind, False, False)
            for name, (_, is_range) in MODIFIER_FUNCTIONS.items()
            for kind in [pp.ValueType.Matrix if is_range else pp.ValueType.Vector]
        ),
        # Prometheus 2.x's name of double_exponential_smoothing, still used by older rules.
        pp.Function(
            "holt_winters",
            [pp.ValueType.Matrix, pp.ValueType.Scalar, pp.ValueType.Scalar],
            pp.ValueType.Vector,
            False,
            False,
        ),
    ]
)

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+)(?![\w.])
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][\w:]*)
  | (?P<op>[=!]~|[=!<>]=|.)
    """,
    re.VERBOSE | re.DOTALL,
)
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_DURATION_FUNCS = ("step", "range", "min_of", "max_of")
_SELECTOR_END = ("]", "}", ")")
# Text that may need this pass, tested cheaply first (most queries need nothing; a false
# positive only costs the full pass).
_MAYBE_WORDS = ("anchored", "smoothed", "step", "range", "min_of", "max_of", "@")
_MAYBE_EXTENDED = re.compile(r"\[[^\]]*[-+*/%^(]|offset\s*[-+(]")


@dataclass(slots=True)
class _Tok:
    kind: str
    text: str
    pos: int  # offset in the original query
    changed: bool = False  # text differs from the original at pos


@dataclass(frozen=True, slots=True)
class Rewritten:
    """The rewritten query and how to map its offsets back to the original text."""

    text: str
    pieces: tuple[tuple[int, int, bool], ...]  # (offset in text, original offset, changed)
    folded: bool = False  # a duration expression was folded

    def original_offset(self, offset: int) -> int:
        best = (0, 0, False)
        for piece in self.pieces:
            if piece[0] > offset:
                break
            best = piece
        start, orig, changed = best
        return orig if changed else orig + (offset - start)


def _tokenize(query: str) -> list[_Tok]:
    return [
        _Tok(m.lastgroup or "op", m.group(), m.start()) for m in _TOKEN.finditer(query) if m.group()
    ]


def rewrite(query: str, step_ms: int = 0, range_ms: int = 0) -> Rewritten:
    """``query`` in syntax promql-parser accepts; ``ParseError`` for bad duration arithmetic or a
    misplaced modifier."""
    lowered = query.lower()
    if not any(w in lowered for w in _MAYBE_WORDS) and not _MAYBE_EXTENDED.search(lowered):
        return Rewritten(query, ((0, 0, False),), False)
    toks = _tokenize(query)
    out: list[_Tok] = []
    fold = _Folder(query, step_ms / 1000.0, range_ms / 1000.0)
    braces = 0
    i = 0
    while i < len(toks):
        tok = toks[i]
        word = tok.text.lower() if tok.kind == "ident" else ""
        prev = _last_significant(out)
        if tok.text == "{":
            braces += 1
        elif tok.text == "}":
            braces = max(0, braces - 1)
        if braces or tok.kind in ("ws", "comment", "string"):
            out.append(tok)
            i += 1
        elif tok.text == "[":
            i = fold.brackets(toks, i, out)
        elif word == "offset" and _ends_selector(prev) and _starts_duration(toks, i + 1):
            out.append(tok)
            i = fold.operand(toks, i + 1, out, seconds=False)
        elif tok.text == "@" and _next_significant(toks, i + 1) == "(":
            out.append(tok)
            i = fold.operand(toks, i + 1, out, seconds=True)
        elif word in ("anchored", "smoothed") and _ends_selector(prev):
            _wrap_selector(query, out, word, tok.pos)
            i += 1
        else:
            out.append(tok)
            i += 1
    pieces = []
    text_parts = []
    offset = 0
    for t in out:
        pieces.append((offset, t.pos, t.changed))
        text_parts.append(t.text)
        offset += len(t.text)
    return Rewritten("".join(text_parts), tuple(pieces), fold.folded)


def _last_significant(out: list[_Tok]) -> _Tok | None:
    for t in reversed(out):
        if t.kind not in ("ws", "comment"):
            return t
    return None


def _next_significant(toks: list[_Tok], i: int) -> str:
    while i < len(toks) and toks[i].kind in ("ws", "comment"):
        i += 1
    return toks[i].text.lower() if i < len(toks) else ""


def _ends_selector(tok: _Tok | None) -> bool:
    if tok is None:
        return False
    return tok.text in _SELECTOR_END or tok.kind in ("ident", "number", "duration")


def _starts_duration(toks: list[_Tok], i: int) -> bool:
    nxt = _next_significant(toks, i)
    return bool(nxt) and (
        nxt in ("(", "-", "+") or nxt in _DURATION_FUNCS or nxt[0].isdigit() or nxt[0] == "."
    )


def _error(query: str, pos: int, message: str) -> ParseError:
    line = query.count("\n", 0, pos) + 1
    col = pos - (query.rfind("\n", 0, pos) + 1) + 1
    return ParseError(f"{line}:{col}: parse error: {message}", pos)


def _literal_ms(ms: int) -> str:
    if ms == 0:
        return "0"  # promql-parser rejects "0s" and "0ms" but reads a bare 0 as seconds
    return f"-{-ms}ms" if ms < 0 else f"{ms}ms"


class _Folder:
    """Evaluates duration expressions (in seconds, as Prometheus does) into literals."""

    def __init__(self, query: str, step_s: float, range_s: float) -> None:
        self.query = query
        self.step_s = step_s
        self.range_s = range_s
        self.folded = False

    def brackets(self, toks: list[_Tok], i: int, out: list[_Tok]) -> int:
        """``[a]`` or ``[a:b]`` starting at toks[i]; returns the index after ``]``."""
        depth = 0
        parts: list[list[_Tok]] = [[]]
        colon: _Tok | None = None
        j = i + 1
        while j < len(toks):
            t = toks[j]
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                depth -= 1
            elif t.text == "]" and depth <= 0:
                break
            elif t.text == ":" and depth == 0 and colon is None:
                colon = t
                parts.append([])
                j += 1
                continue
            parts[-1].append(t)
            j += 1
        if j >= len(toks):  # unclosed: let the parser report it
            out.extend(toks[i:])
            return len(toks)
        out.append(toks[i])
        for k, part in enumerate(parts):
            if k and colon is not None:
                out.append(colon)
            out.extend(self._fold(part, positive=True))
        out.append(toks[j])
        return j + 1

    def operand(self, toks: list[_Tok], i: int, out: list[_Tok], *, seconds: bool) -> int:
        """The operand of ``offset`` (a signed primary) or ``@`` (a parenthesised expression)."""
        j = i
        while j < len(toks) and toks[j].kind in ("ws", "comment"):
            out.append(toks[j])
            j += 1
        start = j
        while j < len(toks) and toks[j].text in ("-", "+"):
            j += 1
        while j < len(toks) and toks[j].kind == "ws":
            j += 1
        if j < len(toks) and toks[j].kind == "ident" and _next_significant(toks, j + 1) == "(":
            j += 1
            while toks[j].kind == "ws":
                j += 1
        if j < len(toks) and toks[j].text == "(":
            depth = 0
            while j < len(toks):
                depth += {"(": 1, ")": -1}.get(toks[j].text, 0)
                j += 1
                if depth == 0:
                    break
        elif j < len(toks):
            j += 1
        part = toks[start:j]
        if seconds:
            significant = [t for t in part if t.kind not in ("ws", "comment")]
            value = _Expr(self, significant, self.query).evaluate()
            self.folded = True
            out.append(_Tok("number", repr(value), part[0].pos, True))
        else:
            out.extend(self._fold(part, positive=False))
        return j

    def _fold(self, part: list[_Tok], *, positive: bool) -> list[_Tok]:
        significant = [t for t in part if t.kind not in ("ws", "comment")]
        plain = [t for t in significant if t.text != "-"]
        if not significant or (
            len(plain) == 1
            and plain[0].kind in ("number", "duration")
            and len(significant) <= 2
            and significant[-1] is plain[0]
        ):
            return part
        seconds = _Expr(self, significant, self.query).evaluate()
        self.folded = True
        ms = round(seconds * 1000)
        if positive and ms <= 0:
            raise _error(
                self.query,
                significant[0].pos,
                f"duration must be greater than 0, got {_literal_ms(ms)}",
            )
        return [_Tok("duration", _literal_ms(ms), significant[0].pos, True)]


class _Expr:
    """Recursive descent over one duration expression: + - * / % ^, unary signs, parentheses,
    numbers (seconds), durations, step(), range(), min_of(a, b, ...), max_of(a, b, ...)."""

    def __init__(self, folder: _Folder, toks: list[_Tok], query: str) -> None:
        self.folder = folder
        self.toks = toks
        self.query = query
        self.i = 0

    def evaluate(self) -> float:
        value = self.sum()
        if self.i < len(self.toks):
            raise self._fail(f"unexpected {self.toks[self.i].text!r} in duration expression")
        if not math.isfinite(value):
            raise self._fail("duration expression is not a finite number")
        return value

    def _fail(self, message: str) -> ParseError:
        pos = self.toks[min(self.i, len(self.toks) - 1)].pos if self.toks else 0
        return _error(self.query, pos, message)

    def _peek(self) -> str:
        return self.toks[self.i].text.lower() if self.i < len(self.toks) else ""

    def _take(self, text: str) -> None:
        if self._peek() != text:
            raise self._fail(f"expected {text!r} in duration expression")
        self.i += 1

    def sum(self) -> float:
        value = self.product()
        while self._peek() in ("+", "-"):
            op = self._peek()
            self.i += 1
            rhs = self.product()
            value = value + rhs if op == "+" else value - rhs
        return value

    def product(self) -> float:
        value = self.unary()
        ops: dict[str, Callable[[float, float], float]] = {
            "*": lambda a, b: a * b,
            "/": lambda a, b: a / b,
            "%": math.fmod,
        }
        while self._peek() in ops:
            op, at = self._peek(), self.i
            self.i += 1
            rhs = self.unary()
            if op in ("/", "%") and rhs == 0:
                self.i = at
                raise self._fail("division by zero in duration expression")
            value = ops[op](value, rhs)
        return value

    def unary(self) -> float:
        if self._peek() in ("-", "+"):
            negative = self._peek() == "-"
            self.i += 1
            value = self.unary()
            return -value if negative else value
        base = self.primary()
        if self._peek() == "^":
            self.i += 1
            exponent = self.unary()
            try:
                return float(base**exponent)
            except (OverflowError, ZeroDivisionError) as exc:
                raise self._fail(f"cannot raise {base} to {exponent}: {exc}") from exc
        return base

    def primary(self) -> float:
        if self.i >= len(self.toks):
            raise self._fail("duration expression ends too early")
        tok = self.toks[self.i]
        word = tok.text.lower()
        self.i += 1
        if tok.kind == "number":
            return float(int(tok.text, 16)) if word.startswith("0x") else float(tok.text)
        if tok.kind == "duration":
            return sum(int(n) * _UNIT_S[u] for n, u in _DURATION_PART.findall(tok.text))
        if tok.text == "(":
            value = self.sum()
            self._take(")")
            return value
        if word in ("step", "range"):
            self._take("(")
            self._take(")")
            return self.folder.step_s if word == "step" else self.folder.range_s
        if word in ("min_of", "max_of"):
            self._take("(")
            values = [self.sum()]
            while self._peek() == ",":
                self.i += 1
                values.append(self.sum())
            self._take(")")
            return min(values) if word == "min_of" else max(values)
        self.i -= 1
        raise self._fail(f"unexpected {tok.text!r} in duration expression")


def _wrap_selector(query: str, out: list[_Tok], modifier: str, pos: int) -> None:
    """Wrap the selector that ends ``out`` (with its offset/@ modifiers) in the modifier's
    function."""
    sig = [k for k, t in enumerate(out) if t.kind not in ("ws", "comment")]
    end = len(sig) - 1

    def text(k: int) -> str:
        return out[sig[k]].text.lower() if k >= 0 else ""

    k = end
    while k >= 0:  # offset/@ modifiers
        if out[sig[k]].kind in ("number", "duration"):
            j = k - 1
            if text(j) in ("-", "+"):
                j -= 1
            if text(j) in ("offset", "@"):
                k = j - 1
                continue
        at_start_end = text(k - 2) in ("start", "end") and text(k - 3) == "@"
        if text(k) == ")" and text(k - 1) == "(" and at_start_end:
            k -= 4
            continue
        break
    is_range = text(k) == "]"
    if is_range:
        depth = 0
        subquery = False
        while k >= 0:
            depth += {"]": 1, "[": -1}.get(text(k), 0)
            if text(k) == ":" and depth == 1:
                subquery = True
            if depth == 0:
                break
            k -= 1
        if subquery:
            raise _error(query, pos, f"{modifier} modifier is not supported for subqueries")
        k -= 1
    start = k
    if text(k) == "}":
        while k >= 0 and text(k) != "{":
            k -= 1
        start = k
        if k > 0 and out[sig[k - 1]].kind == "ident":
            start = k - 1
    elif k < 0 or out[sig[k]].kind != "ident":
        raise _error(query, pos, f"{modifier} modifier must follow a selector")
    name = f"__obskit_{modifier}_range__" if is_range else f"__obskit_{modifier}__"
    first, last = sig[start], sig[end]
    out.insert(last + 1, _Tok("op", ")", pos, True))
    out.insert(first, _Tok("ident", name + "(", out[first].pos, True))
