"""Segmented write-ahead log: append checksummed records, replay them after a restart.

A ``WAL`` is a directory of segment files (format drawn in ``segment.py``). Records are opaque
``(type, payload)`` pairs chosen by the caller; the tsdb keeps one WAL for samples (truncated
with ``truncate_before`` once blocks are written) and another, never truncated, as its series
log. Replay validates every record and repairs instead of refusing: a torn or corrupt tail of the
last segment is cut off, a bad stretch inside an earlier segment is skipped to the next file.

Durability: ``append`` returns after ``os.write``, so an acknowledged record survives a crash of
the process; the ``FsyncPolicy`` decides how much survives a crash of the machine.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType

from obskit.disk.files import fsync_dir, os_reason
from obskit.disk.segment import (
    SEGMENT_HEADER,
    SEGMENT_HEADER_BYTES,
    Payload,
    SegmentReader,
    check_segment_header,
    frame_records,
    list_segments,
    segment_name,
)
from obskit.errors import StorageError

__all__ = ["WAL", "FsyncPolicy", "ReplayProblem"]

logger = logging.getLogger(__name__)


def _iov_max() -> int:
    try:
        limit = os.sysconf("SC_IOV_MAX")
    except (ValueError, OSError):
        limit = -1
    return min(limit, 1024) if limit > 0 else 16  # POSIX guarantees at least 16


# Buffers per writev (Linux: 1024); larger batches are joined into one buffer and written once.
_IOV_MAX = _iov_max()


class FsyncPolicy(enum.Enum):
    """When appended bytes are forced to stable storage."""

    ALWAYS = "always"  # before every append returns: survives power loss, slowest
    INTERVAL = "interval"  # a background thread, at most every fsync_interval_s
    NONE = "none"  # only on close: the OS decides (a process crash still loses nothing)


@dataclass(frozen=True, slots=True)
class ReplayProblem:
    """Damage found by ``replay``: what was dropped from which segment and why."""

    segment_no: int
    offset: int
    reason: str
    dropped_bytes: int
    truncated: bool  # the bytes were cut from the file (torn tail of the last segment)


class WAL:
    """A segmented write-ahead log in one directory; thread-safe.

    Call ``replay()`` and iterate it to the end before appending: then appends continue the
    last segment. Appending without a complete replay is allowed and starts a new segment, so
    bytes that were never validated are never extended.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
        fsync_interval_s: float = 1.0,
        segment_bytes: int = 64 << 20,
    ) -> None:
        if segment_bytes <= SEGMENT_HEADER_BYTES:
            raise ValueError(f"cannot open wal: segment_bytes {segment_bytes} is too small")
        if not fsync_interval_s > 0:
            raise ValueError(f"cannot open wal: fsync_interval_s {fsync_interval_s} is not > 0")
        self.directory = os.fspath(directory)
        self.policy = fsync
        self.fsync_interval_s = fsync_interval_s
        self.segment_bytes = segment_bytes
        try:
            os.makedirs(self.directory, exist_ok=True)
            self._sizes = list_segments(self.directory)  # segment no -> bytes; under _lock
        except OSError as e:
            raise StorageError(f"cannot open wal {self.directory}: {os_reason(e)}") from e
        self._next_no = max(self._sizes, default=-1) + 1
        self.problems: list[ReplayProblem] = []
        # Lock order: _sync_lock before _lock. _lock guards all state below; _sync_lock
        # serialises fsyncs and is held whenever a descriptor is closed, so a descriptor being
        # fsynced is never closed (and its number reused) underneath.
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._replayed = False
        self._resume: tuple[int, int] | None = None  # (segment, valid bytes) to continue
        self._fd: int | None = None
        self._seg_no = -1
        self._seg_bytes = 0
        self._dirty = False  # written since the last fsync of _fd
        self._dir_dirty = False  # segment created since the last directory fsync
        self._retired: list[tuple[int, bool]] = []  # (fd, dirty) of segments cut, to close
        self._closed = False
        self._failure: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading ------------------------------------------------------------------------------

    @property
    def dropped_bytes(self) -> int:
        """Bytes replay could not use (truncated or skipped)."""
        return sum(p.dropped_bytes for p in self.problems)

    @property
    def truncations(self) -> int:
        """How many torn tails replay cut from files."""
        return sum(p.truncated for p in self.problems)

    def replay(self) -> Iterator[tuple[int, int, memoryview]]:
        """Yield ``(segment_no, record_type, payload)`` for every valid record, in order.

        Payloads are read-only views into the segment's bytes, valid as long as they are held.
        Damage is logged as a warning and recorded in ``problems``.
        """
        with self._lock:
            if self._closed:
                raise StorageError(f"cannot replay wal {self.directory}: it is closed")
            if self._fd is not None:
                raise StorageError(
                    f"cannot replay wal {self.directory}: records were appended already"
                )
            self.problems = []
            segments = list(self._sizes)
        return self._replay(segments)

    def _replay(self, segments: list[int]) -> Iterator[tuple[int, int, memoryview]]:
        resume: tuple[int, int] | None = None
        for i, no in enumerate(segments):
            last = i == len(segments) - 1
            path = self._path(no)
            try:
                with open(path, "rb") as f:
                    data = memoryview(f.read())
            except FileNotFoundError:  # deleted by truncate_before meanwhile
                continue
            except OSError as e:
                raise StorageError(f"cannot replay wal segment {path}: {os_reason(e)}") from e
            problem, torn = check_segment_header(data)
            if problem is not None:
                if last and torn:
                    self._drop_torn_segment(no, problem, len(data))
                else:
                    self._note(no, 0, problem, len(data), truncated=False)
                continue
            reader = SegmentReader(data)
            for record_type, payload in reader:
                yield no, record_type, payload
            end = reader.valid_end
            if reader.problem is not None:
                if last and self._truncate_tail(no, end):
                    self._note(no, end, reader.problem, len(data) - end, truncated=True)
                else:
                    self._note(no, end, reader.problem, len(data) - end, truncated=False)
                    continue
            if last:
                resume = (no, end)
        with self._lock:
            self._resume = resume
            self._replayed = True

    def _note(self, no: int, offset: int, reason: str, dropped: int, *, truncated: bool) -> None:
        self.problems.append(ReplayProblem(no, offset, reason, dropped, truncated))
        action = "truncated" if truncated else "skipped"
        logger.warning(
            "wal segment %s: %s; %s %d bytes from offset %d",
            self._path(no),
            reason,
            action,
            dropped,
            offset,
        )

    def _truncate_tail(self, no: int, valid_end: int) -> bool:
        """Cut the torn tail of segment ``no``; False if it is being written (a new segment)."""
        with self._lock:
            if no == self._seg_no or no not in self._sizes:
                return False
            path = self._path(no)
            try:
                with open(path, "r+b") as f:
                    f.truncate(valid_end)
                    if self.policy is not FsyncPolicy.NONE:
                        os.fsync(f.fileno())
            except OSError as e:
                raise StorageError(
                    f"cannot truncate torn wal segment {path}: {os_reason(e)}"
                ) from e
            self._sizes[no] = valid_end
            return True

    def _drop_torn_segment(self, no: int, reason: str, size: int) -> None:
        # A crash while creating the last segment left (a prefix of) its header: remove the file.
        with self._lock:
            if no == self._seg_no or no not in self._sizes:
                return
            path = self._path(no)
            try:
                os.unlink(path)
            except OSError as e:
                raise StorageError(f"cannot remove torn wal segment {path}: {os_reason(e)}") from e
            del self._sizes[no]
        if size:
            self._note(no, 0, reason, size, truncated=True)
        else:
            logger.info("wal segment %s is empty (crash while creating it); removed", path)

    # -- writing ------------------------------------------------------------------------------

    def append(self, record_type: int, payload: Payload) -> int:
        """Append one record; returns the segment number that holds it."""
        return self.append_many(((record_type, payload),))

    def append_many(self, records: Sequence[tuple[int, Payload]]) -> int:
        """Append ``records`` with one write; returns the segment number that holds them all.

        A batch never spans two segments: if it does not fit in the current one, a new segment
        is started first (a segment may exceed ``segment_bytes`` when one batch does).
        """
        parts, total = frame_records(records)  # CRCs outside the lock
        with self._lock:
            self._check_writable("append to")
            self._open_for_append()
            if self._seg_bytes > SEGMENT_HEADER_BYTES and (
                self._seg_bytes + total > self.segment_bytes
            ):
                self._start_segment()
            if total:
                self._write(parts, total)
            no = self._seg_no
        self._after_write()
        return no

    def cut_segment(self) -> int:
        """Close the current segment and start a new one; returns the new segment number."""
        with self._lock:
            self._check_writable("cut a segment of")
            self._start_segment()
            no = self._seg_no
        self._after_write()
        return no

    def truncate_before(self, segment_no: int) -> None:
        """Delete the whole segments numbered below ``segment_no``."""
        with self._lock:
            if self._fd is not None and segment_no > self._seg_no:
                raise ValueError(
                    f"cannot truncate wal {self.directory} before segment {segment_no}: "
                    f"segment {self._seg_no} is being written"
                )
            doomed = [no for no in self._sizes if no < segment_no]
            for no in doomed:
                try:
                    os.unlink(self._path(no))
                except FileNotFoundError:
                    pass
                except OSError as e:
                    raise StorageError(
                        f"cannot delete wal segment {self._path(no)}: {os_reason(e)}"
                    ) from e
                del self._sizes[no]
            self._next_no = max(self._next_no, segment_no)
        if doomed and self.policy is not FsyncPolicy.NONE:
            fsync_dir(self.directory)

    def segments(self) -> list[int]:
        with self._lock:
            return list(self._sizes)

    def size_bytes(self) -> int:
        with self._lock:
            return sum(self._sizes.values())

    def _path(self, no: int) -> str:
        return os.path.join(self.directory, segment_name(no))

    def _check_writable(self, action: str) -> None:
        if self._closed:
            raise StorageError(f"cannot {action} wal {self.directory}: it is closed")
        if self._failure is not None:
            raise StorageError(f"cannot {action} wal {self.directory}: {self._failure}")

    def _open_for_append(self) -> None:
        """Under _lock: make sure a segment is open, continuing the replayed one if possible."""
        if self._fd is not None:
            return
        if self._replayed and self._resume is not None and self._resume[0] in self._sizes:
            no, valid = self._resume
            path = self._path(no)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            except OSError as e:
                raise StorageError(f"cannot open wal segment {path}: {os_reason(e)}") from e
            self._fd, self._seg_no, self._seg_bytes = fd, no, valid
        else:
            self._start_segment()

    def _start_segment(self) -> None:
        """Under _lock: create the next segment file and make it the current one."""
        no = self._next_no
        path = self._path(no)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC)
        except OSError as e:
            raise StorageError(f"cannot create wal segment {path}: {os_reason(e)}") from e
        try:
            _write_all(fd, [SEGMENT_HEADER], SEGMENT_HEADER_BYTES)
        except OSError as e:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise StorageError(f"cannot create wal segment {path}: {os_reason(e)}") from e
        if self._fd is not None:
            self._retired.append((self._fd, self._dirty))
        self._fd, self._seg_no, self._seg_bytes = fd, no, SEGMENT_HEADER_BYTES
        self._sizes[no] = SEGMENT_HEADER_BYTES
        self._next_no = no + 1
        self._dirty = self._dir_dirty = True

    def _write(self, parts: list[Payload], total: int) -> None:
        """Under _lock: write framed records to the current segment, all or (on error) none."""
        fd = self._fd
        assert fd is not None, "BUG: no open wal segment"
        before = self._seg_bytes
        try:
            _write_all(fd, parts, total)
        except OSError as e:
            path = self._path(self._seg_no)
            try:  # take back a partial write so later records do not follow garbage
                os.ftruncate(fd, before)
            except OSError as e2:
                self._failure = f"segment {path} has a partial record ({os_reason(e2)})"
            raise StorageError(f"cannot append to wal segment {path}: {os_reason(e)}") from e
        self._seg_bytes = before + total
        self._sizes[self._seg_no] = self._seg_bytes
        self._dirty = True

    def _after_write(self) -> None:
        """Outside the locks: the fsync work the policy asks for after a write."""
        if self.policy is FsyncPolicy.ALWAYS:
            self.sync()
        elif self.policy is FsyncPolicy.INTERVAL:
            if self._thread is None:
                self._start_syncer()
        elif self._retired:
            self._close_retired()

    # -- syncing and closing ------------------------------------------------------------------

    def sync(self) -> None:
        """Fsync everything written so far (and new segment entries in the directory)."""
        with self._sync_lock:
            with self._lock:
                fd, dirty, self._dirty = self._fd, self._dirty, False
                retired, self._retired = self._retired, []
                dir_dirty, self._dir_dirty = self._dir_dirty, False
            try:
                for rfd, rdirty in retired:
                    try:
                        if rdirty:
                            os.fsync(rfd)
                    finally:
                        os.close(rfd)
                if dir_dirty:
                    fsync_dir(self.directory)
                if dirty and fd is not None:
                    os.fsync(fd)
            except OSError as e:
                # Dirty pages may be gone after a failed fsync: refuse further appends.
                self._failure = f"fsync failed ({os_reason(e)}); acknowledged records may be lost"
                raise StorageError(f"cannot fsync wal {self.directory}: {os_reason(e)}") from e

    def _close_retired(self) -> None:
        with self._sync_lock:
            with self._lock:
                retired, self._retired = self._retired, []
            for rfd, _ in retired:
                os.close(rfd)

    def _start_syncer(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            thread = threading.Thread(
                target=_sync_loop,
                args=(weakref.ref(self), self._stop, self.fsync_interval_s),
                name=f"wal-fsync {self.directory}",
                daemon=True,
            )
            self._thread = thread
        thread.start()

    def close(self) -> None:
        """Fsync, close the files and stop the background thread; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._stop.set()
        if thread is not None:
            thread.join()
        try:
            if self._failure is None:
                self.sync()
        finally:
            with self._sync_lock, self._lock:
                fds = [fd for fd, _ in self._retired]
                if self._fd is not None:
                    fds.append(self._fd)
                self._fd, self._retired = None, []
                for fd in fds:
                    os.close(fd)

    def __enter__(self) -> WAL:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _write_all(fd: int, parts: Sequence[Payload], total: int) -> None:
    """Write ``parts`` at the end of ``fd``: one syscall unless the kernel writes short."""
    joined: bytes | None = None
    if len(parts) <= _IOV_MAX:
        written = os.writev(fd, parts)
    else:
        joined = b"".join(parts)
        written = os.write(fd, joined)
    if written == total:
        return
    rest = memoryview(joined if joined is not None else b"".join(parts))[written:]
    while rest:
        n = os.write(fd, rest)
        if n <= 0:
            raise OSError(0, "write made no progress")
        rest = rest[n:]


def _sync_loop(ref: weakref.ref[WAL], stop: threading.Event, interval_s: float) -> None:
    # Holds only a weak reference, so a WAL dropped without close() does not live forever.
    while not stop.wait(interval_s):
        wal = ref()
        if wal is None:
            return
        try:
            wal.sync()
        except StorageError:
            logger.exception("background fsync of wal %s failed", wal.directory)
            return
        del wal
