"""Pages: runs of encoded columns of neighbouring series, compressed together.

The store concatenates the encoded columns of consecutive series (sorted by label set, so similar
series sit side by side) until about ``PAGE_TARGET_BYTES``, and keeps each column's (offset,
length) inside the decompressed page. A page is::

    ┌────────────┬────────────────┬──────────────────┬──────────────┬──────────────────────┐
    │ version u8 │ compression u8 │ raw_len u32 LE   │ crc32 u32 LE │ payload              │
    │ = 1        │ 0 stored       │ bytes after      │ of the first │ zstd frame, or the   │
    │            │ 1 zstd         │ decompression    │ 6 bytes and  │ concatenation as is  │
    │            │                │                  │ the payload  │                      │
    └────────────┴────────────────┴──────────────────┴──────────────┴──────────────────────┘

A page that zstd does not shrink is stored. Damage (bad version, crc or length) raises
``CorruptDataError``.

Version 2 pages (``encode_value_page``, block format 2) have the same header with compression
2 (= "ts + rANS values", body drawn in ``obskit.encoding.valuepages``); ``raw_len`` is the size of
what ``decode_page`` returns for them: the page's timestamp columns, then each value column as a
``raw`` column (codec 0x00 | count uvarint | float64 x count), so readers of both versions decode
columns the same way.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import cramjam
import numpy as np
import numpy.typing as npt

from obskit.encoding.valuepages import decode_value_body, encode_value_body, raw_column_lengths
from obskit.errors import CorruptDataError

__all__ = [
    "DEFAULT_ZSTD_LEVEL",
    "PAGE_TARGET_BYTES",
    "PAGE_TARGET_SAMPLES",
    "decode_page",
    "encode_page",
    "encode_value_page",
    "raw_column_lengths",
]

# Measured (benchmarks/bench_codecs.py --batch --sweep; gen_node 10-20 hosts x 24 h, 1440-sample
# columns, store layout): levels 1..12 differ by under 1% in size, level 19 saves ~2% more but
# compresses at ~0.9 M samples/s. zstd compression dominates flushing at level 9 (~11-14 M samples/s
# on top of ~25 M/s column encoding); level 6 compresses at ~18 M samples/s and, with 256 KiB pages,
# is smaller than level 9 with 64 KiB pages. Decompression (160-390 M samples/s) barely depends on
# either. Changing the level changes no format: any level decodes.
DEFAULT_ZSTD_LEVEL = 6
# Uncompressed page size: bigger pages let zstd find more repeats across neighbouring series
# (256 KiB is ~0.6% smaller than 64 KiB at level 6), but a point read must decompress a whole page
# (~0.2-0.5 ms at 256 KiB).
PAGE_TARGET_BYTES = 256 * 1024

# Samples per version 2 page: the per-page cost (frequency tables, zstd'd headers, one Python
# call to parse them, ~0.5 ms) wants big pages, a point read decodes a whole page (~5 ms at
# 256 Ki samples, about what a 256 KiB v1 page holds), and cross-series references never
# leave a page.
PAGE_TARGET_SAMPLES = 256 * 1024

PAGE_VERSION = 1
PAGE_VERSION_2 = 2
_STORED = 0
_ZSTD = 1
_RANS = 2
_HEADER = struct.Struct("<BBII")
_FIELDS = struct.Struct("<BBI")  # the header fields the crc covers
MAX_PAGE_BYTES = 0xFFFF_FFFF


def encode_page(chunks: Sequence[bytes | memoryview], level: int = DEFAULT_ZSTD_LEVEL) -> bytes:
    """Compress the concatenation of ``chunks`` into one page."""
    raw = b"".join(chunks)
    if len(raw) > MAX_PAGE_BYTES:
        raise ValueError(f"cannot encode a page of {len(raw)} bytes: limit is {MAX_PAGE_BYTES}")
    payload: bytes = bytes(cramjam.zstd.compress(raw, level))
    compression = _ZSTD
    if len(payload) >= len(raw):
        payload, compression = raw, _STORED
    fields = _FIELDS.pack(PAGE_VERSION, compression, len(raw))
    return fields + struct.pack("<I", zlib.crc32(payload, zlib.crc32(fields))) + payload


def encode_value_page(
    ts_bytes: bytes, values: Sequence[npt.NDArray[np.float64]]
) -> tuple[bytes, npt.NDArray[np.uint8]]:
    """A version 2 page of ``ts_bytes`` (encoded timestamp columns) and value columns; returns
    the page and each column's kind (codec id: const, decimal-res, float-res)."""
    body, kinds = encode_value_body(ts_bytes, list(values))
    counts = np.array([v.size for v in values], dtype=np.int64)
    raw_len = len(ts_bytes) + int(raw_column_lengths(counts).sum())
    if raw_len > MAX_PAGE_BYTES:
        raise ValueError(f"cannot encode a page of {raw_len} bytes: limit is {MAX_PAGE_BYTES}")
    fields = _FIELDS.pack(PAGE_VERSION_2, _RANS, raw_len)
    return fields + struct.pack("<I", zlib.crc32(body, zlib.crc32(fields))) + body, kinds


def decode_page(buf: bytes | memoryview) -> bytes:
    """The concatenation of the chunks given to ``encode_page`` (version 1), or the timestamp
    columns and ``raw`` value columns of an ``encode_value_page`` page (version 2)."""
    if len(buf) < _HEADER.size:
        raise CorruptDataError(f"cannot decode page: {len(buf)} bytes is shorter than its header")
    version, compression, raw_len, crc = _HEADER.unpack_from(buf)
    if version not in (PAGE_VERSION, PAGE_VERSION_2):
        raise CorruptDataError(f"cannot decode page: unknown version {version}")
    payload = memoryview(buf)[_HEADER.size :]
    if zlib.crc32(payload, zlib.crc32(memoryview(buf)[: _FIELDS.size])) != crc:
        raise CorruptDataError("cannot decode page: crc mismatch")
    if version == PAGE_VERSION_2:
        if compression != _RANS:
            raise CorruptDataError(f"cannot decode page: unknown compression {compression}")
        return decode_value_body(payload, raw_len)
    if compression == _STORED:
        if len(payload) != raw_len:
            raise CorruptDataError("cannot decode page: stored length mismatch")
        return bytes(payload)
    if compression != _ZSTD:
        raise CorruptDataError(f"cannot decode page: unknown compression {compression}")
    out = bytearray(raw_len)
    try:
        written = cramjam.zstd.decompress_into(payload, out)
    except Exception as exc:  # cramjam raises its own DecompressionError (not exported as a type)
        raise CorruptDataError(f"cannot decode page: {exc}") from exc
    if written != raw_len:
        raise CorruptDataError(f"cannot decode page: {written} bytes, header says {raw_len}")
    return bytes(out)
