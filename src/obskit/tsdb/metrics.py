"""The store's self-metrics, registered in an injected ``CollectorRegistry`` (never the global
one). Gauges read live state when scraped, so the write path updates nothing but counters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from obskit.tsdb.db import DB

__all__ = ["StoreMetrics"]


class StoreMetrics:
    def __init__(self, db: DB, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.flushes = Counter(
            "obskit_tsdb_flushes_total", "Head flushes to blocks.", registry=registry
        )
        self.compactions = Counter(
            "obskit_tsdb_compactions_total", "Block merges run by compaction.", registry=registry
        )
        self.appended = Counter(
            "obskit_tsdb_samples_appended_total", "Samples accepted by appends.", registry=registry
        )
        self.rejected = Counter(
            "obskit_tsdb_samples_rejected_total",
            "Samples rejected by appends, by reason.",
            ["reason"],
            registry=registry,
        )
        self.rejected_out_of_retention = self.rejected.labels(reason="out_of_retention")
        gauges = {
            "obskit_tsdb_series": ("Series known to the store.", lambda: len(db.index)),
            "obskit_tsdb_head_samples": (
                "Samples in the head (not yet in blocks).",
                db.head.num_samples,
            ),
            "obskit_tsdb_blocks": ("Blocks on disk.", lambda: len(db.blocks)),
            "obskit_tsdb_block_bytes": (
                "Bytes of block files.",
                lambda: sum(b.meta.chunk_bytes + b.meta.index_bytes for b in db.blocks),
            ),
        }
        for name, (doc, fn) in gauges.items():
            Gauge(name, doc, registry=registry).set_function(fn)
        registry.register(_PageCacheCollector(db))


class _PageCacheCollector(Collector):
    """The page cache counts under its own lock; this reads the counts when scraped (so a
    cache hit costs no metrics call)."""

    def __init__(self, db: DB) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        st = self._db.page_cache_stats()
        prefix = "obskit_tsdb_page_cache_"
        yield CounterMetricFamily(prefix + "hits", "Page reads served by the cache.", st.hits)
        yield CounterMetricFamily(prefix + "misses", "Page reads that decoded the page.", st.misses)
        yield CounterMetricFamily(
            prefix + "evictions", "Pages evicted to stay within the bound.", st.evictions
        )
        yield GaugeMetricFamily(prefix + "bytes", "Bytes of cached pages.", st.bytes)
        yield GaugeMetricFamily(prefix + "max_bytes", "The cache's bound in bytes.", st.max_bytes)
        yield GaugeMetricFamily(prefix + "pages", "Pages in the cache.", st.pages)
