"""Merging one series' samples from several sources (blocks, head parts) in priority order."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import numpy.typing as npt

__all__ = ["TimeValues", "merge_series"]

TimeValues = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]


def merge_series(chunks: list[TimeValues]) -> TimeValues:
    """Union of ``chunks`` sorted by time; on equal timestamps the later chunk wins.

    Each chunk is sorted and unique by timestamp. Chunks that follow each other in time (the
    usual case: blocks, then head) are concatenated without sorting.
    """
    chunks = [c for c in chunks if len(c[0])]
    if not chunks:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    if len(chunks) == 1:
        return chunks[0]
    if all(int(a[0][-1]) < int(b[0][0]) for a, b in pairwise(chunks)):
        return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])
    ts = np.concatenate([c[0] for c in chunks])
    values = np.concatenate([c[1] for c in chunks])
    order = np.argsort(ts, kind="stable")
    ts, values = ts[order], values[order]
    last = np.empty(len(ts), dtype=bool)
    np.not_equal(ts[1:], ts[:-1], out=last[:-1])
    last[-1] = True
    return ts[last], values[last]
