"""Atomic writes and renames, sizes and crash leftovers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from obskit.disk import (
    atomic_replace_dir,
    atomic_write,
    dir_size_bytes,
    fsync_dir,
    remove_tmp_leftovers,
)
from obskit.errors import StorageError


def test_atomic_write_creates_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "meta.json"
    atomic_write(path, b"one")
    assert path.read_bytes() == b"one"
    atomic_write(path, memoryview(b"two, longer"))
    assert path.read_bytes() == b"two, longer"
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_atomic_write_fsyncs_file_then_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []
    real = os.fsync

    def record(fd: int) -> None:
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    atomic_write(tmp_path / "f", b"x")
    assert synced == [False, True]


def test_atomic_write_failure_leaves_old_content(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot write"):
        atomic_write(tmp_path / "missing" / "f", b"x")
    target = tmp_path / "d"
    target.mkdir()  # a directory cannot be replaced by a file
    with pytest.raises(StorageError, match="cannot write"):
        atomic_write(target, b"x")
    assert target.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_atomic_replace_dir(tmp_path: Path) -> None:
    tmp = tmp_path / "block.tmp"
    (tmp / "chunks").mkdir(parents=True)
    (tmp / "index").write_bytes(b"i" * 10)
    (tmp / "chunks" / "000001").write_bytes(b"c" * 20)
    final = tmp_path / "block"
    atomic_replace_dir(tmp, final)
    assert not tmp.exists()
    assert (final / "chunks" / "000001").read_bytes() == b"c" * 20
    assert dir_size_bytes(final) == 30
    other = tmp_path / "other.tmp"
    other.mkdir()
    with pytest.raises(StorageError, match="already exists"):
        atomic_replace_dir(other, final)
    assert other.exists()


def test_dir_size_bytes(tmp_path: Path) -> None:
    assert dir_size_bytes(tmp_path / "nothing") == 0
    (tmp_path / "a").write_bytes(b"x" * 5)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "b").write_bytes(b"x" * 7)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert dir_size_bytes(tmp_path) == 12 + len(str(tmp_path / "a"))


def test_remove_tmp_leftovers(tmp_path: Path) -> None:
    (tmp_path / "meta.json.abc.tmp").write_bytes(b"half")
    (tmp_path / "01ABC.tmp" / "chunks").mkdir(parents=True)
    (tmp_path / "01ABC.tmp" / "chunks" / "1").write_bytes(b"half")
    (tmp_path / "keep").write_bytes(b"whole")
    (tmp_path / "keep.tmp.d").mkdir()
    assert remove_tmp_leftovers(tmp_path) == ["01ABC.tmp", "meta.json.abc.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep", "keep.tmp.d"]
    assert remove_tmp_leftovers(tmp_path) == []
    assert remove_tmp_leftovers(tmp_path / "missing") == []


def test_fsync_dir_of_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"cannot fsync directory .*no such file"):
        fsync_dir(tmp_path / "missing")
