"""The data-directory lock: one process (and one open store) per directory.

``<dir>/LOCK`` holds an exclusive ``flock``; its content is the holder's pid, only so the error
can name it. The kernel drops the lock when the holder exits, however it dies, so a file left
behind by a killed process never blocks. The file is never deleted: unlinking it while another
process waits on the old inode would let two processes believe they hold the lock.
"""

from __future__ import annotations

import fcntl
import os
from types import TracebackType

from obskit.disk.files import os_reason
from obskit.errors import LockedError, StorageError

__all__ = ["LOCK_FILE_NAME", "DirLock"]

LOCK_FILE_NAME = "LOCK"


class DirLock:
    """Exclusive lock on a directory; a context manager. Not reentrant across instances.

    A second ``DirLock`` on the same directory fails with ``LockedError``, whether it is in
    another process or in this one (flock locks belong to the open file, not the process).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.fspath(directory)
        self.path = os.path.join(self.directory, LOCK_FILE_NAME)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, creating the directory if needed; a no-op if this instance holds it."""
        if self._fd is not None:
            return
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StorageError(
                f"cannot lock data directory {self.directory}: {os_reason(e)}"
            ) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise LockedError(
                f"data directory {self.directory} is locked by another process (pid {holder})"
            ) from None
        except OSError as e:
            os.close(fd)
            raise StorageError(
                f"cannot lock data directory {self.directory}: {os_reason(e)}"
            ) from e
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:
            os.close(fd)  # closing releases the flock
            raise StorageError(
                f"cannot lock data directory {self.directory}: {os_reason(e)}"
            ) from e
        self._fd = fd

    def release(self) -> None:
        """Drop the lock; idempotent. The file stays (see the module docstring)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> DirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    # The holder may be between truncate and write: an empty or partial read names no pid.
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
