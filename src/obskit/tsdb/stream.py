"""Bounded-memory streaming for flush and compaction: cut the series of several sorted sources
into steps of at most about ``max_samples`` samples, so no step decodes or merges more than that.

A flush merges the flushing head parts one step of series at a time (each part is sorted by
(id, ts), so a step is a slice of every part, merged without a global sort); a compaction reads
one step of series from every source block. Neither holds more than one step's columns at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from obskit import kernels
from obskit.tsdb.head import HeadPart
from obskit.tsdb.sortkey import Columns

__all__ = ["merged_part_steps", "series_steps"]

I64 = npt.NDArray[np.int64]


def series_steps(counts: I64, max_samples: int) -> list[tuple[int, int]]:
    """Cut series ``0..len(counts)`` (``counts[i]`` samples each) into consecutive ranges
    ``[lo, hi)`` of at most ``max_samples`` samples (a single larger series is a step alone)."""
    n = len(counts)
    if n == 0:
        return []
    cum = np.cumsum(counts)
    steps = []
    lo = 0
    while lo < n:
        base = int(cum[lo - 1]) if lo else 0
        hi = int(np.searchsorted(cum, base + max_samples, side="right"))
        hi = max(hi, lo + 1)
        steps.append((lo, hi))
        lo = hi
    return steps


def _id_bounds(parts: Sequence[HeadPart], max_samples: int) -> I64:
    """Series ids cutting the union of ``parts`` into steps of about ``max_samples`` samples:
    candidate cuts every few thousand samples of each part, then chosen by their total rank."""
    total = sum(len(p) for p in parts)
    stride = max(1, max_samples // (4 * len(parts)))
    cand = np.unique(np.concatenate([p.ids[::stride] for p in parts]))
    below = np.zeros(len(cand), np.int64)  # samples of all parts with an id < cand
    for part in parts:
        below += np.searchsorted(part.ids, cand, side="left")
    targets = np.arange(max_samples, total, max_samples, dtype=np.int64)
    picks = np.searchsorted(below, targets, side="right") - 1
    cuts = np.unique(cand[picks[picks > 0]])
    return cuts


def merged_part_steps(parts: Sequence[HeadPart], max_samples: int) -> Iterator[Columns]:
    """The samples of ``parts`` (oldest first; later parts win on equal (id, ts)) sorted by
    (id, ts) and unique, in steps of consecutive series of about ``max_samples`` samples."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return
    cuts = _id_bounds(parts, max_samples)
    edges = [np.searchsorted(p.ids, cuts, side="left") for p in parts]
    for k in range(len(cuts) + 1):
        pieces: list[Columns] = []
        for part, e in zip(parts, edges, strict=True):
            lo = int(e[k - 1]) if k else 0
            hi = int(e[k]) if k < len(cuts) else len(part)
            if hi > lo:
                pieces.append((part.ids[lo:hi], part.ts[lo:hi], part.values[lo:hi]))
        if pieces:
            yield _merge_all(pieces)


def _merge_all(pieces: list[Columns]) -> Columns:
    """Merge sorted pieces (priority order) pairwise in a balanced tree: O(n log k), not the
    O(n k) of merging each piece into the running result."""
    while len(pieces) > 1:
        merged = [
            kernels.merge_samples(pieces[i], pieces[i + 1]) for i in range(0, len(pieces) - 1, 2)
        ]
        if len(pieces) % 2:
            merged.append(pieces[-1])
        pieces = merged
    return pieces[0]
