"""Record framing and the validating segment reader, without files."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given

from obskit.disk.segment import (
    RECORD_HEADER_BYTES,
    SEGMENT_HEADER,
    SEGMENT_HEADER_BYTES,
    SegmentReader,
    check_segment_header,
    frame_records,
    parse_segment_name,
    segment_name,
)

from .strategies import records_strategy


def _segment(records: list[tuple[int, bytes]]) -> bytes:
    parts, total = frame_records(records)
    body = b"".join(bytes(p) for p in parts)
    assert len(body) == total
    return SEGMENT_HEADER + body


@given(records_strategy())
def test_frame_and_read_round_trip(records: list[tuple[int, bytes]]) -> None:
    data = _segment(records)
    reader = SegmentReader(memoryview(data))
    got = [(t, bytes(p)) for t, p in reader]
    assert got == records
    assert reader.problem is None
    assert reader.valid_end == len(data)


def test_record_layout_is_crc_length_type_payload() -> None:
    data = _segment([(7, b"abc")])[SEGMENT_HEADER_BYTES:]
    assert data[4:9] == (3).to_bytes(4, "little") + b"\x07"
    assert int.from_bytes(data[:4], "little") == zlib.crc32(data[4:])
    assert data[9:] == b"abc"


def test_segment_header_is_magic_and_version() -> None:
    assert SEGMENT_HEADER == b"OBSKWAL\x01"


def test_memoryview_of_wide_items_is_framed_as_bytes() -> None:
    values = np.arange(5, dtype=np.int64)
    data = _segment([(1, memoryview(values))])
    ((rtype, payload),) = SegmentReader(memoryview(data))
    assert rtype == 1
    assert np.array_equal(np.frombuffer(payload, dtype=np.int64), values)


@pytest.mark.parametrize("bad_type", [0, 256, -1])
def test_record_type_out_of_range_is_rejected(bad_type: int) -> None:
    with pytest.raises(ValueError, match="type"):
        frame_records([(bad_type, b"x")])


def test_reader_stops_at_partial_header() -> None:
    data = _segment([(1, b"one"), (2, b"two")])
    cut = len(data) - 3 - RECORD_HEADER_BYTES + 4
    reader = SegmentReader(memoryview(data[:cut]))
    assert [bytes(p) for _, p in reader] == [b"one"]
    assert reader.problem is not None and "partial record header" in reader.problem
    assert reader.valid_end == SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + 3


def test_reader_stops_at_short_payload() -> None:
    data = _segment([(1, b"one"), (2, b"two")])
    reader = SegmentReader(memoryview(data[:-1]))
    assert [bytes(p) for _, p in reader] == [b"one"]
    assert reader.problem is not None and "remain" in reader.problem


@pytest.mark.parametrize("field_offset", [0, 4, 8, 9])  # crc, length, type, payload
def test_reader_detects_a_flipped_bit_in_any_field(field_offset: int) -> None:
    data = bytearray(_segment([(1, b"one"), (2, b"two!")]))
    second = SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + 3
    data[second + field_offset] ^= 0x01
    reader = SegmentReader(memoryview(bytes(data)))
    assert [bytes(p) for _, p in reader] == [b"one"]
    assert reader.problem is not None
    assert reader.valid_end == second


def test_reader_rejects_zero_filled_tail() -> None:
    data = _segment([(1, b"one")]) + bytes(64)
    reader = SegmentReader(memoryview(data))
    assert [bytes(p) for _, p in reader] == [b"one"]
    assert reader.problem is not None


def test_check_segment_header() -> None:
    assert check_segment_header(memoryview(SEGMENT_HEADER + b"rest")) == (None, False)
    problem, torn = check_segment_header(memoryview(b""))
    assert problem is not None and torn
    problem, torn = check_segment_header(memoryview(SEGMENT_HEADER[:5]))
    assert problem is not None and torn
    problem, torn = check_segment_header(memoryview(b"GARBAGE!"))
    assert problem is not None and "magic" in problem and not torn
    problem, torn = check_segment_header(memoryview(b"GAR"))
    assert problem is not None and not torn
    problem, torn = check_segment_header(memoryview(b"OBSKWAL\x09"))
    assert problem is not None and "version 9" in problem and not torn


def test_segment_names() -> None:
    assert segment_name(3) == "00000003"
    assert parse_segment_name("00000003") == 3
    assert parse_segment_name("123456789") == 123456789
    assert parse_segment_name(segment_name(10**9)) == 10**9
    for name in ("LOCK", "0003", "00000003.tmp", "0000000x", "\uff10" * 7 + "\uff13"):
        assert parse_segment_name(name) is None
