"""The segmented WAL: round trips, repair of torn and corrupt segments, segment management."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit.disk import WAL, FsyncPolicy
from obskit.disk.segment import SEGMENT_HEADER, SEGMENT_HEADER_BYTES, segment_name
from obskit.errors import StorageError

from .strategies import records_strategy

Records = list[tuple[int, bytes]]


def _replay(directory: Path | str, **kwargs: object) -> tuple[WAL, Records]:
    wal = WAL(directory, fsync=FsyncPolicy.NONE, **kwargs)  # type: ignore[arg-type]
    got = [(t, bytes(p)) for _, t, p in wal.replay()]
    return wal, got


def _write(directory: Path, records: Records, segment_bytes: int = 1 << 20) -> list[int]:
    """Append records one by one; returns the file offset where each record ends."""
    ends = []
    with WAL(directory, fsync=FsyncPolicy.NONE, segment_bytes=segment_bytes) as wal:
        assert list(wal.replay()) == []
        for rtype, payload in records:
            no = wal.append(rtype, payload)
            ends.append(os.path.getsize(directory / segment_name(no)))
    return ends


def _payloads(n: int, seed: int = 0) -> Records:
    rng = np.random.default_rng(seed)
    return [(1 + i % 5, rng.bytes(int(rng.integers(0, 80)))) for i in range(n)]


@settings(max_examples=60, deadline=None)
@given(
    records=records_strategy(max_records=80),
    segment_bytes=st.integers(16, 600),
    batch=st.integers(1, 7),
)
def test_round_trip_across_segments(records: Records, segment_bytes: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        placed: list[int] = []  # segment of each record, as append_many reported it
        batches_in: dict[int, int] = {}
        with WAL(d, fsync=FsyncPolicy.NONE, segment_bytes=segment_bytes) as wal:
            assert list(wal.replay()) == []
            for i in range(0, len(records), batch):
                chunk = records[i : i + batch]
                no = wal.append_many(chunk)
                placed += [no] * len(chunk)
                batches_in[no] = batches_in.get(no, 0) + 1
        wal = WAL(d, fsync=FsyncPolicy.NONE, segment_bytes=segment_bytes)
        with wal:
            got = [(no, t, bytes(p)) for no, t, p in wal.replay()]
            assert [(t, p) for _, t, p in got] == records
            assert [no for no, _, _ in got] == placed
            assert wal.problems == []
            sizes = {int(f.name): f.stat().st_size for f in Path(d).iterdir()}
            assert wal.size_bytes() == sum(sizes.values())
            for no, size in sizes.items():  # only a lone oversized batch may overfill a segment
                assert size <= segment_bytes or batches_in.get(no, 0) <= 1
            more = [(9, b"after reopen")]
            wal.append_many(more)
        wal, got2 = _replay(d, segment_bytes=segment_bytes)
        wal.close()
        assert got2 == records + more


def test_replay_reports_segment_numbers_in_order(tmp_path: Path) -> None:
    with WAL(tmp_path, segment_bytes=64) as wal:
        list(wal.replay())
        nos = [wal.append(1, bytes(40)) for _ in range(5)]
    assert nos == [0, 1, 2, 3, 4]
    with WAL(tmp_path) as wal:
        assert [no for no, _, _ in wal.replay()] == nos


def test_torn_tail_at_every_offset(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    records = _payloads(6)
    src = tmp_path / "src"
    ends = _write(src, records)
    data = (src / segment_name(0)).read_bytes()
    first_cut = ends[-3]  # inside the last two records
    for cut in range(first_cut, len(data)):
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        (d / segment_name(0)).write_bytes(data[:cut])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="obskit.disk.wal"):
            wal, got = _replay(d)
        complete = sum(end <= cut for end in ends)
        assert got == records[:complete], cut
        valid_end = ends[complete - 1]
        if cut == valid_end:
            assert wal.problems == [] and not caplog.records
        else:
            assert wal.truncations == 1
            assert wal.dropped_bytes == cut - valid_end
            assert any("truncated" in r.getMessage() for r in caplog.records), cut
            assert all(r.levelno == logging.WARNING for r in caplog.records)
        assert (d / segment_name(0)).stat().st_size == valid_end
        wal.append(3, b"new")
        wal.close()
        wal, got = _replay(d)
        wal.close()
        assert got == [*records[:complete], (3, b"new")]
        assert wal.problems == []


def test_bit_flip_in_last_segment_truncates_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = _payloads(20)
    ends = _write(tmp_path, records)
    path = tmp_path / segment_name(0)
    data = bytearray(path.read_bytes())
    data[ends[9] + 12] ^= 0x10  # inside the payload of record 10
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        wal, got = _replay(tmp_path)
    wal.close()
    assert got == records[:10]
    assert "crc mismatch" in caplog.text
    assert wal.truncations == 1
    assert path.stat().st_size == ends[9]


def test_bit_flip_in_earlier_segment_keeps_later_segments(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = _payloads(30)
    with WAL(tmp_path, segment_bytes=400) as wal:
        list(wal.replay())
        placed = [(wal.append(t, p), (t, p)) for t, p in records]
    segments = sorted({no for no, _ in placed})
    assert len(segments) >= 3
    victim = tmp_path / segment_name(segments[0])
    size_before = victim.stat().st_size
    data = bytearray(victim.read_bytes())
    data[SEGMENT_HEADER_BYTES + 2] ^= 0x01  # crc of the first record
    victim.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        wal, got = _replay(tmp_path)
    wal.close()
    assert got == [rec for no, rec in placed if no != segments[0]]
    assert "skipped" in caplog.text and victim.name in caplog.text
    assert wal.truncations == 0
    assert wal.dropped_bytes == size_before - SEGMENT_HEADER_BYTES
    assert victim.stat().st_size == size_before  # evidence kept


@pytest.mark.parametrize("where", ["first", "last"])
def test_garbage_segment_header_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    records = _payloads(3)
    _write(tmp_path, records)
    garbage = b"NOTAWAL!" + bytes(100)
    if where == "first":
        (tmp_path / segment_name(0)).rename(tmp_path / segment_name(1))
        (tmp_path / segment_name(0)).write_bytes(garbage)
    else:
        (tmp_path / segment_name(1)).write_bytes(garbage)
    with caplog.at_level(logging.WARNING):
        wal, got = _replay(tmp_path)
    assert got == records
    assert "bad segment magic" in caplog.text
    assert wal.dropped_bytes == len(garbage)
    no = wal.append(1, b"x")
    wal.close()
    assert no == (1 if where == "first" else 2)  # continue the valid last segment, or a new one
    wal, got = _replay(tmp_path)
    wal.close()
    assert got == [*records, (1, b"x")]


def test_unknown_version_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    records = _payloads(3)
    _write(tmp_path, records)
    path = tmp_path / segment_name(0)
    path.write_bytes(b"OBSKWAL\x02" + path.read_bytes()[SEGMENT_HEADER_BYTES:])
    with caplog.at_level(logging.WARNING):
        wal, got = _replay(tmp_path)
    wal.close()
    assert got == []
    assert "version 2" in caplog.text


@pytest.mark.parametrize("content", [b"", SEGMENT_HEADER[:3]])
def test_torn_last_segment_header_is_removed(tmp_path: Path, content: bytes) -> None:
    records = _payloads(3)
    _write(tmp_path, records)
    (tmp_path / segment_name(1)).write_bytes(content)
    wal, got = _replay(tmp_path)
    assert got == records
    assert wal.segments() == [0]
    assert not (tmp_path / segment_name(1)).exists()
    wal.append(2, b"y")
    wal.close()
    wal, got = _replay(tmp_path)
    wal.close()
    assert got == [*records, (2, b"y")]


def test_empty_earlier_segment_is_skipped(tmp_path: Path) -> None:
    (tmp_path / segment_name(0)).write_bytes(b"")
    (tmp_path / segment_name(1)).write_bytes(SEGMENT_HEADER)
    with WAL(tmp_path) as wal:
        list(wal.replay())
        assert wal.append(1, b"a") == 1
    wal, got = _replay(tmp_path)
    wal.close()
    assert got == [(1, b"a")]


def test_empty_and_missing_directory(tmp_path: Path) -> None:
    wal, got = _replay(tmp_path)
    assert got == [] and wal.segments() == [] and wal.size_bytes() == 0
    wal.close()
    assert list(tmp_path.iterdir()) == []  # replay alone creates no segment
    nested = tmp_path / "a" / "b"
    with WAL(nested) as wal:
        assert list(wal.replay()) == []
        assert wal.append(1, b"z") == 0
    assert wal.segments() == [0]


def test_record_larger_than_segment(tmp_path: Path) -> None:
    big = os.urandom(5000)
    with WAL(tmp_path, segment_bytes=100) as wal:
        list(wal.replay())
        nos = [wal.append(1, b"small"), wal.append(2, big), wal.append(1, b"small")]
    assert nos == [0, 1, 2]
    wal, got = _replay(tmp_path)
    wal.close()
    assert got == [(1, b"small"), (2, big), (1, b"small")]


def test_batch_never_spans_segments(tmp_path: Path) -> None:
    with WAL(tmp_path, segment_bytes=200) as wal:
        list(wal.replay())
        assert wal.append(1, bytes(100)) == 0
        assert wal.append_many([(1, bytes(50)), (1, bytes(50))]) == 1
        assert wal.append_many([]) == 1
    assert [no for no, _, _ in WAL(tmp_path).replay()] == [0, 1, 1]


def test_many_records_and_memoryviews(tmp_path: Path) -> None:
    arrays = [np.arange(i, dtype=np.int64) for i in range(3000)]  # > IOV_MAX buffers
    with WAL(tmp_path) as wal:
        list(wal.replay())
        wal.append_many([(1, memoryview(a)) for a in arrays])
        wal.append_many([(2, memoryview(a)) for a in arrays[:10]])  # writev path
    wal, got = _replay(tmp_path)
    wal.close()
    assert len(got) == 3010
    for (rtype, payload), a in zip(got, arrays + arrays[:10], strict=True):
        assert rtype in (1, 2)
        assert np.array_equal(np.frombuffer(payload, dtype=np.int64), a)


def test_append_without_replay_starts_a_new_segment(tmp_path: Path) -> None:
    records = _payloads(3)
    _write(tmp_path, records)
    with (tmp_path / segment_name(0)).open("ab") as f:
        f.write(b"\x01\x02")  # a torn tail that was never validated
    with WAL(tmp_path) as wal:
        assert wal.append(1, b"fresh") == 1
        with pytest.raises(StorageError, match="appended already"):
            wal.replay()
    wal, got = _replay(tmp_path)
    wal.close()
    assert got == [*records, (1, b"fresh")]
    assert wal.truncations == 0 and wal.dropped_bytes == 2  # not the last segment: skipped


def test_cut_and_truncate_before(tmp_path: Path) -> None:
    with WAL(tmp_path) as wal:
        list(wal.replay())
        wal.append(1, b"a")
        assert wal.cut_segment() == 1
        wal.append(1, b"b")
        assert wal.cut_segment() == 2
        wal.append(1, b"c")
        assert wal.segments() == [0, 1, 2]
        wal.truncate_before(2)
        assert wal.segments() == [2]
        assert sorted(p.name for p in tmp_path.iterdir()) == [segment_name(2)]
        assert wal.size_bytes() == (tmp_path / segment_name(2)).stat().st_size
        with pytest.raises(ValueError, match="being written"):
            wal.truncate_before(3)
    wal, got = _replay(tmp_path)
    wal.close()
    assert got == [(1, b"c")]


def test_truncate_before_everything_keeps_numbers_increasing(tmp_path: Path) -> None:
    _write(tmp_path, _payloads(2))
    with WAL(tmp_path) as wal:
        wal.truncate_before(7)
        assert wal.segments() == []
        assert wal.append(1, b"x") == 7


def test_closed_wal_refuses_appends(tmp_path: Path) -> None:
    wal = WAL(tmp_path)
    wal.append(1, b"x")
    wal.close()
    wal.close()
    with pytest.raises(StorageError, match="closed"):
        wal.append(1, b"y")


def test_failed_write_is_taken_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal = WAL(tmp_path, fsync=FsyncPolicy.NONE)
    list(wal.replay())
    wal.append(1, b"before")
    real_writev = os.writev

    def half_then_enospc(fd: int, buffers: list[bytes]) -> int:
        data = b"".join(buffers)
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "writev", half_then_enospc)
    with pytest.raises(StorageError, match="no space"):
        wal.append(1, b"lost" * 10)
    monkeypatch.setattr(os, "writev", real_writev)
    wal.append(1, b"after")
    wal.close()
    wal, got = _replay(tmp_path)
    wal.close()
    assert got == [(1, b"before"), (1, b"after")]
    assert wal.problems == []


def test_concurrent_appends(tmp_path: Path) -> None:
    wal = WAL(tmp_path, segment_bytes=4096, fsync=FsyncPolicy.INTERVAL, fsync_interval_s=0.01)
    list(wal.replay())

    def writer(k: int) -> None:
        for i in range(300):
            if i % 50 == 0:
                wal.sync()
            wal.append(k + 1, f"{k}:{i}".encode())

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wal.close()
    wal, got = _replay(tmp_path)
    wal.close()
    for k in range(4):
        mine = [p for t, p in got if t == k + 1]
        assert mine == [f"{k}:{i}".encode() for i in range(300)]


def test_invalid_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="segment_bytes"):
        WAL(tmp_path, segment_bytes=8)
    with pytest.raises(ValueError, match="fsync_interval_s"):
        WAL(tmp_path, fsync_interval_s=0)


# A segment as version 1 of the format writes it; a change here breaks existing data directories.
GOLDEN_SEGMENT = bytes.fromhex(
    "4f42534b57414c01"  # "OBSKWAL", version 1
    " 339c7b92 02000000 01 6869"  # crc, length 2, type 1, b"hi"
    " 9fbd9d53 00000000 c8"  # crc, length 0, type 200, no payload
)


def test_golden_segment(tmp_path: Path) -> None:
    with WAL(tmp_path / "w") as wal:
        list(wal.replay())
        wal.append_many([(1, b"hi"), (200, b"")])
    assert (tmp_path / "w" / segment_name(0)).read_bytes() == GOLDEN_SEGMENT
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / segment_name(0)).write_bytes(GOLDEN_SEGMENT)
    wal, got = _replay(tmp_path / "r")
    wal.close()
    assert got == [(1, b"hi"), (200, b"")]
