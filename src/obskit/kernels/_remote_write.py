"""Readable Python reference of the remote-write decoder and its series-ref cache.

Twin of ``native/remote_write.c`` (same results, checked by a parity test). It turns a
decompressed Prometheus remote-write 1.0 ``WriteRequest`` into numpy columns in two passes over
the protobuf bytes: ``count_write_request`` walks the two outer levels (WriteRequest, TimeSeries)
and counts what the columns must hold; ``decode_write_request`` fills them. Per TimeSeries it
looks the raw bytes of its label list up in a ``RefCache``: a hit gives the series ref without
reading the labels; only misses get their labels' byte offsets written out, for the caller to
parse and validate. Label semantics (UTF-8, sorting, duplicates) and limits live in
``obskit.ingest.remote_write``, not here.

Wire rules (as gogo-protobuf's generated Unmarshal, which Prometheus uses): fields in any order,
unknown fields skipped by wire type, the last of a repeated scalar wins, absent fields take their
defaults; a known field with the wrong wire type, a group, wire type 6/7, field number 0, a varint
longer than 10 bytes or anything running past its enclosing message is malformed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

import cramjam
import numpy as np
import numpy.typing as npt

__all__ = [
    "ERROR_REASONS",
    "ERR_FIELD_NUMBER",
    "ERR_TRUNCATED",
    "ERR_VARINT",
    "ERR_WIRETYPE",
    "ERR_WRONG_WIRETYPE",
    "MalformedError",
    "PyRefCache",
    "RefCache",
    "WriteRequestColumns",
    "WriteRequestCounts",
    "count_write_request",
    "decode_write_request",
    "snappy_decompress_into",
]

# Error codes shared with native/remote_write.c (RW_ERR_*); the offset reported with them is the
# byte offset of the tag of the innermost field being read.
ERR_TRUNCATED = 1
ERR_VARINT = 2
ERR_WIRETYPE = 3
ERR_WRONG_WIRETYPE = 4
ERR_FIELD_NUMBER = 5
ERROR_REASONS = {
    ERR_TRUNCATED: "field runs past the end of its message",
    ERR_VARINT: "varint longer than 10 bytes",
    ERR_WIRETYPE: "unsupported wire type (group or 6/7)",
    ERR_WRONG_WIRETYPE: "wrong wire type for a known field",
    ERR_FIELD_NUMBER: "invalid field number",
}

_MASK64 = (1 << 64) - 1
_MAX_FIELD = (1 << 29) - 1
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_DOUBLE = struct.Struct("<d")


class RefCache(Protocol):
    """Raw label-list bytes -> series ref (``PyRefCache`` here, a C twin natively)."""

    def __len__(self) -> int: ...

    def clear(self) -> None: ...

    def lookup(self, key: bytes) -> int:
        """The cached ref of ``key``, or -1."""
        ...

    def insert(
        self,
        data: npt.NDArray[np.uint8],
        key_off: npt.NDArray[np.int64],
        key_len: npt.NDArray[np.int64],
        refs: npt.NDArray[np.int64],
    ) -> None:
        """Cache ``data[key_off[i]:][:key_len[i]] -> refs[i]``, skipping ``key_len`` -1."""
        ...


class MalformedError(ValueError):
    """Internal to the kernels: ``code`` (ERR_*) at byte ``offset``."""

    def __init__(self, code: int, offset: int) -> None:
        super().__init__(code, offset)
        self.code = code
        self.offset = offset

    @property
    def reason(self) -> str:
        return ERROR_REASONS.get(self.code, f"error {self.code}")


@dataclass(frozen=True, slots=True)
class WriteRequestCounts:
    """What the first pass found: TimeSeries, float samples, label records, histograms."""

    series: int
    samples: int
    labels: int
    histograms: int


@dataclass(frozen=True, slots=True)
class WriteRequestColumns:
    """A decoded WriteRequest: series ``i`` has ref ``series_ref[i]`` (-1: cache miss) and, when it
    missed, label records ``labels[label_start[i]:label_start[i+1]]``, each row ``(name_off,
    name_len, value_off, value_len)`` into the decoded body. ``key_off``/``key_len`` span the raw
    label list, its cache key (``key_len`` -1 when the labels are not contiguous: not cacheable).
    Sample ``j`` belongs to series ``sample_series[j]``."""

    series_ref: npt.NDArray[np.int64]
    key_off: npt.NDArray[np.int64]
    key_len: npt.NDArray[np.int64]
    label_start: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    sample_series: npt.NDArray[np.int32]
    timestamps_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    histograms: int


class PyRefCache:
    """Raw label-list bytes -> series ref, in two generations (as VictoriaMetrics' caches).

    Look-ups try the current generation, then the previous one (a hit there is copied forward).
    When the current generation would exceed half the entry or byte budget, the previous one is
    dropped and the current one becomes previous: the series sent recently stay cached, and memory
    stays bounded by ``max_entries`` keys and ``max_bytes`` key bytes.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self._gen_entries = max(max_entries // 2, 1)
        self._gen_bytes = max(max_bytes // 2, 1)
        self._cur: dict[bytes, int] = {}
        self._prev: dict[bytes, int] = {}
        self._cur_bytes = 0

    def __len__(self) -> int:
        return len(self._cur) + len(self._prev)

    def clear(self) -> None:
        self._cur, self._prev, self._cur_bytes = {}, {}, 0

    def lookup(self, key: bytes) -> int:
        ref = self._cur.get(key)
        if ref is not None:
            return ref
        ref = self._prev.get(key)
        if ref is None:
            return -1
        self._put(key, ref)
        return ref

    def insert(
        self,
        data: npt.NDArray[np.uint8],
        key_off: npt.NDArray[np.int64],
        key_len: npt.NDArray[np.int64],
        refs: npt.NDArray[np.int64],
    ) -> None:
        """Cache ``data[key_off[i]:][:key_len[i]] -> refs[i]``, skipping ``key_len`` -1."""
        for off, size, ref in zip(key_off.tolist(), key_len.tolist(), refs.tolist(), strict=True):
            if size >= 0:
                self._put(data[off : off + size].tobytes(), ref)

    def _put(self, key: bytes, ref: int) -> None:
        if key in self._cur:
            self._cur[key] = ref
            return
        if len(key) > self._gen_bytes:
            return
        if len(self._cur) >= self._gen_entries or self._cur_bytes + len(key) > self._gen_bytes:
            self._prev, self._cur, self._cur_bytes = self._cur, {}, 0
        self._cur[key] = ref
        self._cur_bytes += len(key)


def snappy_length(body: bytes | memoryview) -> int:
    """The uncompressed length snappy's block format puts first, as a varint (at most 2^32-1);
    ``ValueError`` if it is missing or larger."""
    value = 0
    for i in range(min(len(body), 5)):
        byte = body[i]
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            if value >= 1 << 32:
                break
            return value
    raise ValueError("bad snappy length header")


def snappy_decompress_into(body: bytes | memoryview, out: npt.NDArray[np.uint8]) -> None:
    """Decompress snappy block format into ``out``, which must be exactly as long as the length
    the body declares; ``ValueError`` for a corrupt body (the C twin decompresses without the
    GIL)."""
    if snappy_length(body) != out.size:
        raise ValueError("declared length differs from the output buffer")
    try:
        written = cramjam.snappy.decompress_raw_into(body, out.data)
    except cramjam.DecompressionError:
        raise ValueError("corrupt snappy data") from None
    if written != out.size:
        raise ValueError("corrupt snappy data")


def _varint(buf: bytes, pos: int, end: int, start: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise MalformedError(ERR_TRUNCATED, start)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise MalformedError(ERR_VARINT, start)


def _field(buf: bytes, pos: int, end: int) -> tuple[int, int, int, int, int]:
    """Read one field at ``pos``: (number, wire type, payload start, payload end, next pos).
    For LEN fields the payload is the bytes; for others, the encoded scalar."""
    tag, p = _varint(buf, pos, end, pos)
    number, wire = tag >> 3, tag & 7
    if number == 0 or number > _MAX_FIELD:
        raise MalformedError(ERR_FIELD_NUMBER, pos)
    if wire == _VARINT:
        _, q = _varint(buf, p, end, pos)
        return number, wire, p, q, q
    if wire in (_FIXED64, _FIXED32):
        q = p + (8 if wire == _FIXED64 else 4)
        if q > end:
            raise MalformedError(ERR_TRUNCATED, pos)
        return number, wire, p, q, q
    if wire == _LEN:
        size, p = _varint(buf, p, end, pos)
        if size > end - p:
            raise MalformedError(ERR_TRUNCATED, pos)
        return number, wire, p, p + size, p + size
    raise MalformedError(ERR_WIRETYPE, pos)


def _expect(wire: int, want: int, pos: int) -> None:
    if wire != want:
        raise MalformedError(ERR_WRONG_WIRETYPE, pos)


def count_write_request(data: npt.NDArray[np.uint8]) -> WriteRequestCounts:
    """First pass: check the WriteRequest and TimeSeries levels, count what decoding will write."""
    buf = data.tobytes()
    series = samples = labels = histograms = 0
    pos, end = 0, len(buf)
    while pos < end:
        number, wire, a, b, nxt = _field(buf, pos, end)
        if number == 1:
            _expect(wire, _LEN, pos)
            series += 1
            p = a
            while p < b:
                inner, iwire, _, _, q = _field(buf, p, b)
                if inner in (1, 2, 4):
                    _expect(iwire, _LEN, p)
                    if inner == 1:
                        labels += 1
                    elif inner == 2:
                        samples += 1
                    else:
                        histograms += 1
                p = q
        pos = nxt
    return WriteRequestCounts(series, samples, labels, histograms)


def _decode_label(buf: bytes, a: int, b: int) -> tuple[int, int, int, int]:
    name = value = (0, 0)
    p = a
    while p < b:
        number, wire, x, y, q = _field(buf, p, b)
        if number in (1, 2):
            _expect(wire, _LEN, p)
            if number == 1:
                name = (x, y - x)
            else:
                value = (x, y - x)
        p = q
    return name[0], name[1], value[0], value[1]


def _decode_sample(buf: bytes, a: int, b: int) -> tuple[int, float]:
    ts, value = 0, 0.0
    p = a
    while p < b:
        number, wire, x, _, q = _field(buf, p, b)
        if number == 1:
            _expect(wire, _FIXED64, p)
            value = _DOUBLE.unpack_from(buf, x)[0]
        elif number == 2:
            _expect(wire, _VARINT, p)
            u, _ = _varint(buf, x, b, p)
            ts = u - (1 << 64) if u >= 1 << 63 else u
        p = q
    return ts, value


def decode_write_request(
    data: npt.NDArray[np.uint8], counts: WriteRequestCounts, cache: RefCache
) -> WriteRequestColumns:
    """Second pass: fill the columns (``counts`` from ``count_write_request`` on the same bytes).
    Raises ``MalformedError`` for what the first pass does not look into (Label, Sample)."""
    buf = data.tobytes()
    series_ref = np.full(counts.series, -1, dtype=np.int64)
    key_off = np.zeros(counts.series, dtype=np.int64)
    key_len = np.zeros(counts.series, dtype=np.int64)
    label_start = np.zeros(counts.series + 1, dtype=np.int64)
    label_rows: list[tuple[int, int, int, int]] = []
    sample_series: list[int] = []
    timestamps: list[int] = []
    values: list[float] = []
    pos, end, i = 0, len(buf), 0
    while pos < end:
        number, _, a, b, nxt = _field(buf, pos, end)
        pos = nxt
        if number != 1:
            continue
        first = last = -1
        contiguous = True
        label_fields: list[tuple[int, int, int]] = []
        p = a
        while p < b:
            inner, _, x, y, q = _field(buf, p, b)
            if inner == 1:
                if first < 0:
                    first = p
                elif p != last:
                    contiguous = False
                last = q
                label_fields.append((p, x, y))
            elif inner == 2:
                ts, value = _decode_sample(buf, x, y)
                sample_series.append(i)
                timestamps.append(ts)
                values.append(value)
            p = q
        if first < 0:
            first = last = a
        if contiguous:
            key_off[i], key_len[i] = first, last - first
            series_ref[i] = cache.lookup(buf[first:last])
        else:
            key_off[i], key_len[i] = first, -1
        if series_ref[i] < 0:
            label_rows.extend(_decode_label(buf, x, y) for _, x, y in label_fields)
        i += 1
        label_start[i] = len(label_rows)
    labels = np.array(label_rows, dtype=np.int64).reshape(-1, 4)
    return WriteRequestColumns(
        series_ref=series_ref,
        key_off=key_off,
        key_len=key_len,
        label_start=label_start,
        labels=labels,
        sample_series=np.array(sample_series, dtype=np.int32),
        timestamps_ms=np.array(timestamps, dtype=np.int64),
        values=np.array(values, dtype=np.float64),
        histograms=counts.histograms,
    )
