"""Planning of compaction and retention: pure functions from block metas to what to merge or
delete. The store executes the plans (obskit.tsdb.db); keeping them pure keeps them testable.

Compaction works like Prometheus': first every group of blocks whose windows overlap (late or
backfilled samples flushed after their window was written) is merged into one; then blocks are
merged into aligned windows of the next range (2h → 6h → 18h ...) once that window is complete,
i.e. ends at or before the newest sample, never beyond ``max_range_ms``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from obskit.tsdb.block import BlockMeta

__all__ = ["Merge", "plan_compaction", "plan_retention"]


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


def plan_compaction(
    metas: Sequence[BlockMeta], ranges_ms: Sequence[int], newest_ms: int, max_range_ms: int
) -> Merge | None:
    """The next merge to run, or None when the blocks are compact."""
    for group in _overlap_groups(metas):
        if len(group) > 1:
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
