"""Prometheus text exposition (0.0.4) and OpenMetrics 1.0 bodies parsed into numpy columns.

Lines are tokenized by ``kernels.tokenize_exposition`` (C, or its pure-Python twin): one call
finds every line's raw series key, value and timestamp and numbers distinct keys by their bytes,
as Prometheus' scrape cache does. Python then decodes each distinct key once (``series_key``),
reads HELP/TYPE/UNIT lines, and maps keys to validated label sets; samples stay numpy columns.

Text vs OpenMetrics (Prometheus' parsers): text allows blanks between tokens, blank lines and
free comments, and takes integer millisecond timestamps; OpenMetrics wants single spaces, float
second timestamps, only HELP/TYPE/UNIT/EOF comments and a final ``# EOF``; exemplars after
`` # `` are checked and dropped; ``_created`` series are kept as ordinary samples.

Errors (the partial-write rule): with ``strict=True`` the first bad line raises
``IngestError("line 17: ...")`` and nothing is returned. With ``strict=False`` bad lines are
skipped, each described in ``ParsedSamples.errors`` (a missing ``# EOF`` too), and every valid
line is returned; a server may write those and still answer 400 with the messages.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from obskit import kernels
from obskit.errors import IngestError, InvalidSeriesError
from obskit.ingest.parsed import (
    ParsedSamples,
    SeriesTable,
    check_extra_labels,
    raise_or_collect,
)
from obskit.ingest.series_key import decode_key, unescape
from obskit.kernels import exposition_lines as k

__all__ = ["detect_openmetrics", "parse_exposition"]

_TEXT_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
_OM_TYPES = {
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
    "unknown",
}
_MESSAGES = {
    k.E_START: "expected a metric name, '{' or '#' at",
    k.E_LABELS: "label set not closed on its line:",
    k.E_VALUE_MISSING: "expected a value after the series, got",
    k.E_VALUE: "invalid value",
    k.E_TS: "invalid timestamp",
    k.E_TRAILING: "unexpected text after the sample:",
    k.E_META: "expected a metric name after HELP/TYPE/UNIT, got",
    k.E_COMMENT: "openmetrics allows only HELP, TYPE, UNIT and EOF comments, got",
    k.E_BLANK: "openmetrics allows no blank lines",
    k.E_EXEMPLAR: "invalid exemplar",
}
_SHOW_BYTES = 64  # enough of a bad token to recognise it; a 100 MB line stays out of the message


def detect_openmetrics(text: bytes) -> bool:
    """True when the body ends with ``# EOF`` (what an OpenMetrics exposition must do)."""
    return text.rstrip(b"\n").endswith(b"# EOF")


def _show(text: bytes, a: int, b: int) -> str:
    tok = text[a : min(b, a + _SHOW_BYTES)]
    more = "..." if b - a > _SHOW_BYTES else ""
    return repr(tok.decode("utf-8", "replace")) + more


def parse_exposition(
    text: bytes,
    default_ts_ms: int,
    *,
    openmetrics: bool | None = None,
    extra_labels: Mapping[str, str] = {},
    strict: bool = True,
) -> ParsedSamples:
    """Parse a text-format or OpenMetrics body (``openmetrics=None`` detects it by ``# EOF``).

    Samples without a timestamp get ``default_ts_ms``. ``extra_labels`` are added to every
    series and override the body's labels of the same name. See the module docstring for
    ``strict``.
    """
    if not isinstance(text, bytes):
        raise IngestError(f"exposition body must be bytes, not {type(text).__name__}")
    om = detect_openmetrics(text) if openmetrics is None else openmetrics
    table = SeriesTable(check_extra_labels(extra_labels))
    tok = kernels.tokenize_exposition(text, om)
    kinds, spans = tok.kinds, tok.spans
    errors: list[tuple[int, str]] = []
    n = len(kinds)
    end = n  # lines at or after `end` are dropped (after "# EOF")
    if om:
        eof = np.flatnonzero(kinds == k.K_EOF)
        if eof.size == 0:
            errors.append((n + 1 if n else 1, "data does not end with # EOF"))
        else:
            end = int(eof[0])
            errors.extend((int(i) + 1, "unexpected data after # EOF") for i in range(end + 1, n))
    bad = np.flatnonzero(kinds[:end] >= k.E_START)
    for i in bad.tolist():
        a, b = int(spans[i, 2]), int(spans[i, 3])
        code = int(kinds[i])
        msg = _MESSAGES[code]
        if code != k.E_BLANK:
            msg = f"{msg} {_show(text, a, b)}"
        errors.append((i + 1, msg))
    metadata = _read_metadata(text, tok.kinds[:end], spans, om, errors)

    # One decode per distinct raw key; -1 marks a key whose label set is invalid.
    key_series = np.empty(len(tok.key_lines), dtype=np.int64)
    key_error: dict[int, str] = {}
    for key, line in enumerate(tok.key_lines.tolist()):
        raw = text[spans[line, 0] : spans[line, 1]]
        try:
            key_series[key] = table.add(decode_key(raw, om))
        except (ValueError, InvalidSeriesError) as exc:
            key_series[key] = -1
            key_error[key] = str(exc)
    sample = np.flatnonzero((kinds[:end] == k.K_SAMPLE) | (kinds[:end] == k.K_SAMPLE_TS))
    series_index = key_series[tok.key_ids[sample]]
    if key_error:
        bad_samples = sample[series_index < 0]
        errors.extend((int(i) + 1, key_error[int(tok.key_ids[i])]) for i in bad_samples.tolist())
        sample = sample[series_index >= 0]
        series_index = series_index[series_index >= 0]
    timestamps = np.where(
        kinds[sample] == k.K_SAMPLE_TS, tok.timestamps_ms[sample], np.int64(default_ts_ms)
    ).astype(np.int64, copy=False)
    msgs = raise_or_collect(errors, strict)
    return ParsedSamples(
        series=table.series,
        series_index=series_index.astype(np.int64, copy=False),
        timestamps_ms=timestamps,
        values=tok.values[sample],
        metadata=metadata,
        errors=msgs,
    )


def _read_metadata(
    text: bytes,
    kinds: np.ndarray,
    spans: np.ndarray,
    om: bool,
    errors: list[tuple[int, str]],
) -> dict[str, tuple[str, str]]:
    """HELP/TYPE (and, checked then dropped, UNIT) lines -> {family: (type, help)}."""
    types: dict[str, str] = {}
    helps: dict[str, str] = {}
    lines = np.flatnonzero((kinds >= k.K_HELP) & (kinds <= k.K_UNIT))
    for i in lines.tolist():
        kind = int(kinds[i])
        try:
            name = unescape(text[spans[i, 0] : spans[i, 1]], "metric name")
            body = text[spans[i, 2] : spans[i, 3]]
            if kind == k.K_HELP:
                helps[name] = unescape(body, "help text", help_text=True, openmetrics=om)
            elif kind == k.K_TYPE:
                typ = body.decode("utf-8", "replace")
                if typ not in (_OM_TYPES if om else _TEXT_TYPES):
                    raise ValueError(f"invalid metric type {typ!r}")
                types[name] = "unknown" if typ == "untyped" else typ
            else:
                unit = unescape(body, "unit")
                if unit and not name.endswith("_" + unit):
                    raise ValueError(f"unit {unit!r} is not a suffix of metric {name!r}")
        except ValueError as exc:
            errors.append((i + 1, str(exc)))
    return {
        name: (types.get(name, "unknown"), helps.get(name, ""))
        for name in dict.fromkeys([*types, *helps])
    }
