"""Pieces: many series' samples as flat columns (one run per series), and their merge.

Blocks and head parts each return the selected series as ``Pieces`` (series ids ascending, each
run sorted and unique by time). ``merge_pieces`` combines several sources into one run per
series with numpy gathers, not per-series Python: runs that follow each other in time are
concatenated in time order; only series whose runs overlap in time (backfill into an already
written window) are merged one by one, the later source winning on equal timestamps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from obskit import kernels
from obskit.tsdb.head import HeadPart
from obskit.tsdb.merge import merge_series

__all__ = [
    "Pieces",
    "clip_pieces",
    "gather_runs",
    "merge_pieces",
    "plan_layout",
    "read_part",
    "reorder_pieces",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Pieces:
    """Run ``i`` is series ``sids[i]``: ``counts[i]`` samples, laid out consecutively."""

    sids: I64
    counts: I64
    ts: I64
    values: F64

    @classmethod
    def empty(cls) -> Pieces:
        return cls(
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty(0, np.float64),
        )

    def __len__(self) -> int:
        return len(self.sids)

    def starts(self) -> I64:
        return np.cumsum(self.counts) - self.counts

    def runs(self) -> list[tuple[int, I64, F64]]:
        """(sid, ts, values) per run, as views (one Python tuple per series)."""
        ends = np.cumsum(self.counts).tolist()
        out = []
        start = 0
        for sid, end in zip(self.sids.tolist(), ends, strict=True):
            out.append((sid, self.ts[start:end], self.values[start:end]))
            start = end
        return out


def gather_runs(src_starts: I64, counts: I64) -> I64:
    """Indices that lay runs ``[src_starts[i], src_starts[i] + counts[i])`` end to end."""
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, np.int64)
    out_starts = np.cumsum(counts) - counts
    return np.repeat(src_starts - out_starts, counts) + np.arange(total, dtype=np.int64)


def clip_pieces(p: Pieces, mint_ms: int, maxt_ms: int) -> Pieces:
    """Keep samples in [mint_ms, maxt_ms]; runs left empty are dropped."""
    if not len(p.ts) or (int(p.ts.min()) >= mint_ms and int(p.ts.max()) <= maxt_ms):
        return p
    keep = (p.ts >= mint_ms) & (p.ts <= maxt_ms)
    run_of = np.repeat(np.arange(len(p.sids)), p.counts)
    counts = np.bincount(run_of[keep], minlength=len(p.sids)).astype(np.int64)
    nonempty = counts > 0
    return Pieces(p.sids[nonempty], counts[nonempty], p.ts[keep], p.values[keep])


def merge_pieces(sources: list[Pieces]) -> Pieces:
    """One run per series (ids ascending) from ``sources`` given in priority order."""
    sources = [s for s in sources if len(s)]
    if not sources:
        return Pieces.empty()
    if len(sources) == 1:
        return sources[0]
    sids = np.concatenate([s.sids for s in sources])
    counts = np.concatenate([s.counts for s in sources])
    src = np.repeat(np.arange(len(sources), dtype=np.int64), [len(s) for s in sources])
    starts = np.concatenate([s.starts() for s in sources])
    first = np.concatenate([s.ts[s.starts()] for s in sources])
    last = np.concatenate([s.ts[s.starts() + s.counts - 1] for s in sources])
    order = np.lexsort((first, sids))  # by series, then time; stable keeps priority order
    sids_o = sids[order]
    same = sids_o[1:] == sids_o[:-1]
    if (same & (last[order][:-1] >= first[order][1:])).any():
        ts = np.concatenate([s.ts for s in sources])
        values = np.concatenate([s.values for s in sources])
        bases = np.cumsum([0] + [len(s.ts) for s in sources])[:-1]
        flat_starts = bases[src] + starts
        clash = same & (last[order][:-1] >= first[order][1:])
        return _merge_with_overlaps(
            sids, counts, ts, values, flat_starts, np.unique(sids_o[1:][clash])
        )
    counts_o = counts[order]
    ts, values = kernels.concat_runs(
        [s.ts for s in sources], [s.values for s in sources], src[order], starts[order], counts_o
    )
    head = np.concatenate(([True], ~same))
    return Pieces(sids_o[head], np.add.reduceat(counts_o, np.flatnonzero(head)), ts, values)


def _merge_with_overlaps(
    sids: I64, counts: I64, ts: I64, values: F64, starts: I64, clashing: I64
) -> Pieces:
    bad = np.isin(sids, clashing)
    # Non-clashing series: runs of one series never overlap, concatenate them in time order.
    keep = ~bad
    parts: list[Pieces] = []
    if keep.any():
        k_sids, k_counts, k_starts = sids[keep], counts[keep], starts[keep]
        order = np.lexsort((ts[k_starts], k_sids))
        idx = gather_runs(k_starts[order], k_counts[order])
        s_sorted = k_sids[order]
        head = np.concatenate(([True], s_sorted[1:] != s_sorted[:-1]))
        parts.append(
            Pieces(
                s_sorted[head],
                np.add.reduceat(k_counts[order], np.flatnonzero(head)),
                ts[idx],
                values[idx],
            )
        )
    # Clashing series: merge their runs one series at a time, in priority order.
    merged_sids, merged_counts, merged_ts, merged_values = [], [], [], []
    for sid in clashing.tolist():
        runs = [
            (ts[a : a + c], values[a : a + c])
            for a, c in zip(starts[sids == sid].tolist(), counts[sids == sid].tolist(), strict=True)
        ]
        t, v = merge_series(runs)
        merged_sids.append(sid)
        merged_counts.append(len(t))
        merged_ts.append(t)
        merged_values.append(v)
    parts.append(
        Pieces(
            np.array(merged_sids, np.int64),
            np.array(merged_counts, np.int64),
            np.concatenate(merged_ts),
            np.concatenate(merged_values),
        )
    )
    if len(parts) == 1:
        return parts[0]
    # Disjoint series sets: order the runs by series id.
    all_sids = np.concatenate([p.sids for p in parts])
    all_counts = np.concatenate([p.counts for p in parts])
    all_ts = np.concatenate([p.ts for p in parts])
    all_values = np.concatenate([p.values for p in parts])
    order = np.argsort(all_sids, kind="stable")
    idx = gather_runs((np.cumsum(all_counts) - all_counts)[order], all_counts[order])
    return Pieces(all_sids[order], all_counts[order], all_ts[idx], all_values[idx])


def plan_layout(
    runs: list[tuple[I64, ...]], rank: Callable[[I64], I64] | None = None
) -> tuple[I64, I64, list[I64]] | None:
    """Place runs (sids, counts, first_ms, last_ms) of several sources one series after another,
    in time order within a series, the series by id (or by ``rank(sids)``, one distinct rank per
    series). Returns (series ids, samples per series, start of each run per source), or None
    when two runs of one series overlap in time."""
    sids = np.concatenate([r[0] for r in runs])
    counts = np.concatenate([r[1] for r in runs])
    first = np.concatenate([r[2] for r in runs])
    last = np.concatenate([r[3] for r in runs])
    order = np.lexsort((first, sids if rank is None else rank(sids)))
    sids_o = sids[order]
    same = sids_o[1:] == sids_o[:-1]
    if (same & (last[order][:-1] >= first[order][1:])).any():
        return None
    counts_o = counts[order]
    starts = np.empty(len(sids), np.int64)
    starts[order] = np.cumsum(counts_o) - counts_o
    head = np.concatenate(([True], ~same))
    bounds = np.cumsum([len(r[0]) for r in runs])[:-1]
    return (
        sids_o[head],
        np.add.reduceat(counts_o, np.flatnonzero(head)),
        np.split(starts, bounds),
    )


def reorder_pieces(p: Pieces, rank: Callable[[I64], I64]) -> Pieces:
    """The runs of ``p`` in the order of ``rank(p.sids)``."""
    order = np.argsort(rank(p.sids), kind="stable")
    if (order == np.arange(len(order))).all():
        return p
    idx = gather_runs(p.starts()[order], p.counts[order])
    return Pieces(p.sids[order], p.counts[order], p.ts[idx], p.values[idx])


def read_part(part: HeadPart, ids: I64, mint_ms: int, maxt_ms: int) -> Pieces:
    if part.maxt_ms < mint_ms or part.mint_ms > maxt_ms or not len(ids):
        return Pieces.empty()
    lo = np.searchsorted(part.ids, ids, "left")
    hi = np.searchsorted(part.ids, ids, "right")
    has = hi > lo
    counts = (hi - lo)[has]
    idx = gather_runs(lo[has], counts)
    pieces = Pieces(ids[has], counts, part.ts[idx], part.values[idx])
    return clip_pieces(pieces, mint_ms, maxt_ms)
