"""Readable reference of the exposition-format line tokenizer (twin of ``native/text_parse.c``).

The tokenizer splits a Prometheus text (0.0.4) or OpenMetrics 1.0 body into lines and gives each
line a kind; for samples it finds the raw series key (``name{labels}`` bytes, escapes untouched),
parses the value and timestamp, and numbers distinct keys in first-seen order by exact bytes. It
does not decode labels or metadata: ``obskit.ingest.exposition`` does that once per distinct key.
A per-line regex handles well-formed lines; anything it rejects goes through the character-level
scanner, which is the specification the C code mirrors (the parity test fuzzes both).

Values follow Prometheus' ``parseFloat`` (Go ``strconv.ParseFloat`` without ``p``, ``P``, ``_``):
decimal floats, ``[+-]Inf``/``Infinity`` and ``NaN`` in any case; overflow is an error; every NaN
becomes Prometheus' ``value.NormalNaN``. Text timestamps are ``-?[0-9]+`` int64 ms (Prometheus'
lexer takes digits only, but the format document's own example is negative);
OpenMetrics timestamps are float seconds, ``int64(seconds * 1000)`` truncated as Go converts.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from types import ModuleType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "E_BLANK",
    "E_COMMENT",
    "E_EXEMPLAR",
    "E_LABELS",
    "E_META",
    "E_START",
    "E_TRAILING",
    "E_TS",
    "E_VALUE",
    "E_VALUE_MISSING",
    "K_EOF",
    "K_HELP",
    "K_IGNORED",
    "K_SAMPLE",
    "K_SAMPLE_TS",
    "K_TYPE",
    "K_UNIT",
    "NORMAL_NAN_BITS",
    "ExpositionTokens",
    "count_lines",
    "parse_float",
    "scan_line",
    "select",
    "tokenize_exposition",
]

# Line kinds (int8). Errors are >= E_START; their span columns 2..3 hold the offending token.
K_IGNORED = 0  # blank line or plain comment (text format)
K_SAMPLE = 1  # sample without timestamp
K_SAMPLE_TS = 2  # sample with timestamp
K_HELP = 3  # spans: metric name (inside quotes if quoted), help text
K_TYPE = 4
K_UNIT = 5
K_EOF = 6  # "# EOF" (OpenMetrics only)
E_START = 16  # a line must start with a metric name, '{' or '#'
E_LABELS = 17  # label set not closed on its line
E_VALUE_MISSING = 18
E_VALUE = 19
E_TS = 20
E_TRAILING = 21
E_META = 22  # HELP/TYPE/UNIT without a valid metric name
E_COMMENT = 23  # OpenMetrics allows only HELP, TYPE, UNIT and EOF comments
E_BLANK = 24  # OpenMetrics allows no blank lines
E_EXEMPLAR = 25

NORMAL_NAN_BITS = 0x7FF8000000000001  # Prometheus' value.NormalNaN (Go's math.NaN())
_NORMAL_NAN = float(np.array([NORMAL_NAN_BITS], dtype=np.uint64).view(np.float64)[0])
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_TWO63 = 9223372036854775808.0

_FLOAT = re.compile(
    rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z"
    rb"|(?P<inf>[+-]?(?i:inf(?:inity)?))\Z|(?P<nan>(?i:nan))\Z"
)
_QSTR = rb'"(?:\\[^\n]|[^\\"\n])*+"'
_BRACES = rb"\{(?:[^\"}\n]|" + _QSTR + rb")*+\}"
_NAME = rb"[a-zA-Z_:][a-zA-Z0-9_:]*+"
# Well-formed sample lines; anything else goes through _scan_line for its exact error.
_TEXT_LINE = re.compile(
    rb"[ \t]*+((?:" + _NAME + rb"(?:[ \t]*+" + _BRACES + rb")?+|" + _BRACES + rb"))"
    rb"[ \t]*+([^ \t\n{]++)(?:[ \t]++(-?[0-9]++))?+[ \t]*+\Z"
)
_OM_LINE = re.compile(
    rb"((?:" + _NAME + rb"(?:" + _BRACES + rb")?+|" + _BRACES + rb")) ([^ \n]++)"
    rb"(?: ([^ \n#][^ \n]*+))?+\Z"
)


class ExpositionTokens(NamedTuple):
    """Per line (``n`` lines): kind, spans ``(n, 4)`` int64, value, timestamp, key id (-1 when
    not a sample); per distinct key: the line where it first appears."""

    kinds: npt.NDArray[np.int8]
    spans: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    timestamps_ms: npt.NDArray[np.int64]
    key_ids: npt.NDArray[np.int64]
    key_lines: npt.NDArray[np.int64]


def count_lines(text: bytes) -> int:
    """Lines in ``text``: a final newline ends the last line rather than starting an empty one."""
    n = text.count(b"\n")
    return n + 1 if text and not text.endswith(b"\n") else n


def parse_float(tok: bytes) -> float | None:
    """Prometheus' value syntax; None when invalid (including overflow to infinity)."""
    m = _FLOAT.match(tok)
    if m is None:
        return None
    if m.group("nan") is not None:
        return _NORMAL_NAN
    v = float(tok)
    if math.isinf(v) and m.group("inf") is None:
        return None  # Go's ParseFloat reports overflow as an error, and Prometheus rejects it
    return v


