"""The data-directory lock, within a process and across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from obskit.disk import DirLock
from obskit.errors import LockedError, StorageError

SRC = Path(__file__).resolve().parents[2] / "src"

_HOLDER = """
import sys, time
from obskit.disk import DirLock
lock = DirLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_second_lock_in_same_process_fails(tmp_path: Path) -> None:
    with DirLock(tmp_path) as first:
        assert first.held
        assert (tmp_path / "LOCK").read_text().strip() == str(os.getpid())
        with pytest.raises(LockedError, match=f"{tmp_path} is locked by another process") as info:
            DirLock(tmp_path).acquire()
        assert f"pid {os.getpid()}" in str(info.value)
        assert isinstance(info.value, StorageError) and isinstance(info.value, OSError)
        first.acquire()  # no-op while held
    assert not first.held
    with DirLock(tmp_path):  # released: can be taken again
        pass


def test_release_is_idempotent_and_keeps_the_file(tmp_path: Path) -> None:
    lock = DirLock(tmp_path / "new")
    lock.acquire()
    lock.release()
    lock.release()
    assert (tmp_path / "new" / "LOCK").exists()


def test_lock_held_by_another_process_then_killed(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError) as info:
            DirLock(tmp_path).acquire()
        assert str(tmp_path) in str(info.value)
        assert f"pid {holder.pid}" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    # the stale LOCK file of the killed holder does not block
    assert (tmp_path / "LOCK").exists()
    with DirLock(tmp_path) as lock:
        assert lock.held
        assert (tmp_path / "LOCK").read_text().strip() == str(os.getpid())


def test_unwritable_directory_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StorageError, match="cannot lock data directory"):
        DirLock(blocker / "sub").acquire()
