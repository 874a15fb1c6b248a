"""The decoded-page cache: LRU by bytes, per-block eviction, and reads through it equal to
reads without it (both block formats, small pages so selects span many of them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

import obskit.tsdb as tsdb
from obskit import encoding
from obskit.model import Matcher, MatchType, make_labels
from obskit.tsdb import readpool
from obskit.tsdb.pagecache import PageCache

ALL = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)
N_SERIES = 60
N_STEPS = 960  # 4 h at 15 s: two 2 h blocks per flush window, then compacted


def entry(n: int) -> bytes:
    return bytes(n)


def test_lru_evicts_least_recently_used_within_bytes() -> None:
    size = len(entry(1000)) + 256
    cache = PageCache(3 * size)
    cache.add_block(1)
    for page in range(3):
        cache.put(1, page, entry(1000))
    assert cache.get(1, 0) is not None  # 0 is now the most recent
    cache.put(1, 3, entry(1000))  # evicts 1, the least recent
    assert cache.get(1, 1) is None
    assert all(cache.get(1, p) is not None for p in (0, 2, 3))
    st = cache.stats()
    assert (st.pages, st.bytes, st.evictions) == (3, 3 * size, 1)
    assert (st.hits, st.misses) == (4, 1)


def test_get_many_counts_and_refreshes_like_get() -> None:
    size = len(entry(1000)) + 256
    cache = PageCache(3 * size)
    cache.add_block(1)
    for page in range(3):
        cache.put(1, page, entry(1000))
    got = cache.get_many(1, [0, 5, 1])
    assert [g is not None for g in got] == [True, False, True]
    cache.put(1, 3, entry(1000))  # evicts 2: 0 and 1 were just used
    assert cache.get(1, 2) is None and cache.get(1, 0) is not None
    st = cache.stats()
    assert (st.hits, st.misses) == (3, 2)


def test_drop_block_forgets_its_pages_and_refuses_new_ones() -> None:
    cache = PageCache(1 << 20)
    cache.add_block(1)
    cache.add_block(2)
    cache.put(1, 0, entry(10))
    cache.put(2, 0, entry(10))
    cache.drop_block(1)
    assert cache.get(1, 0) is None
    assert cache.get(2, 0) is not None
    cache.put(1, 1, entry(10))  # a reader still holding the dropped block
    cache.put(7, 0, entry(10))  # a block never registered
    assert cache.get(1, 1) is None and cache.get(7, 0) is None
    assert cache.stats().pages == 1
    assert cache.seqs() == {2}


def test_page_larger_than_the_cache_is_not_cached() -> None:
    cache = PageCache(100)
    cache.add_block(1)
    cache.put(1, 0, entry(1000))
    assert cache.stats().pages == 0
    with pytest.raises(ValueError, match="page cache size"):
        PageCache(-1)


@pytest.fixture(params=[1, 2], ids=["format1", "format2"])
def store_dir(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A store of several blocks of many small pages (the page targets shrunk)."""
    monkeypatch.setattr(encoding, "PAGE_TARGET_BYTES", 2048)
    monkeypatch.setattr(encoding, "PAGE_TARGET_SAMPLES", 2048)
    rng = np.random.default_rng(7)
    opts = tsdb.Options(
        fsync="none",
        retention_ms=0,
        block_format=request.param,
        flush_block_format=request.param,
    )
    with tsdb.open(tmp_path, opts) as db:
        refs = db.series_refs(
            [make_labels("m", i=str(i), job=("a", "b")[i % 2]) for i in range(N_SERIES)]
        )
        for half in (0, 1):  # two flushes: overlapping windows make compaction merge
            for step in range(half, N_STEPS, 2):
                ts = np.full(N_SERIES, step * 15_000, dtype=np.int64)
                db.append_refs(refs, ts, np.round(rng.normal(100, 10, N_SERIES), 2))
            db.flush()
        db.compact()
        assert sum(len(b.page_offsets) for b in db.blocks) > 20
    return tmp_path


