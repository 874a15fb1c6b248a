"""Sorting and de-duplicating sample columns by (series id, timestamp), keeping the last write.

Every sort here is stable, so among samples with the same series and timestamp the one appended
(or stored) last wins: that is the store's replace rule. When ids and the timestamp span fit in
one int64 the pair is packed into a single key (one radix-friendly argsort, and runs already in
order merge in linear time); otherwise ``np.lexsort`` does the same more slowly.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Columns", "concat_columns", "sort_dedup"]

Columns = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]


def _order(ids: npt.NDArray[np.int64], ts: npt.NDArray[np.int64]) -> npt.NDArray[np.intp] | None:
    """Stable order by (id, ts); None when the input is already in that order."""
    n = len(ids)
    if n < 2:
        return None
    d_ids = np.diff(ids)
    if not (d_ids < 0).any():
        same = d_ids == 0
        if not (same & (np.diff(ts) < 0)).any():
            return None
    ts_min = int(ts.min())
    span = int(ts.max()) - ts_min
    max_id = int(ids.max())
    bits = max(span.bit_length(), 1)
    if int(ids.min()) >= 0 and max_id.bit_length() + bits <= 62:
        key = (ids << bits) | (ts - ts_min)
        return np.argsort(key, kind="stable")
    return np.lexsort((ts, ids))


def sort_dedup(
    ids: npt.NDArray[np.int64], ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> Columns:
    """Sort by (id, ts) and keep only the last of samples with equal (id, ts)."""
    order = _order(ids, ts)
    if order is not None:
        ids, ts, values = ids[order], ts[order], values[order]
    n = len(ids)
    if n < 2:
        return ids, ts, values
    last = np.empty(n, dtype=bool)
    np.not_equal(ids[1:], ids[:-1], out=last[:-1])
    last[:-1] |= ts[1:] != ts[:-1]
    last[-1] = True
    if last.all():
        return ids, ts, values
    return ids[last], ts[last], values[last]


def concat_columns(parts: list[Columns]) -> Columns:
    """Concatenate column triples in priority order (later parts win in ``sort_dedup``)."""
    if len(parts) == 1:
        return parts[0]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )
