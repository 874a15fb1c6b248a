"""A small thread pool that decodes the pages of one select on several cores.

Page decoding (crc32, zstd, the column decoders) runs in C without the GIL, so the pages of a big
select decode in parallel; a small select stays on the caller's thread, where handing pages to
other threads would cost more than it saves. The caller's thread decodes too: a pool of ``n``
workers runs ``n - 1`` threads.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

__all__ = ["ReadPool", "default_read_threads"]

# Below this many samples a select decodes on the caller's thread: ~2 ms of decoding (format 1
# decodes ~100-200 M samples/s per core), against ~50-100 us to wake the other threads and wait
# for them.
MIN_PARALLEL_SAMPLES = 1 << 18
# More threads than this rarely pays: the Python side of each page (slicing the index, the
# cache look-up) holds the GIL and becomes the bottleneck.
_MAX_DEFAULT_THREADS = 4


def default_read_threads() -> int:
    """Decode threads when the options leave it to the machine: its cores, at most 4."""
    return max(1, min(_MAX_DEFAULT_THREADS, os.cpu_count() or 1))


class ReadPool:
    """Runs a select's page decodes on ``threads`` threads (the caller's one of them)."""

    def __init__(self, threads: int, min_parallel_samples: int = MIN_PARALLEL_SAMPLES) -> None:
        if threads < 1:
            raise ValueError(f"invalid read threads {threads}: must be >= 1")
        self.threads = threads
        self.min_parallel_samples = min_parallel_samples
        self._executor = (
            ThreadPoolExecutor(threads - 1, thread_name_prefix="obskit-read")
            if threads > 1
            else None
        )

    def run(self, tasks: Sequence[Callable[[], None]], samples: int) -> None:
        """Run every task once; they must write disjoint memory. Raises the first error seen
        (after every started task has finished)."""
        executor = self._executor
        if executor is None or len(tasks) < 2 or samples < self.min_parallel_samples:
            for task in tasks:
                task()
            return
        todo: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        for task in tasks:
            todo.put(task)
        helpers = [executor.submit(_drain, todo) for _ in range(min(self.threads, len(tasks)) - 1)]
        try:
            _drain(todo)
        finally:
            wait(helpers)
        for helper in helpers:
            helper.result()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)


def _drain(todo: queue.SimpleQueue[Callable[[], None]]) -> None:
    """Take tasks until none is left (pulling, not pre-split: a thread the OS preempts on a
    busy machine then leaves its share to the others)."""
    while True:
        try:
            task = todo.get_nowait()
        except queue.Empty:
            return
        try:
            task()
        except BaseException:
            _empty(todo)  # the select fails: the other threads stop early
            raise


def _empty(todo: queue.SimpleQueue[Callable[[], None]]) -> None:
    while True:
        try:
            todo.get_nowait()
        except queue.Empty:
            return
