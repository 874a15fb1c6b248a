"""The select decode pool: every task runs once, small work stays on the caller's thread,
errors reach the caller."""

from __future__ import annotations

import threading

import pytest

from obskit.tsdb.readpool import ReadPool


def test_every_task_runs_once_on_several_threads() -> None:
    pool = ReadPool(3, min_parallel_samples=0)
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2, timeout=10)  # two tasks must be running at once

    def task(i: int) -> None:
        if i < 2:
            barrier.wait()
        with lock:
            seen.append((i, threading.current_thread().name))

    try:
        pool.run([lambda i=i: task(i) for i in range(50)], samples=1)
    finally:
        pool.close()
    assert sorted(i for i, _ in seen) == list(range(50))
    assert len({name for _, name in seen}) >= 2


def test_small_work_stays_on_the_callers_thread() -> None:
    pool = ReadPool(4, min_parallel_samples=100)
    names: list[str] = []
    try:
        pool.run([lambda: names.append(threading.current_thread().name)] * 5, samples=99)
    finally:
        pool.close()
    assert set(names) == {threading.current_thread().name}


def test_an_error_in_any_thread_reaches_the_caller() -> None:
    pool = ReadPool(2, min_parallel_samples=0)

    def fail() -> None:
        raise ValueError("page 3 is broken")

    try:
        with pytest.raises(ValueError, match="page 3"):
            pool.run([fail] + [lambda: None] * 20, samples=1)
        with pytest.raises(ValueError, match="page 3"):
            pool.run([lambda: None] * 20 + [fail], samples=1)
    finally:
        pool.close()
    with pytest.raises(ValueError, match="read threads"):
        ReadPool(0)