QUERIES = [
    ([], *ALL),
    ([Matcher(MatchType.EQ, "job", "a")], 1_000_000, 9_000_000),
    ([Matcher(MatchType.RE, "i", "1.*")], 0, 14_385_000),
    ([Matcher(MatchType.EQ, "i", "7")], 3_600_000, 3_600_000),
    ([Matcher(MatchType.EQ, "i", "7")], 3_600_000, 3_600_000),  # its page again: a hit
]


def read_queries(db: tsdb.DB) -> list[list[tuple[object, bytes, bytes]]]:
    return [
        [(s.labels, s.timestamps_ms.tobytes(), s.values.tobytes()) for s in db.select(*q)]
        for q in QUERIES
    ]


@pytest.mark.parametrize("cache_bytes", [60_000, 64 << 20], ids=["evicting", "roomy"])
def test_reads_through_the_cache_equal_uncached_reads(store_dir: Path, cache_bytes: int) -> None:
    with tsdb.open(store_dir, tsdb.Options(page_cache_bytes=0, read_threads=1)) as db:
        want = read_queries(db)
        assert db.page_cache_stats().hits == 0
    opts = tsdb.Options(page_cache_bytes=cache_bytes, read_threads=1)
    with tsdb.open(store_dir, opts) as db:
        assert read_queries(db) == want  # misses
        assert read_queries(db) == want  # hits (roomy) or hits and evictions (evicting)
        st = db.page_cache_stats()
        assert st.hits > 0 and st.misses > 0
        assert st.bytes <= cache_bytes
        assert (st.evictions > 0) == (cache_bytes == 60_000)


def test_parallel_decoding_equals_serial(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with tsdb.open(store_dir, tsdb.Options(page_cache_bytes=0, read_threads=1)) as db:
        want = read_queries(db)
    monkeypatch.setattr(readpool, "MIN_PARALLEL_SAMPLES", 0)
    for cache_bytes in (0, 60_000):
        opts = tsdb.Options(page_cache_bytes=cache_bytes, read_threads=3)
        with tsdb.open(store_dir, opts) as db:
            assert read_queries(db) == want
            assert read_queries(db) == want


def test_compaction_retention_and_close_drop_cached_pages(tmp_path: Path) -> None:
    opts = tsdb.Options(fsync="none", retention_ms=6 * 3_600_000)
    registry = CollectorRegistry(auto_describe=True)
    db = tsdb.open(tmp_path, opts, registry=registry)
    refs = db.series_refs([make_labels("m", i=str(i)) for i in range(5)])
    for hour in range(3):  # three flushed 1 h pieces of the first 2 h and 6 h windows
        ts = np.repeat(np.arange(hour * 240, (hour + 1) * 240) * 15_000, 5).astype(np.int64)
        db.append_refs(np.tile(refs, 240), ts, np.ones(len(ts)))
        db.flush()
        db.select([], *ALL)
        cache = db.page_cache
        assert cache is not None
        assert cache.seqs() == {b.seq for b in db.blocks}
        assert cache.stats().pages >= len(db.blocks)
    before, pages_before = {b.seq for b in db.blocks}, cache.stats().pages
    assert db.compact() > 0  # merged blocks: their pages are gone from the cache
    assert cache.seqs() == {b.seq for b in db.blocks}
    assert before - cache.seqs()
    assert cache.stats().pages < pages_before
    db.select([], *ALL)
    assert cache.stats().pages > 0
    late = np.full(5, 30 * 3_600_000, np.int64)  # 30 h: everything before 24 h is out
    db.append_refs(refs, late, np.ones(5))
    db.flush()
    assert db.apply_retention()
    assert cache.seqs() == {b.seq for b in db.blocks}
    assert registry.get_sample_value("obskit_tsdb_page_cache_hits_total") == cache.stats().hits
    assert registry.get_sample_value("obskit_tsdb_page_cache_bytes") == cache.stats().bytes
    db.close()
    assert cache.stats().pages == 0 and cache.seqs() == set()
