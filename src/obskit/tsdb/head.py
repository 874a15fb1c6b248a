"""The head: samples appended since the last flush, held in memory as sorted columnar parts.

Each append becomes an immutable part sorted by (series id, timestamp) with duplicates resolved
(last write wins). Parts are merged LSM-style (the newest parts while the one before is not much
larger) up to a size cap, so there are O(log n) small parts plus n / cap full ones, and each
sample is re-sorted O(log cap) times. Parts are never
modified, and the part list is replaced, not mutated: a reader's snapshot stays valid while
appends and flushes continue in other threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from obskit import kernels
from obskit.tsdb.sortkey import Columns, sort_dedup

__all__ = ["Head", "HeadPart", "make_part"]

# Merge the newest part into its predecessor while the predecessor is smaller than this many
# times the newest: keeps the number of parts logarithmic in the head size.
_MERGE_RATIO = 4
# Parts smaller than this are always merged (appends of a few samples must not pile up parts).
_MIN_PART_SAMPLES = 16_384
# Parts this large are left alone: merging them into ever larger parts would re-copy the whole
# head at each level and churn the allocator with head-sized temporaries, for reads that gain
# little (a few more parts, searched with one binary search each). A head bounded by
# Options.head_max_bytes (16 MiB ~ 700 k samples) then holds ~3 parts of 6 MiB, plus small ones.
_MAX_PART_SAMPLES = 1 << 18


@dataclass(frozen=True, slots=True)
class HeadPart:
    """Samples sorted by (id, ts), unique per (id, ts)."""

    ids: npt.NDArray[np.int64]
    ts: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    mint_ms: int
    maxt_ms: int

    @classmethod
    def of(cls, columns: Columns) -> HeadPart:
        ids, ts, values = columns
        if not len(ts):
            return cls(ids, ts, values, 0, -1)
        return cls(ids, ts, values, int(ts.min()), int(ts.max()))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.ts.nbytes + self.values.nbytes

    def columns(self) -> Columns:
        return self.ids, self.ts, self.values


def make_part(
    ids: npt.NDArray[np.int64], ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> HeadPart:
    return HeadPart.of(sort_dedup(ids, ts, values))


def merge_parts(parts: list[HeadPart]) -> HeadPart:
    """One part holding ``parts`` (in priority order: later parts win), by linear merges."""
    columns = parts[0].columns()
    for part in parts[1:]:
        columns = kernels.merge_samples(columns, part.columns())
    return HeadPart.of(columns)


class Head:
    """Holder of the head parts. ``add`` is serialised by the store's writer lock; the part list
    is swapped under ``state_lock``, which readers also take to snapshot head and blocks at once."""

    def __init__(self, state_lock: threading.Lock) -> None:
        self._parts: tuple[HeadPart, ...] = ()
        self._lock = state_lock

    def parts(self) -> tuple[HeadPart, ...]:
        """The current parts, oldest first (an immutable snapshot)."""
        return self._parts

    def add(self, part: HeadPart) -> None:
        if not len(part):
            return
        parts = [*self._parts, part]
        while (
            len(parts) >= 2
            and len(parts[-2]) < _MAX_PART_SAMPLES
            and (
                len(parts[-2]) < _MERGE_RATIO * len(parts[-1]) or len(parts[-2]) < _MIN_PART_SAMPLES
            )
        ):
            parts[-2:] = [merge_parts(parts[-2:])]
        with self._lock:
            self._parts = tuple(parts)

    def set_parts_locked(self, parts: tuple[HeadPart, ...]) -> None:
        """Swap in new parts; the caller holds the state lock (flush does, with other swaps)."""
        self._parts = parts

    def num_samples(self) -> int:
        return sum(len(p) for p in self._parts)

    def num_bytes(self) -> int:
        """Bytes of the parts' columns (what the head holds in memory, ~24 per sample)."""
        return sum(p.nbytes for p in self._parts)

    def time_range(self) -> tuple[int, int] | None:
        parts = self._parts
        if not parts:
            return None
        return min(p.mint_ms for p in parts), max(p.maxt_ms for p in parts)