def _om_ts(tok: bytes) -> int | None:
    s = parse_float(tok)
    if s is None or math.isnan(s) or math.isinf(s):
        return None
    ms = s * 1000.0
    if not -_TWO63 <= ms < _TWO63:
        return None
    return int(ms)


def _text_ts(tok: bytes) -> int | None:
    neg = tok.startswith(b"-")
    digits = tok[neg:].lstrip(b"0")
    if len(digits) > 19:  # also keeps int() clear of its 4300-digit limit
        return None
    t = int(digits or b"0")
    t = -t if neg else t
    return t if _INT64_MIN <= t <= _INT64_MAX else None


# ---- character-level scanner: the specification --------------------------------------------

_Line = tuple[int, int, int, int, int, float, int]  # kind, s0, s1, s2, s3, value, ts
_WS = b" \t"
_NAME_START = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:")
_NAME_CHAR = _NAME_START | frozenset(b"0123456789")
_DIGITS = frozenset(b"0123456789")


def _err(code: int, a: int, b: int) -> _Line:
    return (code, 0, 0, a, b, 0.0, 0)


def _braces(b: bytes, j: int, hi: int) -> int:
    """End (after '}') of the label set opening at ``b[j] == '{'``, or -1 if not closed."""
    k = j + 1
    while k < hi:
        c = b[k]
        if c == 0x22:  # '"'
            k += 1
            while True:
                if k >= hi:
                    return -1
                c = b[k]
                if c == 0x5C:  # '\\'
                    if k + 1 >= hi:
                        return -1
                    k += 2
                elif c == 0x22:
                    k += 1
                    break
                else:
                    k += 1
        elif c == 0x7D:  # '}'
            return k + 1
        else:
            k += 1
    return -1


def _meta_name(b: bytes, i: int, hi: int) -> tuple[int, int, int]:
    """(start, end, next) of a metric name at i, bare or quoted (no quotes); start -1: none."""
    if i < hi and b[i] == 0x22:
        k = i + 1
        while k < hi:
            if b[k] == 0x5C:
                k += 2
            elif b[k] == 0x22:
                return i + 1, k, k + 1
            else:
                k += 1
        return -1, 0, 0
    if i < hi and b[i] in _NAME_START:
        k = i + 1
        while k < hi and b[k] in _NAME_CHAR:
            k += 1
        return i, k, k
    return -1, 0, 0


