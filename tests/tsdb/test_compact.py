"""Compaction and retention planning."""

from __future__ import annotations

from obskit.tsdb.block import BlockMeta
from obskit.tsdb.compact import _MAX_DEFERRED_BLOCKS, Merge, plan_compaction, plan_retention

H = 3_600_000
RANGES = (2 * H, 6 * H, 18 * H)


def meta(seq: int, start_h: int, end_h: int, level: int = 0, size: int = 100) -> BlockMeta:
    return BlockMeta(seq, level, start_h * H, end_h * H, start_h * H, end_h * H - 1, 1, 1, size)


def test_overlapping_blocks_are_merged_first() -> None:
    metas = [meta(1, 0, 6, 1), meta(2, 6, 8), meta(3, 2, 4)]
    assert plan_compaction(metas, RANGES, 100 * H, 1000 * H) == Merge((1, 3), 0, 6 * H, 1)


def test_complete_windows_are_merged_level_by_level() -> None:
    metas = [meta(1, 0, 2), meta(2, 2, 4), meta(3, 4, 6), meta(4, 6, 8)]
    assert plan_compaction(metas, RANGES, 8 * H, 1000 * H) == Merge((1, 2, 3), 0, 6 * H, 1)
    # the window 6h-12h is not complete yet: nothing to do for it
    assert plan_compaction([meta(4, 6, 8), meta(5, 8, 10)], RANGES, 10 * H, 1000 * H) is None
    # ... until the newest sample passes its end
    assert plan_compaction([meta(4, 6, 8), meta(5, 8, 10)], RANGES, 12 * H, 1000 * H) == Merge(
        (4, 5), 6 * H, 12 * H, 1
    )


def test_early_flushes_of_a_window_wait_for_the_next_level() -> None:
    # a byte-bounded head flushed the window 2h-4h three times (blocks 2, 3, 4)
    metas = [meta(1, 0, 2), meta(2, 2, 4), meta(3, 2, 4), meta(4, 2, 4)]
    assert plan_compaction(metas, RANGES, 5 * H, 1000 * H) is None
    # once the 6h window completes, one merge takes them with the rest of the window
    metas.append(meta(5, 4, 6))
    assert plan_compaction(metas, RANGES, 6 * H, 1000 * H) == Merge((1, 2, 3, 4, 5), 0, 6 * H, 1)
    # alone in a complete window, they are merged among themselves
    alone = [meta(2, 2, 4), meta(3, 2, 4)]
    assert plan_compaction(alone, RANGES, 6 * H, 1000 * H) == Merge((2, 3), 2 * H, 4 * H, 0)


def test_early_flushes_wait_in_bounded_numbers() -> None:
    metas = [meta(seq, 2, 4) for seq in range(1, _MAX_DEFERRED_BLOCKS + 1)]
    assert plan_compaction(metas[:-1], RANGES, 5 * H, 1000 * H) is None
    assert plan_compaction(metas, RANGES, 5 * H, 1000 * H) == Merge(
        tuple(range(1, _MAX_DEFERRED_BLOCKS + 1)), 2 * H, 4 * H, 0
    )
    # a merged (higher level) block overlapping them is merged at once, as any late data
    late = [meta(1, 0, 6, level=1), meta(2, 4, 6)]
    assert plan_compaction(late, RANGES, 7 * H, 1000 * H) == Merge((1, 2), 0, 6 * H, 1)


def test_max_range_caps_levels() -> None:
    metas = [meta(1, 0, 6, 1), meta(2, 6, 12, 1), meta(3, 12, 18, 1)]
    assert plan_compaction(metas, RANGES, 100 * H, 6 * H) is None
    assert plan_compaction(metas, RANGES, 100 * H, 18 * H) == Merge((1, 2, 3), 0, 18 * H, 2)


def test_retention_by_time_then_size() -> None:
    metas = [meta(1, 0, 2, size=10), meta(2, 2, 4, size=10), meta(3, 4, 6, size=10)]
    assert plan_retention(metas, 6 * H, 3 * H, 0) == [1]
    assert plan_retention(metas, 6 * H, 0, 25) == [1]
    assert plan_retention(metas, 6 * H, 0, 25, other_bytes=10) == [1, 2]
    assert plan_retention(metas, 6 * H, 0, 0) == []
