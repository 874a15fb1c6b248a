"""WAL durability: fsync policies, and acknowledged records surviving a SIGKILL of the writer."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from obskit.disk import WAL, FsyncPolicy

SRC = Path(__file__).resolve().parents[2] / "src"


class FsyncCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[float] = []
        real = os.fsync

        def counting(fd: int) -> None:
            self.calls.append(time.monotonic())
            real(fd)

        monkeypatch.setattr(os, "fsync", counting)


def test_always_fsyncs_every_append(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal = WAL(tmp_path, fsync=FsyncPolicy.ALWAYS)
    list(wal.replay())
    counter = FsyncCounter(monkeypatch)
    wal.append(1, b"first")  # creates the segment: fsyncs the directory and the file
    assert len(counter.calls) >= 2
    for i in range(10):
        before = len(counter.calls)
        wal.append_many([(1, b"x" * i), (2, b"y")])
        assert len(counter.calls) == before + 1
    before = len(counter.calls)
    wal.cut_segment()
    assert len(counter.calls) > before
    wal.close()


def test_none_fsyncs_only_on_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = FsyncCounter(monkeypatch)
    wal = WAL(tmp_path, fsync=FsyncPolicy.NONE, segment_bytes=256)
    list(wal.replay())
    for _ in range(100):
        wal.append(1, bytes(50))
    wal.cut_segment()
    wal.truncate_before(3)
    wal.append(1, b"last")
    assert counter.calls == []
    wal.close()
    assert len(counter.calls) >= 1
    assert wal.segments() == sorted(int(p.name) for p in tmp_path.iterdir())


def test_interval_fsyncs_at_most_once_per_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = FsyncCounter(monkeypatch)
    interval_s = 0.1
    wal = WAL(tmp_path, fsync=FsyncPolicy.INTERVAL, fsync_interval_s=interval_s)
    list(wal.replay())
    start = time.monotonic()
    appends = 0
    while time.monotonic() - start < 0.65:
        wal.append(1, b"sample")
        appends += 1
    elapsed = time.monotonic() - start
    assert appends > 100
    # each tick fsyncs the segment, plus the directory once for the new segment
    assert 1 <= len(counter.calls) <= elapsed / interval_s + 2
    # appends stop: the background thread still makes the last one durable within an interval
    wal.append(1, b"tail")
    n = len(counter.calls)
    deadline = time.monotonic() + 5  # generous: a loaded machine may delay the thread
    while len(counter.calls) == n and time.monotonic() < deadline:
        time.sleep(interval_s / 4)
    time.sleep(interval_s)
    m = len(counter.calls)
    assert n + 1 <= m <= n + 2  # (+2 when a tick was already fsyncing as "tail" came)
    time.sleep(3 * interval_s)
    assert len(counter.calls) == m  # nothing dirty: no fsync
    wal.close()


def test_interval_thread_stops_on_close(tmp_path: Path) -> None:
    wal = WAL(tmp_path, fsync=FsyncPolicy.INTERVAL, fsync_interval_s=0.05)
    wal.append(1, b"x")
    thread = wal._thread
    assert thread is not None and thread.is_alive()
    wal.close()
    assert not thread.is_alive()


_CHILD = """
import os, random, sys
from obskit.disk import WAL, FsyncPolicy

directory, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
wal = WAL(directory, fsync=FsyncPolicy.INTERVAL, fsync_interval_s=0.05, segment_bytes=32 << 10)
next_id = sum(1 for _ in wal.replay())
out = sys.stdout
while True:
    ids = list(range(next_id, next_id + rng.randint(1, 4)))
    payloads = [i.to_bytes(8, "little") + os.urandom(rng.randint(0, 3000)) for i in ids]
    wal.append_many([(1 + i % 7, p) for i, p in zip(ids, payloads)])
    out.write("".join(f"{i}\\n" for i in ids))
    out.flush()
    next_id = ids[-1] + 1
"""


@pytest.mark.slow
def test_acknowledged_records_survive_sigkill(tmp_path: Path) -> None:
    rng = random.Random(1234)
    wal_dir = tmp_path / "wal"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    acked_total = 0
    for trial in range(5):
        out_path = tmp_path / f"acks{trial}.txt"
        with out_path.open("wb") as out:
            child = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(wal_dir), str(trial)], stdout=out, env=env
            )
            # wait until it writes, then kill it at a random moment
            deadline = time.monotonic() + 10
            while out_path.stat().st_size == 0 and time.monotonic() < deadline:
                assert child.poll() is None, "writer died on its own"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.02, 0.3))
            child.send_signal(signal.SIGKILL)
            child.wait()
        text = out_path.read_text()
        acked = [int(line) for line in text.split("\n")[:-1]]  # the last line may be torn
        assert acked, "the writer acknowledged nothing"
        acked_total = max(acked_total, acked[-1] + 1)

        with WAL(wal_dir) as wal:
            ids = [int.from_bytes(p[:8], "little") for _, _, p in wal.replay()]
            problems = wal.problems
        # every acknowledged record is there, in order, and nothing else but whole batches
        assert ids[:acked_total] == list(range(acked_total)), (trial, problems)
        assert ids == list(range(len(ids)))
        assert len(ids) - acked_total <= 4
        # records written but not acknowledged before the kill are fine to keep
        acked_total = len(ids)
        assert all(p.truncated for p in problems)