def _scan_comment(b: bytes, i: int, hi: int, om: bool) -> _Line:
    lo = i
    i += 1  # '#'
    if om:
        if i >= hi or b[i] != 0x20:
            return _err(E_COMMENT, lo, hi)
        i += 1
        if b[i:hi] == b"EOF":
            return (K_EOF, 0, 0, 0, 0, 0.0, 0)
        word = b[i : i + 5]
        kind = {b"HELP ": K_HELP, b"TYPE ": K_TYPE, b"UNIT ": K_UNIT}.get(word)
        if kind is None:
            return _err(E_COMMENT, lo, hi)
        i += 5
    else:
        if i >= hi or b[i] not in _WS:
            return (K_IGNORED, 0, 0, 0, 0, 0.0, 0)
        while i < hi and b[i] in _WS:
            i += 1
        word = b[i : i + 4]
        if word not in (b"HELP", b"TYPE") or i + 4 >= hi or b[i + 4] not in _WS:
            return (K_IGNORED, 0, 0, 0, 0, 0.0, 0)
        kind = K_HELP if word == b"HELP" else K_TYPE
        i += 4
        while i < hi and b[i] in _WS:
            i += 1
    ns, ne, k = _meta_name(b, i, hi)
    if ns < 0:
        return _err(E_META, i, hi)
    if k == hi:
        return (kind, ns, ne, hi, hi, 0.0, 0)
    if b[k] == 0x20 or (not om and b[k] == 0x09):
        return (kind, ns, ne, k + 1, hi, 0.0, 0)
    return _err(E_META, i, hi)


def _exemplar_ok(b: bytes, i: int, hi: int) -> bool:
    """`{labels} value[ timestamp]` from i to the end of the line (labels are not decoded)."""
    if i >= hi or b[i] != 0x7B:
        return False
    k = _braces(b, i, hi)
    if k < 0 or k >= hi or b[k] != 0x20:
        return False
    parts = b[k + 1 : hi].split(b" ")
    if len(parts) > 2 or parse_float(parts[0]) is None:
        return False
    return len(parts) == 1 or _om_ts(parts[1]) is not None


def scan_line(b: bytes, lo: int, hi: int, om: bool) -> _Line:
    """Tokenize line ``b[lo:hi]`` (no newline) character by character."""
    i = lo
    if not om:
        while i < hi and b[i] in _WS:
            i += 1
    if i == hi:
        return _err(E_BLANK, lo, hi) if om else (K_IGNORED, 0, 0, 0, 0, 0.0, 0)
    c = b[i]
    if c == 0x23:  # '#'
        return _scan_comment(b, i, hi, om)
    ks = i
    if c in _NAME_START:
        i += 1
        while i < hi and b[i] in _NAME_CHAR:
            i += 1
        j = i
        if not om:
            while j < hi and b[j] in _WS:
                j += 1
        if j < hi and b[j] == 0x7B:
            i = _braces(b, j, hi)
            if i < 0:
                return _err(E_LABELS, j, hi)
    elif c == 0x7B:  # '{'
        i = _braces(b, i, hi)
        if i < 0:
            return _err(E_LABELS, ks, hi)
    else:
        return _err(E_START, i, i + 1)
    ke = i
    if om:
        if i >= hi or b[i] != 0x20:
            return _err(E_VALUE_MISSING, i, min(i + 1, hi))
        i += 1
        vs = i
        while i < hi and b[i] != 0x20:
            i += 1
    else:
        while i < hi and b[i] in _WS:
            i += 1
        vs = i
        while i < hi and b[i] not in b" \t{":
            i += 1
    ve = i
    if vs == ve:
        return _err(E_VALUE_MISSING, vs, min(vs + 1, hi))
    value = parse_float(b[vs:ve])
    if value is None:
        return _err(E_VALUE, vs, ve)
    if om:
        if i == hi:
            return (K_SAMPLE, ks, ke, vs, ve, value, 0)
        i += 1  # the space that ended the value
        if b[i : i + 2] == b"# ":
            if not _exemplar_ok(b, i + 2, hi):
                return _err(E_EXEMPLAR, i, hi)
            return (K_SAMPLE, ks, ke, vs, ve, value, 0)
        ts_s = i
        while i < hi and b[i] != 0x20:
            i += 1
        ts = _om_ts(b[ts_s:i]) if i > ts_s else None
        if ts is None:
            return _err(E_TS, ts_s, i)
        if i < hi:
            if b[i : i + 3] != b" # ":
                return _err(E_TRAILING, i, hi)
            if not _exemplar_ok(b, i + 3, hi):
                return _err(E_EXEMPLAR, i + 1, hi)
        return (K_SAMPLE_TS, ks, ke, vs, ve, value, ts)
    while i < hi and b[i] in _WS:
        i += 1
    if i == hi:
        return (K_SAMPLE, ks, ke, vs, ve, value, 0)
    ts_s = i
    if b[i] == 0x2D:  # '-': the format's own example has a negative timestamp
        i += 1
    while i < hi and b[i] in _DIGITS:
        i += 1
    if i == ts_s or b[i - 1] == 0x2D:
        e = ts_s
        while e < hi and b[e] not in _WS:
            e += 1
        return _err(E_TS, ts_s, e)
    tsv = _text_ts(b[ts_s:i])
    if tsv is None:
        return _err(E_TS, ts_s, i)
    ts_e = i
    while i < hi and b[i] in _WS:
        i += 1
    if i < hi:
        return _err(E_TRAILING, ts_e if b[ts_e] not in _WS else i, hi)
    return (K_SAMPLE_TS, ks, ke, vs, ve, value, tsv)


