"""Block's in-memory series table: narrowed columns widened for readers, reads of any subset of
rows equal to the same rows of a whole read (both formats, several pages)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from obskit.tsdb.block import Block, BlockMeta, BlockWriter

T0 = 1_767_225_600_000


def write_block(path: Path, fmt: int, n_series: int, steps: int, id_step: int = 3) -> Block:
    rng = np.random.default_rng(fmt)
    writer = BlockWriter(path, format_version=fmt)
    # uneven series: lengths and start times differ, so page cuts fall in different places
    lens = rng.integers(1, steps, n_series)
    starts = rng.integers(0, 1000, n_series)
    ids = np.arange(n_series, dtype=np.int64) * id_step + 5
    for sid, n, s in zip(ids.tolist(), lens.tolist(), starts.tolist(), strict=True):
        ts = T0 + (s + np.arange(n, dtype=np.int64)) * 15_000
        writer.add_series(sid, ts, np.round(rng.random(n) * 100, 1))
    writer.finish(BlockMeta(1, 0, T0, T0 + 10**9, 0, 0, 0, 0, [1]))
    return Block(path)


@pytest.mark.parametrize("fmt", [1, 2])
def test_reads_of_row_subsets_match_a_whole_read(tmp_path: Path, fmt: int) -> None:
    block = write_block(tmp_path / "b", fmt, n_series=900, steps=1200)
    n = len(block.series_ids)
    assert len(block.page_offsets) >= 3  # several pages, so offsets restart inside the table
    whole = block.read(np.arange(n), -(2**62), 2**62)
    ends = np.cumsum(whole.counts)
    rng = np.random.default_rng(7)
    for size in (1, 2, 17, n // 2):
        rows = np.sort(rng.choice(n, size, replace=False)).astype(np.int64)
        got = block.read(rows, -(2**62), 2**62)
        want = np.concatenate([np.arange(ends[r] - whole.counts[r], ends[r]) for r in rows])
        assert np.array_equal(got.sids, whole.sids[rows])
        assert np.array_equal(got.counts, whole.counts[rows])
        assert np.array_equal(got.ts, whole.ts[want])
        assert np.array_equal(got.values, whole.values[want])


@pytest.mark.parametrize("fmt", [1, 2])
def test_series_table_is_narrow_and_widened_for_readers(tmp_path: Path, fmt: int) -> None:
    block = write_block(tmp_path / "b", fmt, n_series=300, steps=50)
    n = len(block.series_ids)
    per_series = [block.series_ids, block.counts, block.pages, block.ts_lens, block.val_lens]
    per_series += [block.ts_offs, block.val_offs, block._mint_offs, block._maxt_offs]
    assert sum(a.nbytes for a in per_series) == 36 * n
    rows = np.arange(0, n, 7)
    sids, counts, first, last = block.runs(rows)
    assert all(a.dtype == np.int64 for a in (sids, counts, first, last))
    assert np.array_equal(first, block.series_mint[rows])
    assert np.array_equal(last, block.series_maxt[rows])
    whole = block.read(rows, -(2**62), 2**62)
    starts = np.cumsum(whole.counts) - whole.counts
    assert np.array_equal(first, whole.ts[starts])
    assert np.array_equal(last, whole.ts[starts + whole.counts - 1])
    # time filters against the widened times
    lo, hi = int(np.median(first)), int(np.median(last))
    inside = (block.series_maxt >= lo) & (block.series_mint <= hi)
    assert np.array_equal(block.ids_in_range(lo, hi), block.series_ids[inside].astype(np.int64))
    ids = np.arange(0, 1000, dtype=np.int64)  # most of them not in the block
    got = block.rows_for(ids, lo, hi)
    assert np.array_equal(got, np.flatnonzero(inside))
    assert block.rows_for(np.array([-1, 2**40], np.int64), lo, hi).size == 0


def test_plans_of_windows_covering_the_block_are_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from obskit.tsdb import block as block_module

    block = write_block(tmp_path / "b", 1, n_series=300, steps=50)
    lo, hi = block.meta.mint_ms, block.meta.maxt_ms
    ids = block.series_ids[::3].astype(np.int64)
    plan = block.plan(ids, lo - 1, hi + 1)
    want = block.plan_rows(block.rows_for(ids, lo, hi))
    assert np.array_equal(plan.rows, want.rows) and np.array_equal(plan.sids, ids)
    assert plan.page_nos == want.page_nos and plan.samples == want.samples
    assert all(np.array_equal(a, b) for a, b in zip(plan.index, want.index, strict=True))
    assert block.plan(ids.copy(), lo, hi) is plan  # remembered by the ids, not the array
    # a window cutting the block: rows depend on it, nothing remembered
    inner = block.plan(ids, lo + 10 * 15_000, lo + 20 * 15_000)
    assert len(inner) < len(plan)
    assert block.plan(ids, lo + 10 * 15_000, lo + 20 * 15_000) is not inner
    # bounded by rows
    monkeypatch.setattr(block_module, "_PLAN_CACHE_ROWS", 2 * len(ids))
    for k in range(3):
        block.plan(block.series_ids[k::3].astype(np.int64), lo, hi)
    assert sum(len(p) for p in block._plans.values()) <= 2 * len(ids)
    assert block.plan(ids, lo, hi) is not plan  # evicted: built again
    # and by entries (plans of ids the block does not hold have no rows)
    for k in range(block_module._PLAN_CACHE_ENTRIES + 3):
        block.plan(np.array([10**9 + k], np.int64), lo, hi)
    assert len(block._plans) == block_module._PLAN_CACHE_ENTRIES
