"""Reads stay consistent while appends, flushes and compactions run in other threads."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import obskit.tsdb as tsdb
from obskit import encoding
from obskit.model import make_labels
from obskit.tsdb import readpool

N_SERIES = 30
ALL = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)


def test_read_while_write_flush_and_compact(tmp_path: Path) -> None:
    opts = tsdb.Options(
        fsync="none",
        retention_ms=0,
        head_max_samples=2_000,
        block_ranges_ms=(600_000, 1_800_000, 5_400_000),
    )
    errors: list[BaseException] = []
    done = threading.Event()
    with tsdb.open(tmp_path, opts) as db:
        refs = db.series_refs([make_labels("m", i=str(i)) for i in range(N_SERIES)])

        def writer() -> None:
            try:
                for step in range(600):
                    ts = np.full(N_SERIES, step * 15_000, dtype=np.int64)
                    db.append_refs(refs, ts, refs * 1e6 + step)
                    if step % 50 == 49:
                        db.compact()
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        def reader() -> None:
            try:
                last = 0
                while not done.is_set():
                    result = db.select([], *ALL)
                    total = 0
                    for s in result:
                        sid = int(dict(s.labels)["i"])
                        steps = s.timestamps_ms // 15_000
                        # a prefix of the steps, no gaps, no duplicates, right values
                        assert (steps == np.arange(len(steps))).all()
                        assert (s.values == sid * 1e6 + steps).all()
                        total += len(s)
                    assert total >= last  # never goes back
                    last = total
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer)] + [
            threading.Thread(target=reader) for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert sum(len(s) for s in db.select([], *ALL)) == 600 * N_SERIES
        assert db.stats()["compactions_total"] > 0


def test_cached_reads_while_compaction_and_retention_delete_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers through a small page cache (evicting all the time) and parallel page decoding,
    while compaction replaces blocks and retention deletes the oldest: every read is a
    contiguous, correct run per series, and the cache ends holding only live blocks' pages."""
    monkeypatch.setattr(encoding, "PAGE_TARGET_BYTES", 1024)
    monkeypatch.setattr(readpool, "MIN_PARALLEL_SAMPLES", 0)
    opts = tsdb.Options(
        fsync="none",
        retention_ms=1_800_000,  # 30 min: blocks keep being deleted as the writer moves on
        head_max_samples=2_000,
        block_ranges_ms=(300_000, 900_000, 1_800_000),
        page_cache_bytes=3_000,
        read_threads=2,
    )
    errors: list[BaseException] = []
    done = threading.Event()
    with tsdb.open(tmp_path, opts) as db:
        refs = db.series_refs([make_labels("m", i=str(i)) for i in range(N_SERIES)])

        def writer() -> None:
            try:
                for step in range(600):
                    ts = np.full(N_SERIES, step * 15_000, dtype=np.int64)
                    db.append_refs(refs, ts, refs * 1e6 + step)
                    if step % 40 == 39:
                        db.compact()
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        def reader() -> None:
            try:
                while not done.is_set():
                    for s in db.select([], *ALL):
                        sid = int(dict(s.labels)["i"])
                        steps = s.timestamps_ms // 15_000
                        # retention cuts whole old blocks: what is left is contiguous
                        assert (steps == steps[0] + np.arange(len(steps))).all()
                        assert (s.values == sid * 1e6 + steps).all()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer)] + [
            threading.Thread(target=reader) for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        stats = db.stats()
        assert stats["compactions_total"] > 0
        cache = db.page_cache
        assert cache is not None
        st = cache.stats()
        assert st.hits > 0 and st.evictions > 0 and st.bytes <= opts.page_cache_bytes
        assert cache.seqs() == {b.seq for b in db.blocks}
        assert min(b.meta.mint_ms for b in db.blocks) > 0  # retention deleted blocks


def test_append_waits_for_a_running_flush_once_the_head_is_full_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100 series x 1,000 steps = 2.4 MB of head columns; the head bound is 240 KB.
    opts = tsdb.Options(
        fsync="none", retention_ms=0, head_max_bytes=240_000, maintenance_in_append=False
    )
    flush_started, release_flush = threading.Event(), threading.Event()
    write_parts = tsdb.DB._write_parts

    def slow_write_parts(self: tsdb.DB, parts: list) -> list:  # type: ignore[type-arg]
        flush_started.set()
        release_flush.wait()
        return write_parts(self, parts)

    monkeypatch.setattr(tsdb.DB, "_write_parts", slow_write_parts)
    steps_done = [0]
    with tsdb.open(tmp_path, opts) as db:
        refs = db.series_refs([make_labels("m", i=str(i)) for i in range(100)])

        def append_steps(lo: int, hi: int) -> None:
            for step in range(lo, hi):
                db.append_refs(refs, np.full(100, step * 15_000), np.full(100, float(step)))
                steps_done[0] = step + 1

        append_steps(0, 200)  # 480 KB: twice the bound
        flusher = threading.Thread(target=db.flush)
        flusher.start()
        flush_started.wait()
        writer = threading.Thread(target=append_steps, args=(200, 1000))
        writer.start()
        writer.join(timeout=1.0)
        # the writer filled a new head up to the bound, then waited for the flush
        assert writer.is_alive()
        head_bytes = db.stats()["head_bytes"]
        assert 240_000 <= head_bytes < 480_000 + 100 * 24
        assert steps_done[0] < 1000
        release_flush.set()
        flusher.join()
        writer.join()
        assert steps_done[0] == 1000
        assert sum(len(s) for s in db.select([], *ALL)) == 100 * 1000
