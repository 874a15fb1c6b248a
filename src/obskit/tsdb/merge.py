"""Merging one series' samples from several sources (blocks, head parts) in priority order."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import numpy.typing as npt

__all__ = ["TimeValues", "merge_series"]

TimeValues = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]


def merge_series(chunks: list[TimeValues]) -> TimeValues:
    """Union of ``chunks`` sorted by time; on equal timestamps the later chunk wins.

    Each chunk is sorted and unique by timestamp. Chunks whose time ranges do not overlap (the
    usual case: blocks of different windows, then the head) are concatenated in time order
    without sorting; priority only matters where they overlap.
    """
    chunks = [c for c in chunks if len(c[0])]
    if not chunks:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    if len(chunks) == 1:
        return chunks[0]
    spans = sorted((int(c[0][0]), int(c[0][-1]), i) for i, c in enumerate(chunks))
    if all(a[1] < b[0] for a, b in pairwise(spans)):
        ordered = [chunks[i] for _, _, i in spans]
        return np.concatenate([c[0] for c in ordered]), np.concatenate([c[1] for c in ordered])
    ts = np.concatenate([c[0] for c in chunks])
    values = np.concatenate([c[1] for c in chunks])
    order = np.argsort(ts, kind="stable")
    ts, values = ts[order], values[order]
    last = np.empty(len(ts), dtype=bool)
    np.not_equal(ts[1:], ts[:-1], out=last[:-1])
    last[-1] = True
    return ts[last], values[last]
