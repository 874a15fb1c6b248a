"""The store's self-metrics, registered in an injected ``CollectorRegistry`` (never the global
one). Gauges read live state when scraped, so the write path updates nothing but counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

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
