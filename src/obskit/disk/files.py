"""Generic durable-file helpers: atomic writes and renames, directory fsync, sizes, crash leftovers.

Nothing here knows a file format. The crash-safety rule all helpers follow: a file or directory
becomes visible under its final name only after its bytes are fsynced, and the rename itself is
made durable by fsyncing the parent directory. Temporary names end in ``.tmp`` so that
``remove_tmp_leftovers`` can delete whatever a crash left half written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile

from obskit.errors import StorageError

__all__ = [
    "TMP_SUFFIX",
    "atomic_replace_dir",
    "atomic_write",
    "dir_size_bytes",
    "fsync_dir",
    "fsync_file",
    "fsync_tree",
    "os_reason",
    "remove_tmp_leftovers",
]

logger = logging.getLogger(__name__)

# Every temporary file or directory obskit writes ends with this suffix; nothing final does.
TMP_SUFFIX = ".tmp"


def os_reason(error: OSError) -> str:
    """The OS's reason for ``error`` in lowercase, to end an obskit message with."""
    reason = error.strerror or str(error) or type(error).__name__
    return reason[:1].lower() + reason[1:]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make the entries of directory ``path`` (creations, renames, deletions) durable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise StorageError(f"cannot fsync directory {os.fspath(path)}: {os_reason(e)}") from e
    try:
        os.fsync(fd)
    except OSError as e:
        raise StorageError(f"cannot fsync directory {os.fspath(path)}: {os_reason(e)}") from e
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Make the contents of the existing file ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise StorageError(f"cannot fsync file {os.fspath(path)}: {os_reason(e)}") from e


def fsync_tree(path: str | os.PathLike[str]) -> None:
    """Fsync every file and directory under ``path`` (inclusive), children before parents."""
    for root, _dirs, names in os.walk(path, topdown=False):
        for name in names:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                fsync_file(full)
        fsync_dir(root)


def atomic_write(path: str | os.PathLike[str], data: bytes | bytearray | memoryview) -> None:
    """Replace ``path`` with ``data`` so that readers and crashes see the old or the new bytes.

    Writes a ``.tmp`` sibling, fsyncs it, renames it over ``path`` and fsyncs the directory.
    """
    final = os.fspath(path)
    parent = os.path.dirname(final) or "."
    try:
        fd, tmp = tempfile.mkstemp(
            dir=parent, prefix=os.path.basename(final) + ".", suffix=TMP_SUFFIX
        )
    except OSError as e:
        raise StorageError(f"cannot write {final}: {os_reason(e)}") from e
    try:
        try:
            view = memoryview(data).cast("B")
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StorageError(f"cannot write {final}: {os_reason(e)}") from e
    fsync_dir(parent)


def atomic_replace_dir(tmp_dir: str | os.PathLike[str], final_dir: str | os.PathLike[str]) -> None:
    """Move the fully written directory ``tmp_dir`` to ``final_dir`` in one durable step.

    Everything under ``tmp_dir`` is fsynced first (cheap for files the writer already synced),
    then renamed; both parents are fsynced. ``final_dir`` must not exist: replacing a non-empty
    directory cannot be done atomically with a plain rename, so callers write under a new name
    (blocks have unique ids) and delete the old directory afterwards.
    """
    src, dst = os.fspath(tmp_dir), os.fspath(final_dir)
    if os.path.lexists(dst):
        raise StorageError(f"cannot move {src} to {dst}: the destination already exists")
    fsync_tree(src)
    try:
        os.rename(src, dst)
    except OSError as e:
        raise StorageError(f"cannot move {src} to {dst}: {os_reason(e)}") from e
    src_parent = os.path.dirname(os.path.abspath(src))
    dst_parent = os.path.dirname(os.path.abspath(dst))
    fsync_dir(dst_parent)
    if src_parent != dst_parent:
        fsync_dir(src_parent)


def dir_size_bytes(path: str | os.PathLike[str]) -> int:
    """Sum of the apparent sizes of the files under ``path``; files vanishing meanwhile count 0."""
    total = 0
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return 0
    except OSError as e:
        raise StorageError(f"cannot list directory {os.fspath(path)}: {os_reason(e)}") from e
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                total += dir_size_bytes(entry.path)
            else:
                total += entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue
    return total


def remove_tmp_leftovers(directory: str | os.PathLike[str]) -> list[str]:
    """Delete the ``*.tmp`` files and directories directly inside ``directory``.

    Call it when opening a store, before anything else writes there: the entries are the
    half-written output of a crashed process. Returns the names removed.
    """
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return removed
    except OSError as e:
        raise StorageError(f"cannot list directory {os.fspath(directory)}: {os_reason(e)}") from e
    for entry in entries:
        if not entry.name.endswith(TMP_SUFFIX):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise StorageError(f"cannot remove leftover {entry.path}: {os_reason(e)}") from e
        logger.info("removed leftover %s of an interrupted write", entry.path)
        removed.append(entry.name)
    if removed:
        fsync_dir(directory)
    return sorted(removed)
