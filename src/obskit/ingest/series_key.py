"""Decode one raw exposition series key (``name{a="b",...}`` bytes) into label pairs.

Called once per distinct key of a body, not per sample. Follows Prometheus 3's ``parseLVals``:
label names bare or quoted (UTF-8), a quoted string followed by ``,`` or ``}`` is the metric
name, values are quoted with the escapes ``\\\\``, ``\\"`` and ``\\n`` (any other backslash stays
as written, as Prometheus' replacer leaves it). The text format allows blanks between tokens and
omitted commas; OpenMetrics allows neither. Problems raise ``ValueError`` with a lowercase message.
"""

from __future__ import annotations

import re

from obskit.model.labels import METRIC_NAME

__all__ = ["decode_key", "unescape"]

_SIMPLE = re.compile(
    rb'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")'
    rb'(?:,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*,?)?\})?\Z'
)
_PAIR = re.compile(rb'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')
_TOKEN = re.compile(
    rb'(?P<ws>[ \t]+)|(?P<q>"(?:\\[^\n]|[^\\"\n])*")|(?P<n>[a-zA-Z_][a-zA-Z0-9_]*)'
    rb"|(?P<p>[=,}])"
)
_BARE = re.compile(rb"[a-zA-Z_:][a-zA-Z0-9_:]*")
_ESCAPE = re.compile(rb"\\(.)", re.S)
_HELP_ESCAPE = re.compile(rb"\\([\\n])")
_HELP_ESCAPE_OM = re.compile(rb'\\([\\n"])')
_UNESCAPED = {b"\\": b"\\", b'"': b'"', b"n": b"\n"}


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what} {raw!r} is not valid utf-8") from None


def unescape(raw: bytes, what: str, *, help_text: bool = False, openmetrics: bool = False) -> str:
    """Decode escapes (label values and names; ``help_text`` for HELP lines) and UTF-8."""
    if b"\\" in raw:
        if help_text:
            pattern = _HELP_ESCAPE_OM if openmetrics else _HELP_ESCAPE
            raw = pattern.sub(lambda m: _UNESCAPED[m.group(1)], raw)
        else:
            raw = _ESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(0)), raw)
    return _decode(raw, what)


def _tokens(raw: bytes, pos: int, om: bool) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    end = len(raw)
    while pos < end:
        m = _TOKEN.match(raw, pos)
        if m is None:
            raise ValueError(f"unexpected character {raw[pos : pos + 1]!r} in label set")
        kind = m.lastgroup
        assert kind is not None
        if kind == "ws":
            if om:
                raise ValueError("openmetrics allows no blanks in a label set")
        else:
            out.append((kind, m.group()))
        pos = m.end()
    return out


def decode_key(raw: bytes, om: bool) -> list[tuple[str, str]]:
    """Label pairs (``__name__`` first) of the series key ``raw``; ``ValueError`` if invalid."""
    m = _SIMPLE.match(raw)
    if m is not None:
        simple = [(METRIC_NAME, m.group(1).decode("ascii"))]
        if m.group(2):
            for lname, value in _PAIR.findall(m.group(2)):
                simple.append((lname.decode("ascii"), _decode(value, "label value")))
        return simple
    name: str | None = None
    pos = 0
    bare = _BARE.match(raw)
    if bare is not None:
        name = bare.group().decode("ascii")
        pos = bare.end()
        while not om and raw[pos : pos + 1] in (b" ", b"\t"):
            pos += 1
        if pos == len(raw):
            return [(METRIC_NAME, name)]
    if raw[pos : pos + 1] != b"{" or not raw.endswith(b"}"):
        raise ValueError("label set must be enclosed in braces")
    pairs: list[tuple[str, str]] = []
    toks = _tokens(raw, pos + 1, om)
    i = 0

    def nxt() -> tuple[str, bytes]:
        nonlocal i
        i += 1
        return toks[i] if i < len(toks) else ("end", b"")

    t = toks[0] if toks else ("end", b"")
    while True:
        kind, text = t
        if kind == "p" and text == b"}":
            break
        if kind not in ("n", "q"):
            raise ValueError(f"expected label name, got {text.decode('utf-8', 'replace')!r}")
        t2 = nxt()
        if kind == "q" and t2[0] == "p" and t2[1] in (b",", b"}"):
            if name is not None:
                raise ValueError("metric name already set")
            name = unescape(text[1:-1], "metric name")
            if t2[1] == b"}":
                break
            t = nxt()
            continue
        lname = unescape(text[1:-1], "label name") if kind == "q" else text.decode("ascii")
        if t2 != ("p", b"="):
            raise ValueError(f"expected '=' after label name {lname!r}")
        t3 = nxt()
        if t3[0] != "q":
            raise ValueError(f"expected a quoted value for label {lname!r}")
        pairs.append((lname, unescape(t3[1][1:-1], f"value of label {lname!r}")))
        t = nxt()
        if t == ("p", b","):
            t = nxt()
        elif om and t != ("p", b"}"):
            raise ValueError("expected ',' or '}' after a label value")
    if i != len(toks) - 1:
        raise ValueError("unexpected text after the label set")
    if name is None:
        raise ValueError("metric name not set")
    return [(METRIC_NAME, name), *pairs]