def _fast_line(b: bytes, lo: int, hi: int, om: bool) -> _Line | None:
    """The regex path for well-formed sample lines; None means "ask scan_line"."""
    m = (_OM_LINE if om else _TEXT_LINE).match(b, lo, hi)
    if m is None or m.end() != hi:
        return None
    value = parse_float(m.group(2))
    if value is None:
        return None
    ks, ke = m.span(1)
    vs, ve = m.span(2)
    tok = m.group(3)
    if tok is None:
        return (K_SAMPLE, ks, ke, vs, ve, value, 0)
    ts = _om_ts(tok) if om else _text_ts(tok)
    if ts is None:
        return None
    return (K_SAMPLE_TS, ks, ke, vs, ve, value, ts)


def tokenize_exposition(text: bytes, openmetrics: bool) -> ExpositionTokens:
    """Tokenize every line of ``text``; see the module docstring."""
    n = count_lines(text)
    kinds = np.zeros(n, dtype=np.int8)
    spans = np.zeros((n, 4), dtype=np.int64)
    values = np.zeros(n, dtype=np.float64)
    ts = np.zeros(n, dtype=np.int64)
    key_ids = np.full(n, -1, dtype=np.int64)
    keys: dict[bytes, int] = {}
    key_lines: list[int] = []
    lo = 0
    for line in range(n):
        hi = text.find(b"\n", lo)
        if hi < 0:
            hi = len(text)
        r: _Line | None = None
        if lo < hi and text[lo] != 0x23:  # '#'
            r = _fast_line(text, lo, hi, openmetrics)
        if r is None:
            r = scan_line(text, lo, hi, openmetrics)
        kind = r[0]
        kinds[line] = kind
        spans[line] = r[1:5]
        values[line] = r[5]
        ts[line] = r[6]
        if kind in (K_SAMPLE, K_SAMPLE_TS):
            key = text[r[1] : r[2]]
            kid = keys.setdefault(key, len(keys))
            if kid == len(key_lines):
                key_lines.append(line)
            key_ids[line] = kid
        lo = hi + 1
    return ExpositionTokens(kinds, spans, values, ts, key_ids, np.array(key_lines, dtype=np.int64))


_SEED = int.from_bytes(os.urandom(8), "little")  # keys hash with a per-process seed: no flooding


def select(native: ModuleType | None) -> Callable[[bytes, bool], ExpositionTokens]:
    """The C tokenizer of ``native`` (``kernels/__init__.py`` passes the extension), or this
    module's reference when there is none."""
    if native is None or not hasattr(native, "tokenize_exposition"):
        return tokenize_exposition
    fn = native.tokenize_exposition

    def tokenize_exposition_native(text: bytes, openmetrics: bool) -> ExpositionTokens:
        if not isinstance(text, bytes):
            raise TypeError(f"text must be bytes, not {type(text).__name__}")
        n = count_lines(text)
        kinds = np.zeros(n, dtype=np.int8)
        spans = np.zeros((n, 4), dtype=np.int64)
        values = np.zeros(n, dtype=np.float64)
        ts = np.zeros(n, dtype=np.int64)
        key_ids = np.full(n, -1, dtype=np.int64)
        key_lines = np.empty(n, dtype=np.int64)
        n_keys: int = fn(
            text, int(openmetrics), _SEED, kinds, spans, values, ts, key_ids, key_lines
        )
        return ExpositionTokens(kinds, spans, values, ts, key_ids, key_lines[:n_keys].copy())

    return tokenize_exposition_native
