"""Durable bytes and files: the write-ahead log, the data-directory lock, atomic file helpers.

Layer L1: knows files, fsync and checksums, nothing of series, samples or queries.
"""

from obskit.disk.files import (
    TMP_SUFFIX,
    atomic_replace_dir,
    atomic_write,
    dir_size_bytes,
    fsync_dir,
    fsync_file,
    fsync_tree,
    os_reason,
    remove_tmp_leftovers,
)
from obskit.disk.lock import LOCK_FILE_NAME, DirLock
from obskit.disk.wal import WAL, FsyncPolicy, ReplayProblem

__all__ = [
    "LOCK_FILE_NAME",
    "TMP_SUFFIX",
    "WAL",
    "DirLock",
    "FsyncPolicy",
    "ReplayProblem",
    "atomic_replace_dir",
    "atomic_write",
    "dir_size_bytes",
    "fsync_dir",
    "fsync_file",
    "fsync_tree",
    "os_reason",
    "remove_tmp_leftovers",
]
