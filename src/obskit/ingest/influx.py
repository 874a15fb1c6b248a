"""Influx line protocol parsed into numpy columns, mapped to series as VictoriaMetrics does.

``measurement[,tag=v...] field=value[,field2=v2...] [timestamp]`` becomes one sample per numeric
field, of series ``{__name__="measurement_field", tag="v"...}`` (just ``field`` when the
measurement is empty). Floats, integers (``12i``), unsigned (``12u``) and booleans (``t``,
``true``... -> 1/0) are kept; string fields are skipped and counted in ``skipped``. Escapes:
``\\,`` ``\\=`` ``\\ `` in names, tags and field keys; ``\\"`` ``\\\\`` in string values.
Timestamps are integers in ``precision`` (ns, us, ms, s; Influx v1's n, u; also m, h), converted
to milliseconds truncating toward zero as Go's integer division does.

Errors (the partial-write rule): with ``strict=True`` the first bad line raises
``IngestError("line 17: ...")``; with ``strict=False`` bad lines are skipped and described in
``ParsedSamples.errors`` while every valid line is returned, so a server can write those and
still answer 400 with the messages. This parser loops in Python per line, caching series by raw
key bytes so label sets are built once per distinct series.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from obskit.errors import IngestError, InvalidSeriesError
from obskit.ingest.parsed import ParsedSamples, SeriesTable, check_extra_labels, raise_or_collect
from obskit.model.labels import METRIC_NAME

__all__ = ["PRECISIONS", "parse_influx"]

# Multiplier/divisor from the precision unit to milliseconds.
PRECISIONS: dict[str, tuple[int, int]] = {
    "ns": (1, 1_000_000),
    "n": (1, 1_000_000),
    "us": (1, 1_000),
    "u": (1, 1_000),
    "µs": (1, 1_000),
    "ms": (1, 1),
    "s": (1_000, 1),
    "m": (60_000, 1),
    "h": (3_600_000, 1),
}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# Possessive quantifiers keep every pattern linear on hostile input.
_LINE = re.compile(
    rb"((?:[^\\ ]|\\.)++) ((?:[^\\ \"]|\\.|\"(?:[^\\\"]|\\.)*+\")++)(?: (-?[0-9]++))?+ *+\Z", re.S
)
_MEASUREMENT = re.compile(rb"(?:[^\\,]|\\.)*+", re.S)
_PARTS = re.compile(rb"(?:[^\\,]|\\.)++", re.S)
_FIELDS = re.compile(rb"(?:[^\\,\"]|\\.|\"(?:[^\\\"]|\\.)*+\")++", re.S)
_KV = re.compile(rb"((?:[^\\=]|\\.)++)=(.*+)\Z", re.S)
_KEY_ESCAPE = re.compile(rb"\\([, =\\])")
_FLOAT = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_INT = re.compile(rb"[+-]?[0-9]+\Z")
_UINT = re.compile(rb"[0-9]+\Z")
_BOOLS = {
    b"t": 1.0, b"T": 1.0, b"true": 1.0, b"True": 1.0, b"TRUE": 1.0,
    b"f": 0.0, b"F": 0.0, b"false": 0.0, b"False": 0.0, b"FALSE": 0.0,
}  # fmt: skip


class _BadLine(ValueError):
    pass


def _key(raw: bytes, what: str) -> str:
    if b"\\" in raw:
        raw = _KEY_ESCAPE.sub(rb"\1", raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadLine(f"{what} {raw!r} is not valid utf-8") from None


def _field_value(raw: bytes, name: str) -> float | None:
    """The numeric value of a field; None for a string field."""
    if raw.startswith(b'"'):
        return None
    last = raw[-1:]
    if last == b"i" and _INT.match(raw, 0, len(raw) - 1):
        v = int(raw[:-1])
        if not _INT64_MIN <= v <= _INT64_MAX:
            raise _BadLine(f"integer field {name!r} out of range: {raw[:40]!r}")
        return float(v)
    if last == b"u" and _UINT.match(raw, 0, len(raw) - 1):
        u = int(raw[:-1])
        if u >= 2**64:
            raise _BadLine(f"unsigned field {name!r} out of range: {raw[:40]!r}")
        return float(u)
    b = _BOOLS.get(raw)
    if b is not None:
        return b
    if _FLOAT.match(raw):
        v_f = float(raw)
        if v_f in (float("inf"), float("-inf")):
            raise _BadLine(f"float field {name!r} out of range: {raw[:40]!r}")
        return v_f
    raise _BadLine(f"invalid value of field {name!r}: {raw[:40]!r}")


def _to_ms(ts: int, mul: int, div: int) -> int:
    if div != 1:
        q = abs(ts) // div
        return -q if ts < 0 else q
    return ts * mul


def parse_influx(
    body: bytes,
    default_ts_ms: int,
    *,
    precision: str = "ns",
    extra_labels: Mapping[str, str] = {},
    strict: bool = True,
) -> ParsedSamples:
    """Parse an Influx line-protocol body; see the module docstring."""
    if not isinstance(body, bytes):
        raise IngestError(f"influx body must be bytes, not {type(body).__name__}")
    if precision not in PRECISIONS:
        raise IngestError(f"unknown precision {precision!r}: expected one of {sorted(PRECISIONS)}")
    mul, div = PRECISIONS[precision]
    table = SeriesTable(check_extra_labels(extra_labels))
    cache: dict[tuple[bytes, bytes], int] = {}
    sids: list[int] = []
    tss: list[int] = []
    vals: list[float] = []
    errors: list[tuple[int, str]] = []
    strings = 0
    for lineno, line in enumerate(body.split(b"\n"), 1):
        line = line.rstrip(b"\r").lstrip(b" \t")
        if not line or line.startswith(b"#"):
            continue
        try:
            m = _LINE.match(line)
            if m is None:
                raise _BadLine(
                    "expected 'measurement[,tag=value...] field=value[,...] [timestamp]'"
                )
            series_raw, fields_raw, ts_raw = m.groups()
            if ts_raw is None:
                ts = default_ts_ms
            else:
                t = int(ts_raw) if len(ts_raw) <= 20 else _INT64_MAX + 1
                if not _INT64_MIN <= t <= _INT64_MAX:
                    raise _BadLine(f"timestamp out of range: {ts_raw[:40]!r}")
                ts = _to_ms(t, mul, div)
            row: list[tuple[int, float]] = []
            for fm in _FIELDS.finditer(fields_raw):
                kv = _KV.match(fm.group())
                if kv is None or not kv.group(2):
                    raise _BadLine(f"expected field=value, got {fm.group()[:40]!r}")
                value = _field_value(kv.group(2), kv.group(1).decode("utf-8", "replace"))
                if value is None:
                    strings += 1
                    continue
                ck = (series_raw, kv.group(1))
                sid = cache.get(ck)
                if sid is None:
                    sid = cache[ck] = table.add(_labels(series_raw, kv.group(1)))
                row.append((sid, value))
        except (_BadLine, InvalidSeriesError) as exc:
            errors.append((lineno, str(exc)))
            continue
        for sid, value in row:
            sids.append(sid)
            tss.append(ts)
            vals.append(value)
    msgs = raise_or_collect(errors, strict)
    return ParsedSamples(
        series=table.series,
        series_index=np.array(sids, dtype=np.int64),
        timestamps_ms=np.array(tss, dtype=np.int64),
        values=np.array(vals, dtype=np.float64),
        errors=msgs,
        skipped={"string field": strings} if strings else {},
    )


def _labels(series_raw: bytes, field_raw: bytes) -> list[tuple[str, str]]:
    mm = _MEASUREMENT.match(series_raw)
    assert mm is not None, "BUG: the pattern matches the empty string"
    measurement = _key(mm.group(), "measurement")
    field = _key(field_raw, "field key")
    if field == "":
        raise _BadLine("empty field key")
    pairs = [(METRIC_NAME, f"{measurement}_{field}" if measurement else field)]
    for tag in _PARTS.findall(series_raw, mm.end()):
        kv = _KV.match(tag)
        if kv is None:
            raise _BadLine(f"expected tag=value, got {tag[:40]!r}")
        pairs.append((_key(kv.group(1), "tag key"), _key(kv.group(2), "tag value")))
    return pairs
