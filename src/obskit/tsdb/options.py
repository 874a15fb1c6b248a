"""Options of the time-series store. Plain frozen dataclass: the server's pydantic settings map
onto it; the store never reads the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from obskit.errors import ConfigError

__all__ = ["HOUR_MS", "Options"]

HOUR_MS = 3_600_000

_FSYNC_POLICIES = ("always", "interval", "none")


def _default_ranges() -> tuple[int, ...]:
    # Prometheus' exponential block ranges (2h x 3^k): few enough levels that a sample is
    # rewritten at most ~5 times over its life, large enough at the top that a 15 s series holds
    # thousands of samples per block (compression and decode cost per call both amortise).
    return tuple(2 * HOUR_MS * 3**k for k in range(5))  # 2h 6h 18h 54h 162h


@dataclass(frozen=True, slots=True)
class Options:
    """How a store behaves; every field has a safe default."""

    # "always": fsync before every append returns (survives power loss);
    # "interval": the WAL is fsynced at most every fsync_interval_s (survives process crashes,
    #   loses at most that interval on power loss; Prometheus' and VictoriaMetrics' default trade);
    # "none": the OS decides (still survives a process crash, as the write() has happened).
    fsync: str = "interval"
    fsync_interval_s: float = 1.0
    # Time ranges of blocks by compaction level; the first is the flush partition.
    block_ranges_ms: tuple[int, ...] = field(default_factory=_default_ranges)
    # Keep data newer than (newest sample time - retention_ms); 0 = forever. Prometheus' default.
    retention_ms: int = 15 * 24 * HOUR_MS
    # Delete the oldest blocks while blocks + WAL exceed this many bytes; 0 = unlimited.
    retention_bytes: int = 0
    # Flush the whole head to blocks once it holds this many samples (~24 B each in memory).
    head_max_samples: int = 50_000_000
    # ... or once its columns take this many bytes: bounds the memory of a fast ingest (a
    # backfill, or many series) whatever time span it covers. Blocks flushed early for a window
    # that still receives samples are merged once with the next level's window (obskit.tsdb.
    # compact), so a smaller head costs more, smaller blocks for a while, not more rewrites.
    # 16 MiB is ~700 k samples: at 2 M samples/s a flush every ~0.35 s of ingest. With a
    # background maintainer the head and the parts being flushed together hold at most twice
    # this (appends wait for a flush beyond that); 32 MiB cost ~13 MiB more peak RSS under
    # a fast ingest for no measurable gain in ingest CPU (docs/benchmarks.md).
    head_max_bytes: int = 16 << 20
    # Once the head spans more than this plus one block range, windows that ended more than this
    # before the newest sample are written out. Samples arriving later than that still land
    # (in a small block that compaction merges), so this trades head memory (~24 B per sample
    # until head chunks are compressed) against extra compaction work for very late data.
    head_keep_ms: int = 1 * HOUR_MS
    # Run flush/compaction/retention from append when due (library use). A server turns this off
    # and calls DB.maintain() from a background thread, so no request waits for a flush.
    maintenance_in_append: bool = True
    # WAL segment size: large enough that rotation is rare, small enough to truncate promptly.
    wal_segment_bytes: int = 128 << 20
    # Format of new blocks (both are always read): 2 = rANS value pages with cross-series
    # prediction (the default: ~21 % smaller, under the 1.0 B/sample target); 1 = zstd pages
    # (encodes ~3x and decodes ~1.5x faster; for write-heavy stores where disk is cheap).
    # Figures in docs/benchmarks.md.
    block_format: int = 2
    # Format of the blocks a flush writes (level 0). Flushes run while ingesting, so they use
    # format 1, which encodes ~3x faster; compaction rewrites them into ``block_format`` (as
    # VictoriaMetrics merges small parts into big ones). Set 2 to write the small format at once.
    flush_block_format: int = 1
    # Bytes of decoded block pages kept for queries (obskit.tsdb.pagecache; 0 = none). Decoded
    # format 2 pages take ~9 B per sample (raw values; format 1 ~1.8), so 1 GiB holds ~120 M
    # samples: a day of 100 hosts of node_exporter (56 M samples) fits whole, and a query
    # touching a few series in every page (count(up): ~100 pages) stops decoding whole pages.
    # At 256 MiB such a query cycled through more pages than the LRU held and never hit.
    page_cache_bytes: int = 1 << 30
    # Threads that decode the pages of one big select (obskit.tsdb.readpool; the caller's thread
    # is one of them); 0 = the machine's cores, at most 4; 1 = decode on the caller's thread.
    read_threads: int = 0

    def __post_init__(self) -> None:
        if self.fsync not in _FSYNC_POLICIES:
            raise ConfigError(
                f"invalid fsync policy {self.fsync!r}: expected one of {', '.join(_FSYNC_POLICIES)}"
            )
        if self.fsync_interval_s <= 0:
            raise ConfigError(f"invalid fsync_interval_s {self.fsync_interval_s}: must be > 0")
        ranges = self.block_ranges_ms
        if not ranges or any(r <= 0 for r in ranges):
            raise ConfigError(f"invalid block_ranges_ms {ranges}: must be positive")
        if any(b % a for a, b in pairwise(ranges)):
            raise ConfigError(f"invalid block_ranges_ms {ranges}: each must divide the next")
        if self.retention_ms < 0 or self.retention_bytes < 0:
            raise ConfigError("invalid retention: must be >= 0")
        if self.head_max_samples <= 0:
            raise ConfigError(f"invalid head_max_samples {self.head_max_samples}: must be > 0")
        if self.head_max_bytes <= 0:
            raise ConfigError(f"invalid head_max_bytes {self.head_max_bytes}: must be > 0")
        if self.head_keep_ms < 0:
            raise ConfigError(f"invalid head_keep_ms {self.head_keep_ms}: must be >= 0")
        if self.page_cache_bytes < 0:
            raise ConfigError(f"invalid page_cache_bytes {self.page_cache_bytes}: must be >= 0")
        if self.read_threads < 0:
            raise ConfigError(f"invalid read_threads {self.read_threads}: must be >= 0")
        for name in ("block_format", "flush_block_format"):
            if getattr(self, name) not in (1, 2):
                raise ConfigError(f"invalid {name} {getattr(self, name)}: expected 1 or 2")
