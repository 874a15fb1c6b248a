"""Decoded-page cache: block pages as ``Block`` returns them (crc-checked, decompressed, and for
format 2 rANS-decoded), least recently used first out, bounded by bytes.

A query that wants a few series of a page still decompresses the whole page (~256 KiB), and a
dashboard asks the same ranges again and again: with this cache ``count(up)`` over a day reads
pages already decoded instead of decompressing every page its series sit in. Entries are keyed
by (block seq, page number); seqs are never reused while a store is open, and a block that is
deleted (compaction, retention) or closed has its pages dropped (``drop_block``). A reader may
still hold such a block from an older snapshot: pages it reads afterwards are not cached (only
blocks registered with ``add_block`` and not dropped since are). Compaction reads bypass the
cache, so merging whole blocks does not flush the pages queries use.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["PageCache", "PageCacheStats"]

# Bytes charged per entry beyond the page itself: the key tuple, the dict slot and the bytes
# object's header (measured with sys.getsizeof, rounded up), so a cache of many small pages
# (tiny blocks) still stays within its bound.
_ENTRY_OVERHEAD_BYTES = 256


@dataclass(frozen=True, slots=True)
class PageCacheStats:
    max_bytes: int
    bytes: int
    pages: int
    hits: int
    misses: int
    evictions: int


class PageCache:
    """Thread-safe LRU of decoded pages; ``max_bytes=0`` caches nothing (but still counts)."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"invalid page cache size {max_bytes}: must be >= 0")
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._pages: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._by_block: dict[int, set[int]] = {}  # live block seq -> its cached page numbers
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    def add_block(self, seq: int) -> None:
        """Allow pages of block ``seq`` to be cached (called when the block is opened)."""
        with self._lock:
            self._by_block.setdefault(seq, set())

    def drop_block(self, seq: int) -> None:
        """Forget block ``seq``'s pages and cache no more of them (deleted or closed)."""
        with self._lock:
            for page in self._by_block.pop(seq, ()):
                self._bytes -= _entry_bytes(self._pages.pop((seq, page)))

    def get(self, seq: int, page: int) -> bytes | None:
        """The cached page, or None (counted as a miss: the caller reads and ``put``s it)."""
        key = (seq, page)
        with self._lock:
            data = self._pages.get(key)
            if data is None:
                self._misses += 1
                return None
            self._pages.move_to_end(key)
            self._hits += 1
            return data

    def get_many(self, seq: int, pages: list[int]) -> list[bytes | None]:
        """``get`` of several pages of block ``seq`` under one lock."""
        out: list[bytes | None] = []
        with self._lock:
            cached = self._pages
            for page in pages:
                key = (seq, page)
                data = cached.get(key)
                if data is not None:
                    cached.move_to_end(key)
                out.append(data)
            hits = len(out) - out.count(None)
            self._hits += hits
            self._misses += len(out) - hits
        return out

    def put(self, seq: int, page: int, data: bytes) -> None:
        """Cache ``data`` as page ``page`` of block ``seq``, evicting the least recently used
        pages beyond the bound; ignored for a block not (or no longer) registered, or a page
        larger than the whole cache."""
        size = _entry_bytes(data)
        if size > self.max_bytes:
            return
        key = (seq, page)
        with self._lock:
            pages_of_block = self._by_block.get(seq)
            if pages_of_block is None or key in self._pages:
                return
            self._pages[key] = data
            pages_of_block.add(page)
            self._bytes += size
            while self._bytes > self.max_bytes:
                (old_seq, old_page), old = self._pages.popitem(last=False)
                self._by_block[old_seq].discard(old_page)
                self._bytes -= _entry_bytes(old)
                self._evictions += 1

    def seqs(self) -> set[int]:
        """Seqs of the blocks whose pages may be cached (added and not dropped since)."""
        with self._lock:
            return set(self._by_block)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._by_block.clear()
            self._bytes = 0

    def stats(self) -> PageCacheStats:
        with self._lock:
            return PageCacheStats(
                self.max_bytes,
                self._bytes,
                len(self._pages),
                self._hits,
                self._misses,
                self._evictions,
            )


def _entry_bytes(data: bytes) -> int:
    return len(data) + _ENTRY_OVERHEAD_BYTES
