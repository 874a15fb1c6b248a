"""Sorting and de-duplicating sample columns by (series id, timestamp), keeping the last write.

The sort is stable, so among samples with the same series and timestamp the one appended (or
stored) last wins: that is the store's replace rule. The work is ``kernels.sort_samples`` (C, or
its numpy reference).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from obskit import kernels

__all__ = ["Columns", "concat_columns", "sort_dedup"]

Columns = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]


def sort_dedup(
    ids: npt.NDArray[np.int64], ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> Columns:
    """Sort by (id, ts) and keep only the last of samples with equal (id, ts)."""
    return kernels.sort_samples(ids, ts, values)


def concat_columns(parts: list[Columns]) -> Columns:
    """Concatenate column triples in priority order (later parts win in ``sort_dedup``)."""
    if len(parts) == 1:
        return parts[0]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )
