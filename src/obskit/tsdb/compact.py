"""Planning of compaction and retention: pure functions from block metas to what to merge or
delete. The store executes the plans (obskit.tsdb.db); keeping them pure keeps them testable.

Compaction works like Prometheus': first every group of blocks whose windows overlap (late or
backfilled samples flushed after their window was written) is merged into one; then blocks are
merged into aligned windows of the next range (2h → 6h → 18h ...) once that window is complete,
i.e. ends at or before the newest sample, never beyond ``max_range_ms``.

One exception keeps a byte-bounded head cheap: flushes of a head that filled up before its
window ended leave several first-level blocks of one window (VictoriaMetrics' small parts).
Merging them at each flush would rewrite the window once per flush; instead they wait for the
next level's window to complete and are merged into it in the same pass (each sample is then
written once more than by a single flush, not once per flush). Reads handle them meanwhile like
any consecutive runs. At most ``_MAX_DEFERRED_BLOCKS`` wait, so reads never see many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from obskit.tsdb.block import BlockMeta

__all__ = ["Merge", "plan_compaction", "plan_retention"]

# Flushed blocks of one window left for the next level's merge: bounds the blocks a read of
# that window opens (each is decoded on its own) while a fast head flushes every few seconds.
_MAX_DEFERRED_BLOCKS = 16


@dataclass(frozen=True, slots=True)
class Merge:
    """Merge ``seqs`` into one block covering [window_start_ms, window_end_ms) at ``level``."""

    seqs: tuple[int, ...]
    window_start_ms: int
    window_end_ms: int
    level: int


def _overlap_groups(metas: Sequence[BlockMeta]) -> list[list[BlockMeta]]:
    ordered = sorted(metas, key=lambda m: (m.window_start_ms, m.window_end_ms))
    groups: list[list[BlockMeta]] = []
    end = None
    for meta in ordered:
        if groups and end is not None and meta.window_start_ms < end:
            groups[-1].append(meta)
            end = max(end, meta.window_end_ms)
        else:
            groups.append([meta])
            end = meta.window_end_ms
    return groups


def _deferred(
    group: list[BlockMeta],
    metas: Sequence[BlockMeta],
    ranges_ms: Sequence[int],
    newest_ms: int,
    max_range_ms: int,
) -> bool:
    """Whether ``group`` is flushed blocks of one first-level window that the next level's
    merge will take in once its window completes (see the module docstring)."""
    if len(ranges_ms) < 2 or ranges_ms[1] > max_range_ms or len(group) >= _MAX_DEFERRED_BLOCKS:
        return False
    start, end = group[0].window_start_ms, group[0].window_end_ms
    if end - start != ranges_ms[0]:
        return False
    if any(m.level or (m.window_start_ms, m.window_end_ms) != (start, end) for m in group):
        return False
    rng = ranges_ms[1]
    upper = start // rng * rng
    if upper + rng > newest_ms + 1:
        return True  # the next level's window is not complete yet
    # complete: the next level's merge takes the group in if the window holds other blocks
    seqs = {m.seq for m in group}
    return any(
        m.window_start_ms >= upper and m.window_end_ms <= upper + rng and m.seq not in seqs
        for m in metas
    )


def plan_compaction(
    metas: Sequence[BlockMeta], ranges_ms: Sequence[int], newest_ms: int, max_range_ms: int
) -> Merge | None:
    """The next merge to run, or None when the blocks are compact."""
    for group in _overlap_groups(metas):
        if len(group) > 1 and not _deferred(group, metas, ranges_ms, newest_ms, max_range_ms):
            return Merge(
                tuple(sorted(m.seq for m in group)),
                min(m.window_start_ms for m in group),
                max(m.window_end_ms for m in group),
                max(m.level for m in group),
            )
    for level, rng in enumerate(ranges_ms):
        if level == 0 or rng > max_range_ms:
            continue
        windows: dict[int, list[BlockMeta]] = {}
        for meta in metas:
            if meta.window_end_ms - meta.window_start_ms >= rng:
                continue
            start = meta.window_start_ms // rng * rng
            if meta.window_end_ms <= start + rng:
                windows.setdefault(start, []).append(meta)
        for start in sorted(windows):
            group = windows[start]
            if len(group) > 1 and start + rng <= newest_ms + 1:
                return Merge(tuple(sorted(m.seq for m in group)), start, start + rng, level)
    return None


def plan_retention(
    metas: Sequence[BlockMeta],
    newest_ms: int,
    retention_ms: int,
    retention_bytes: int,
    other_bytes: int = 0,
) -> list[int]:
    """Seqs of blocks to delete: those wholly older than newest_ms - retention_ms, then the
    oldest ones while blocks (+ ``other_bytes``, e.g. the WAL) exceed retention_bytes."""
    doomed: list[int] = []
    keep = sorted(metas, key=lambda m: (m.window_start_ms, m.seq))
    if retention_ms:
        cutoff = newest_ms - retention_ms
        doomed += [m.seq for m in keep if m.maxt_ms < cutoff]
        keep = [m for m in keep if m.maxt_ms >= cutoff]
    if retention_bytes:
        total = other_bytes + sum(m.chunk_bytes + m.index_bytes for m in keep)
        while keep and total > retention_bytes:
            oldest = keep.pop(0)
            total -= oldest.chunk_bytes + oldest.index_bytes
            doomed.append(oldest.seq)
    return doomed
