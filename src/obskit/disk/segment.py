"""WAL segment file format: naming, header, record framing and the validating reader.

The ``WAL`` class (``wal.py``) owns files, locks and fsync; this module only turns records into
bytes and bytes back into records. A WAL directory holds segment files named by their
zero-padded sequence number (``00000000``, ``00000001``, ...; more digits once past 10^8)::

    segment file
    ┌─────────────────────────────────────────────┐
    │ magic "OBSKWAL" (7 bytes) │ version u8 = 1  │  8-byte header
    ├─────────────────────────────────────────────┤
    │ record 0                                    │
    │ record 1                                    │
    │ ...                                         │  records never span two files
    └─────────────────────────────────────────────┘

    record (little endian)
    ┌───────────┬─────────────┬─────────┬────────────────────┐
    │ crc u32   │ length u32  │ type u8 │ payload            │
    │           │ of payload  │ 1..255  │ (length bytes)     │
    └───────────┴─────────────┴─────────┴────────────────────┘
      crc = zlib.crc32 (IEEE) of the 5 bytes length+type followed by the payload

The CRC comes first so that it covers one contiguous byte range (length, type and payload):
a flipped bit in the length is caught like one in the payload. Type 0 is never written, so a
zero-filled tail (what some file systems leave after a crash) fails both the type and the CRC.
zlib's CRC32 runs at several GB/s here; crc32c would need a package outside the standard library.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import Final

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_RECORD_TYPE",
    "RECORD_HEADER_BYTES",
    "SEGMENT_HEADER",
    "SEGMENT_HEADER_BYTES",
    "SEGMENT_MAGIC",
    "SEGMENT_VERSION",
    "Payload",
    "SegmentReader",
    "check_segment_header",
    "frame_records",
    "list_segments",
    "parse_segment_name",
    "segment_name",
]

SEGMENT_MAGIC: Final = b"OBSKWAL"
SEGMENT_VERSION: Final = 1
SEGMENT_HEADER: Final = SEGMENT_MAGIC + bytes([SEGMENT_VERSION])
SEGMENT_HEADER_BYTES: Final = len(SEGMENT_HEADER)

_RECORD_HEADER: Final = struct.Struct("<IIB")  # crc, length, type
_LENGTH_TYPE: Final = struct.Struct("<IB")
RECORD_HEADER_BYTES: Final = _RECORD_HEADER.size  # 9
MAX_PAYLOAD_BYTES: Final = 0xFFFF_FFFF  # what the u32 length can say
MAX_RECORD_TYPE: Final = 255

# Eight digits sort correctly by name up to 10^8 segments (6 PB at 64 MiB each); names with more
# digits still parse, and listing sorts numerically anyway.
_NAME_DIGITS: Final = 8

Payload = bytes | bytearray | memoryview


def segment_name(segment_no: int) -> str:
    return f"{segment_no:0{_NAME_DIGITS}d}"


def parse_segment_name(name: str) -> int | None:
    """The segment number of file ``name``, or None when it is not a segment file."""
    if len(name) < _NAME_DIGITS or not name.isdigit() or not name.isascii():
        return None
    return int(name)


def list_segments(directory: str | os.PathLike[str]) -> dict[int, int]:
    """Segment number -> file size in bytes, for the segment files in ``directory``."""
    found: dict[int, int] = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            no = parse_segment_name(entry.name)
            if no is not None and entry.is_file(follow_symlinks=False):
                found[no] = entry.stat(follow_symlinks=False).st_size
    return dict(sorted(found.items()))


def check_segment_header(data: memoryview) -> tuple[str | None, bool]:
    """``(problem, torn)`` for the header at the start of ``data``; problem is None if valid.

    ``torn`` means the file is a prefix of a header (possibly empty): a crash while creating it.
    """
    if len(data) < SEGMENT_HEADER_BYTES:
        torn = SEGMENT_HEADER.startswith(data)
        return f"segment too short for its header ({len(data)} bytes)", torn
    head = bytes(data[:SEGMENT_HEADER_BYTES])
    if head[: len(SEGMENT_MAGIC)] != SEGMENT_MAGIC:
        return f"bad segment magic {head[: len(SEGMENT_MAGIC)]!r}", False
    if head[-1] != SEGMENT_VERSION:
        return f"unsupported segment format version {head[-1]}", False
    return None, False


def frame_records(records: Sequence[tuple[int, Payload]]) -> tuple[list[Payload], int]:
    """The buffers to write for ``records`` (header, payload, header, ...) and their total size.

    Payloads are not copied; a memoryview of wider items (e.g. over a numpy array) is cast to
    bytes, which requires it to be C-contiguous.
    """
    parts: list[Payload] = []
    append = parts.append
    total = 0
    pack_lt = _LENGTH_TYPE.pack
    pack_header = _RECORD_HEADER.pack
    crc32 = zlib.crc32
    for record_type, payload in records:
        if isinstance(payload, memoryview) and (payload.ndim != 1 or payload.itemsize != 1):
            payload = payload.cast("B")
        length = len(payload)
        if not 0 < record_type <= MAX_RECORD_TYPE:
            raise ValueError(f"cannot frame wal record: type {record_type} is not in 1..255")
        if length > MAX_PAYLOAD_BYTES:
            raise ValueError(f"cannot frame wal record: payload of {length} bytes exceeds 4 GiB")
        crc = crc32(payload, crc32(pack_lt(length, record_type)))
        append(pack_header(crc, length, record_type))
        append(payload)
        total += RECORD_HEADER_BYTES + length
    return parts, total


class SegmentReader:
    """Iterates ``(record_type, payload)`` over one segment's bytes, validating each record.

    Iteration stops at the first bad record; then ``problem`` says why and ``valid_end`` is the
    offset just past the last good record (the length to truncate a torn tail to). Payloads are
    zero-copy views into ``data``.
    """

    __slots__ = ("_data", "problem", "valid_end")

    def __init__(self, data: memoryview, start: int = SEGMENT_HEADER_BYTES) -> None:
        self._data = data
        self.valid_end = start
        self.problem: str | None = None

    def __iter__(self) -> Iterator[tuple[int, memoryview]]:
        data = self._data
        end = len(data)
        pos = self.valid_end
        unpack = _RECORD_HEADER.unpack_from
        crc32 = zlib.crc32
        header_bytes = RECORD_HEADER_BYTES
        while pos < end:
            if end - pos < header_bytes:
                self.problem = f"partial record header at offset {pos}"
                return
            crc, length, record_type = unpack(data, pos)
            start = pos + header_bytes
            stop = start + length
            if stop > end:
                self.problem = (
                    f"record at offset {pos} claims {length} payload bytes, "
                    f"only {end - start} remain"
                )
                return
            if crc32(data[pos + 4 : stop]) != crc:
                self.problem = f"crc mismatch in record at offset {pos}"
                return
            if record_type == 0:
                self.problem = f"record type 0 at offset {pos}"
                return
            yield record_type, data[start:stop]
            pos = stop
            self.valid_end = pos
