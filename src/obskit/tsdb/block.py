"""Immutable blocks: all samples of a time window, one timestamp and one value column per series.

A block is a directory written once under a temporary name and renamed into place::

    blocks/<seq>/            seq: 12 digits, unique and increasing; a later block wins on equal
      meta.json              (series, timestamp) — that is how replacement survives compaction
      index
      chunks

``chunks`` holds pages of the columns of consecutive series (series sorted by id, so related
series sit together: a page's value columns predict each other)::

    ┌──────────────────┬────────────┬─── page 0 ──────────────────────────────┬─ page 1 ...
    │ magic "OBSKCHNK" │ u32 version│ u32 len │ u32 crc32(bytes) │ bytes (len) │
    └──────────────────┴────────────┴─────────┴──────────────────┴─────────────┴────────────

    format 2 (the default): version 2 pages of about PAGE_TARGET_SAMPLES samples
    (obskit.encoding.encode_value_page: timestamp columns + rANS-coded value columns)
      decoded page = ts of series a │ ts of b │ ... │ raw values of a │ raw values of b ...
      val_len[i] in the index is the length of that raw column (1 + uvarint + 8 * count).
    format 1 (Options.block_format=1): version 1 pages, zstd over ~PAGE_TARGET_BYTES of columns
      decoded page = ts column of series a │ value column of series a │ ts of b │ values of b ...
    each column starts with its codec byte (obskit.encoding), so the codec is chosen per column.

``index`` maps series to their columns; the body is one page-compressed blob of little-endian
arrays, each of length n (series) or p (pages)::

    ┌──────────────────┬────────────┬───────┬───────┬──────────┬──────────────────┬───────────┐
    │ magic "OBSKINDX" │ u32 version│ u32 n │ u32 p │ u32 blen │ body (blen bytes)│ u32 crc32 │
    └──────────────────┴────────────┴───────┴───────┴──────────┴──────────────────┴───────────┘
    body (decoded): i64 series_id[n] │ i64 mint_ms[n] │ i64 maxt_ms[n] │ u32 count[n] │
                    u32 page[n] │ u32 ts_len[n] │ u32 val_len[n] │
                    u64 page_offset[p] │ u32 page_len[p]
    crc32 covers every byte before it. Column offsets inside a page follow from the lengths.
    The index version is the block's format (1 or 2); both use this layout.

``meta.json`` records format version (1 or 2), seq, level, window, actual min/max
time, counts, codec mix and the seqs of the blocks it replaced (so a compaction interrupted
before deleting its sources is finished on open). ``kind`` is "raw"; downsampled rollup blocks
will use another kind.
"""

from __future__ import annotations

import functools
import itertools
import json
import mmap
import os
import struct
import threading
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from obskit import encoding
from obskit.disk.files import fsync_dir
from obskit.errors import CorruptDataError
from obskit.tsdb.pagecache import PageCache
from obskit.tsdb.pieces import Pieces, clip_pieces
from obskit.tsdb.readpool import ReadPool

__all__ = ["Block", "BlockMeta", "BlockWriter"]

FORMAT_VERSION = 2  # the newest format this module writes
DEFAULT_FORMAT = 2  # what BlockWriter writes unless told (tsdb.Options.block_format)
READABLE_FORMATS = (1, 2)
CHUNKS_MAGIC = b"OBSKCHNK"
INDEX_MAGIC = b"OBSKINDX"
_HEAD = struct.Struct("<8sI")
_PAGE_HEAD = struct.Struct("<II")
_INDEX_HEAD = struct.Struct("<8sIIII")
_U32 = struct.Struct("<I")
# Encode this many samples / series per encode_columns call: amortises the call, bounds memory.
_BATCH_SAMPLES = 1 << 20
_BATCH_SERIES = 4096


@dataclass(slots=True)
class BlockMeta:
    seq: int
    level: int
    window_start_ms: int
    window_end_ms: int  # exclusive
    mint_ms: int
    maxt_ms: int
    series: int
    samples: int
    chunk_bytes: int = 0
    index_bytes: int = 0
    sources: list[int] = field(default_factory=list)
    ts_codecs: dict[str, int] = field(default_factory=dict)
    value_codecs: dict[str, int] = field(default_factory=dict)
    kind: str = "raw"
    format: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes, path: str) -> BlockMeta:
        try:
            data = json.loads(raw)
            meta = cls(**data)
        except (ValueError, TypeError) as exc:
            raise CorruptDataError(f"cannot read block meta {path}: {exc}", path) from None
        if meta.format not in READABLE_FORMATS or meta.kind != "raw":
            raise CorruptDataError(
                f"cannot read block meta {path}: unsupported format {meta.format} kind {meta.kind}",
                path,
            )
        return meta


def block_dir_name(seq: int) -> str:
    return f"{seq:012d}"


class BlockWriter:
    """Streams series (in increasing id order) into a new block directory.

    Columns are encoded in batches (one ``encode_columns`` call per batch, so codec work happens
    in C) and cut into pages: of about ``PAGE_TARGET_BYTES`` of encoded columns (format 1) or
    ``PAGE_TARGET_SAMPLES`` samples (format 2).
    """

    def __init__(
        self,
        directory: Path,
        level: int = encoding.DEFAULT_ZSTD_LEVEL,
        format_version: int = DEFAULT_FORMAT,
    ) -> None:
        if format_version not in READABLE_FORMATS:
            raise ValueError(f"cannot write block format {format_version}")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=False)
        self._chunks = open(directory / "chunks", "wb")  # noqa: SIM115 - closed in finish()
        self._chunks.write(_HEAD.pack(CHUNKS_MAGIC, format_version))
        self._format = format_version
        self._level = level
        self._rows: list[npt.NDArray[np.int64]] = []  # (k, 7) per batch, columns as in the index
        self._page_offsets: list[int] = []
        self._page_lens: list[int] = []
        self._codec_ids: list[npt.NDArray[np.uint8]] = []
        self._pending: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.float64]]] = []
        self._pending_samples = 0
        self._last_id = -1
        self.samples = 0
        self.mint_ms = int(np.iinfo(np.int64).max)
        self.maxt_ms = int(np.iinfo(np.int64).min)

    def add_series(
        self, series_id: int, ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
    ) -> None:
        """Add one series (ids strictly increasing across all adds); buffered into batches."""
        if not len(ts):
            return
        self._pending.append((series_id, ts, values))
        self._pending_samples += len(ts)
        if self._pending_samples >= _BATCH_SAMPLES:
            self._drain()

    def _drain(self) -> None:
        if not self._pending:
            return
        ids = np.array([p[0] for p in self._pending], dtype=np.int64)
        lens = np.array([len(p[1]) for p in self._pending], dtype=np.int64)
        ends = np.cumsum(lens)
        ts = np.concatenate([p[1] for p in self._pending])
        values = np.concatenate([p[2] for p in self._pending])
        self._pending, self._pending_samples = [], 0
        self.add_sorted(ids, ts, values, ends - lens, ends)

    def add_sorted(
        self,
        ids: npt.NDArray[np.int64],
        ts: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        starts: npt.NDArray[np.int64],
        ends: npt.NDArray[np.int64],
    ) -> None:
        """Add series ``ids[i]`` = samples ``[starts[i], ends[i])`` of ``ts``/``values`` (each
        sorted by time, non-empty, ids increasing and above any added before)."""
        if not len(ids):
            return
        if int(ids[0]) <= self._last_id or (len(ids) > 1 and bool(np.any(np.diff(ids) <= 0))):
            raise AssertionError("BUG: block series must be added in increasing id order")
        self._last_id = int(ids[-1])
        for lo in range(0, len(ids), _BATCH_SERIES):
            sl = slice(lo, lo + _BATCH_SERIES)
            self._encode(ids[sl], ts, values, starts[sl], ends[sl])

    def _encode(
        self,
        ids: npt.NDArray[np.int64],
        ts: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        starts: npt.NDArray[np.int64],
        ends: npt.NDArray[np.int64],
    ) -> None:
        if self._format == 2:
            self._encode_v2(ids, ts, values, starts, ends)
            return
        data, ts_lens, val_lens, codecs = encoding.encode_columns(ts, values, starts, ends)
        self._codec_ids.append(codecs)
        counts = ends - starts
        self.samples += int(counts.sum())
        mins, maxs = ts[starts], ts[ends - 1]
        self.mint_ms = min(self.mint_ms, int(mins.min()))
        self.maxt_ms = max(self.maxt_ms, int(maxs.max()))
        # Cut pages of about PAGE_TARGET_BYTES: a column pair starts a new page once the pairs
        # before it in this batch fill a multiple of the target.
        pair = ts_lens + val_lens
        cum = np.cumsum(pair)
        page_in_batch = (cum - pair) // encoding.PAGE_TARGET_BYTES
        cuts = np.flatnonzero(np.diff(page_in_batch)) + 1
        first_page = len(self._page_offsets)
        view = memoryview(data)
        bounds = [0, *cuts.tolist(), len(ids)]
        for a, b in itertools.pairwise(bounds):
            lo = int(cum[a] - pair[a])
            hi = int(cum[b - 1])
            self._write_page(view[lo:hi])
        pages = first_page + np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
        self._rows.append(np.stack([ids, mins, maxs, counts, pages, ts_lens, val_lens], axis=1))

    def _encode_v2(
        self,
        ids: npt.NDArray[np.int64],
        ts: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        starts: npt.NDArray[np.int64],
        ends: npt.NDArray[np.int64],
    ) -> None:
        counts = ends - starts
        self.samples += int(counts.sum())
        mins, maxs = ts[starts], ts[ends - 1]
        self.mint_ms = min(self.mint_ms, int(mins.min()))
        self.maxt_ms = max(self.maxt_ms, int(maxs.max()))
        # Timestamp columns as in format 1 (the value half of encode_columns is all-zero consts
        # here, a few bytes each, and is dropped).
        zeros = np.zeros(ts.size, dtype=np.float64)
        data, ts_lens, zero_lens, codecs = encoding.encode_columns(ts, zeros, starts, ends)
        pair = ts_lens + zero_lens
        ts_at = np.repeat(np.cumsum(pair) - pair - (np.cumsum(ts_lens) - ts_lens), ts_lens)
        ts_data = np.frombuffer(data, np.uint8)[ts_at + np.arange(int(ts_lens.sum()))]
        ts_cum = np.cumsum(ts_lens)
        # Pages of about PAGE_TARGET_SAMPLES: a series starts a new page once the series before
        # it in this batch fill a multiple of the target.
        cum = np.cumsum(counts)
        page_in_batch = (cum - counts) // encoding.PAGE_TARGET_SAMPLES
        cuts = np.flatnonzero(np.diff(page_in_batch)) + 1
        first_page = len(self._page_offsets)
        bounds = [0, *cuts.tolist(), len(ids)]
        for a, b in itertools.pairwise(bounds):
            lo = int(ts_cum[a] - ts_lens[a])
            cols = [values[int(starts[i]) : int(ends[i])] for i in range(a, b)]
            page, kinds = encoding.encode_value_page(
                ts_data[lo : int(ts_cum[b - 1])].tobytes(), cols
            )
            codecs[a:b, 1] = kinds
            self._append_page(page)
        self._codec_ids.append(codecs)
        val_lens = encoding.raw_column_lengths(counts)
        pages = first_page + np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
        self._rows.append(np.stack([ids, mins, maxs, counts, pages, ts_lens, val_lens], axis=1))

    def _write_page(self, raw: memoryview) -> None:
        self._append_page(encoding.encode_page([raw], self._level))

    def _append_page(self, page: bytes) -> None:
        self._page_offsets.append(self._chunks.tell())
        self._page_lens.append(len(page))
        self._chunks.write(_PAGE_HEAD.pack(len(page), zlib.crc32(page)))
        self._chunks.write(page)

    def finish(self, meta: BlockMeta) -> BlockMeta:
        """Write the index and meta, fsync everything; returns the completed meta."""
        self._drain()
        self._chunks.flush()
        os.fsync(self._chunks.fileno())
        meta.chunk_bytes = self._chunks.tell()
        self._chunks.close()
        rows = np.concatenate(self._rows) if self._rows else np.empty((0, 7), np.int64)
        body = b"".join(
            (
                rows[:, 0].astype("<i8").tobytes(),
                rows[:, 1].astype("<i8").tobytes(),
                rows[:, 2].astype("<i8").tobytes(),
                rows[:, 3].astype("<u4").tobytes(),
                rows[:, 4].astype("<u4").tobytes(),
                rows[:, 5].astype("<u4").tobytes(),
                rows[:, 6].astype("<u4").tobytes(),
                np.array(self._page_offsets, dtype="<u8").tobytes(),
                np.array(self._page_lens, dtype="<u4").tobytes(),
            )
        )
        packed = encoding.encode_page([body], self._level)
        head = _INDEX_HEAD.pack(
            INDEX_MAGIC, self._format, len(rows), len(self._page_offsets), len(packed)
        )
        index = head + packed
        index += _U32.pack(zlib.crc32(index))
        with open(self.directory / "index", "wb") as f:
            f.write(index)
            os.fsync(f.fileno())
        meta.index_bytes = len(index)
        meta.format = self._format
        meta.series = len(rows)
        meta.samples = self.samples
        meta.mint_ms = int(self.mint_ms)
        meta.maxt_ms = int(self.maxt_ms)
        ids = np.concatenate(self._codec_ids) if self._codec_ids else np.empty((0, 2), np.uint8)
        meta.ts_codecs = _count_codecs(ids[:, 0])
        meta.value_codecs = _count_codecs(ids[:, 1])
        with open(self.directory / "meta.json", "wb") as f:
            f.write(meta.to_json())
            os.fsync(f.fileno())
        fsync_dir(self.directory)
        return meta

    def abort(self) -> None:
        if not self._chunks.closed:
            self._chunks.close()


def _narrow(table: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """``table`` (non-negative) as uint32 when all its values fit, else as it is."""
    if not table.size or int(table.max()) <= 0xFFFFFFFF:
        return table.astype(np.uint32)
    return table


def _count_codecs(ids: npt.NDArray[np.uint8]) -> dict[str, int]:
    uniq, counts = np.unique(ids, return_counts=True)
    return dict(sorted(zip(encoding.codec_names(uniq), counts.tolist(), strict=True)))


# Block.plan remembers the plans of recent id sets (a dashboard's selectors, refreshed) for the
# reads of a block wholly inside the query window, up to this many rows in all per block
# (~64 bytes each: 1 MiB per block).
_PLAN_CACHE_ROWS = 1 << 14
_PLAN_CACHE_ENTRIES = 64


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """What reading some series of a block takes from its index: ``rows`` of the series table
    (ascending), their series ids, the index columns of those rows (ts_off, ts_len, val_off,
    val_len, counts; contiguous int64), each row's page, and the split into pages (the rows of
    page ``page_nos[p]`` are ``[starts[p], starts[p + 1])``). Shared: do not change."""

    rows: npt.NDArray[np.int64]
    sids: npt.NDArray[np.int64]
    index: tuple[npt.NDArray[np.int64], ...]
    pages: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    page_nos: list[int]
    samples: int

    def __len__(self) -> int:
        return len(self.rows)


class Block:
    """A read-only block; safe to share between threads. Pages read for queries go through
    ``page_cache`` when given (compaction reads pass ``cached=False``)."""

    def __init__(self, path: Path, page_cache: PageCache | None = None) -> None:
        self.path = path
        self._page_cache = page_cache
        spath = str(path)
        try:
            self.meta = BlockMeta.from_json((path / "meta.json").read_bytes(), spath)
            index = (path / "index").read_bytes()
            with open(path / "chunks", "rb") as f:
                size = os.fstat(f.fileno()).st_size
                self._mm: mmap.mmap | None = (
                    mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
                )
        except OSError as exc:
            raise CorruptDataError(f"cannot open block {spath}: {exc}", spath) from None
        self._chunks_path = str(path / "chunks")
        self._parse_index(index, str(path / "index"), self.meta.format)
        if self._mm is None or self._mm[: _HEAD.size] != _HEAD.pack(CHUNKS_MAGIC, self.meta.format):
            raise CorruptDataError(
                f"cannot open block chunks {self._chunks_path}: bad magic or version",
                self._chunks_path,
            )
        if page_cache is not None:
            page_cache.add_block(self.meta.seq)
        self._plans: dict[bytes, ReadPlan] = {}  # ids.tobytes() -> plan, most recent last
        self._plans_lock = threading.Lock()

    def _parse_index(self, raw: bytes, path: str, format_version: int) -> None:
        def bad(why: str) -> CorruptDataError:
            return CorruptDataError(f"cannot read block index {path}: {why}", path)

        if len(raw) < _INDEX_HEAD.size + 4:
            raise bad("file too short")
        if zlib.crc32(raw[:-4]) != _U32.unpack_from(raw, len(raw) - 4)[0]:
            raise bad("crc mismatch")
        magic, version, n, p, blen = _INDEX_HEAD.unpack_from(raw, 0)
        if magic != INDEX_MAGIC or version != format_version:
            raise bad(f"bad magic or unsupported version {version}")
        if _INDEX_HEAD.size + blen + 4 != len(raw):
            raise bad("length mismatch")
        body = encoding.decode_page(memoryview(raw)[_INDEX_HEAD.size : _INDEX_HEAD.size + blen])
        if len(body) != 40 * n + 12 * p:
            raise bad(f"body of {len(body)} bytes does not hold {n} series and {p} pages")
        # A block's series table stays in memory while the block is open, and a fast backfill
        # keeps dozens of flushed blocks open while they wait for compaction: it is kept in
        # 36 B per series (was 72 as int64; docs/benchmarks.md "Peak RSS work, session 4"). Ids,
        # times (as offsets from the block's first sample) and column offsets are uint32 when
        # they fit, and readers widen the rows they use to int64.
        pos = 0

        def take(dtype: str, count: int) -> npt.NDArray[np.int64]:
            nonlocal pos
            arr = np.frombuffer(body, dtype, count, pos).astype(np.int64)
            pos += np.dtype(dtype).itemsize * count
            return arr

        ids = take("<i8", n)
        mint = take("<i8", n)
        maxt = take("<i8", n)
        counts, pages, ts_lens, val_lens = (take("<u4", n) for _ in range(4))
        self.page_offsets = take("<u8", p)
        self.page_lens = take("<u4", p)
        if n and (
            np.any(np.diff(ids) <= 0)
            or int(ids[0]) < 0
            or int(pages[-1]) >= p
            or np.any(np.diff(pages) < 0)
            or np.any(maxt < mint)
        ):
            raise bad("series table out of order")
        # Offset of each series' ts and value columns inside its decoded page.
        first_of_page = np.searchsorted(pages, pages, side="left")
        if format_version == 1:  # ts column, value column, next series ...
            pair = ts_lens + val_lens
            csum = np.cumsum(pair) - pair
            ts_offs = csum - csum[first_of_page] if n else csum
            val_offs = ts_offs + ts_lens
        else:  # all ts columns of the page, then all its value columns
            ts_cum = np.cumsum(ts_lens) - ts_lens
            val_cum = np.cumsum(val_lens) - val_lens
            ts_offs = ts_cum - ts_cum[first_of_page] if n else ts_cum
            page_ts = np.zeros(p + 1, np.int64)
            np.add.at(page_ts, pages + 1, ts_lens)
            within = val_cum - val_cum[first_of_page] if n else val_cum
            val_offs = page_ts[pages + 1] + within
        self._time_base = int(mint.min()) if n else 0
        # One table, so a reader widens the columns of its rows in one step: rows 0-4 are the
        # index arguments of encoding.decode_pages_into, rows 4-7 what ``runs`` returns.
        table = _narrow(
            np.stack(
                [
                    ts_offs,
                    ts_lens,
                    val_offs,
                    val_lens,
                    counts,
                    ids,
                    mint - self._time_base,
                    maxt - self._time_base,
                    pages,
                ]
            )
        )
        self._table = table
        self.ts_offs, self.ts_lens, self.val_offs, self.val_lens, self.counts = table[:5]
        self.series_ids, self._mint_offs, self._maxt_offs, self.pages = table[5:]

    @property
    def series_mint(self) -> npt.NDArray[np.int64]:
        """First sample time of each series (int64, built on each call)."""
        mint: npt.NDArray[np.int64] = self._mint_offs.astype(np.int64) + self._time_base
        return mint

    @property
    def series_maxt(self) -> npt.NDArray[np.int64]:
        """Last sample time of each series (int64, built on each call)."""
        maxt: npt.NDArray[np.int64] = self._maxt_offs.astype(np.int64) + self._time_base
        return maxt

    def runs(
        self, rows: npt.NDArray[np.int64]
    ) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
    ]:
        """(series id, sample count, first ms, last ms) of the series at ``rows``, as int64
        (what ``obskit.tsdb.pieces.plan_layout`` takes)."""
        runs = self._table[4:8].take(rows, axis=1).astype(np.int64)
        runs[2:] += self._time_base
        return runs[1], runs[0], runs[2], runs[3]  # table order is counts, ids

    def ids_in_range(self, mint_ms: int, maxt_ms: int) -> npt.NDArray[np.int64]:
        """Ids (sorted, int64) of the series with samples in [mint, maxt]."""
        if self.meta.maxt_ms < mint_ms or self.meta.mint_ms > maxt_ms:
            return np.empty(0, np.int64)
        lo, hi = mint_ms - self._time_base, maxt_ms - self._time_base
        mint, maxt = self._table[6:8].astype(np.int64)
        ids: npt.NDArray[np.int64] = self.series_ids[(maxt >= lo) & (mint <= hi)].astype(np.int64)
        return ids

    def _in_range(
        self, rows: npt.NDArray[np.int64], mint_ms: int, maxt_ms: int
    ) -> npt.NDArray[np.int64]:
        """Those of ``rows`` whose series have samples in [mint, maxt] (the block's range
        overlaps it): a bound that every series meets is not compared."""
        lo, hi = mint_ms - self._time_base, maxt_ms - self._time_base
        if lo > 0:
            rows = rows[self._maxt_offs[rows].astype(np.int64) >= lo]
        if hi < self.meta.maxt_ms - self._time_base:
            rows = rows[self._mint_offs[rows].astype(np.int64) <= hi]
        return rows

    @property
    def seq(self) -> int:
        return self.meta.seq

    def _read_page(self, page: int) -> bytes:
        assert self._mm is not None
        off = int(self.page_offsets[page])
        length, crc = _PAGE_HEAD.unpack_from(self._mm, off)
        data = self._mm[off + _PAGE_HEAD.size : off + _PAGE_HEAD.size + length]
        if len(data) != length or zlib.crc32(data) != crc:
            raise CorruptDataError(
                f"cannot read page {page} of {self._chunks_path}: crc mismatch", self._chunks_path
            )
        try:
            return encoding.decode_page(data)
        except CorruptDataError as exc:
            raise CorruptDataError(
                f"cannot read page {page} of {self._chunks_path}: {exc}", self._chunks_path
            ) from None

    def rows_for(
        self, ids: npt.NDArray[np.int64], mint_ms: int, maxt_ms: int
    ) -> npt.NDArray[np.int64]:
        """Rows of the series table for ``ids`` (sorted) with samples in [mint, maxt]."""
        if self.meta.maxt_ms < mint_ms or self.meta.mint_ms > maxt_ms or not len(ids):
            return np.empty(0, np.int64)
        if self.series_ids.dtype == np.uint32:  # searched as uint32, not widened
            if int(ids[0]) < 0 or int(ids[-1]) > 0xFFFFFFFF:  # (sorted)
                ids = ids[(ids >= 0) & (ids <= 0xFFFFFFFF)]
            ids = ids.astype(np.uint32)
        pos = np.searchsorted(self.series_ids, ids)
        inside = pos < len(self.series_ids)
        pos, ids = pos[inside], ids[inside]
        rows = pos[self.series_ids[pos] == ids].astype(np.int64)
        return self._in_range(rows, mint_ms, maxt_ms)

    def plan(self, ids: npt.NDArray[np.int64], mint_ms: int, maxt_ms: int) -> ReadPlan:
        """The plan of reading series ``ids`` (sorted) in [mint, maxt] (``rows_for``'s rows).
        When the block lies wholly inside the window the plan depends on ``ids`` alone and is
        remembered for recent id sets, so a refreshed query repeats no index work."""
        key = ids.tobytes() if self.covers(mint_ms, maxt_ms) else None
        if key is not None:
            with self._plans_lock:
                found = self._plans.pop(key, None)
                if found is not None:
                    self._plans[key] = found  # most recent last
                    return found
        plan = self.plan_rows(self.rows_for(ids, mint_ms, maxt_ms))
        if key is not None and len(plan) <= _PLAN_CACHE_ROWS:
            with self._plans_lock:
                self._plans[key] = plan
                while (
                    len(self._plans) > _PLAN_CACHE_ENTRIES
                    or sum(len(p) for p in self._plans.values()) > _PLAN_CACHE_ROWS
                ):
                    del self._plans[next(iter(self._plans))]
        return plan

    def plan_rows(self, rows: npt.NDArray[np.int64]) -> ReadPlan:
        """The plan of reading the series at ``rows`` (ascending) whole."""
        # ts_offs, ts_lens, val_offs, val_lens, counts: each row of the widened table contiguous
        index = tuple(self._table[:5].take(rows, axis=1).astype(np.int64))
        pages = self.pages[rows].astype(np.int64)
        starts = np.flatnonzero(np.diff(pages)) + 1
        starts = np.concatenate(([0], starts, [len(rows)] if len(rows) else [])).astype(np.int64)
        return ReadPlan(
            rows,
            self.series_ids[rows].astype(np.int64),
            index,
            pages,
            starts,
            pages[starts[:-1]].tolist(),
            int(index[4].sum()),
        )

    def covers(self, mint_ms: int, maxt_ms: int) -> bool:
        """Whether every sample of the block lies in [mint, maxt] (reads need no clipping)."""
        return self.meta.mint_ms >= mint_ms and self.meta.maxt_ms <= maxt_ms

    def read(
        self,
        rows: npt.NDArray[np.int64],
        mint_ms: int,
        maxt_ms: int,
        cached: bool = True,
        pool: ReadPool | None = None,
    ) -> Pieces:
        """The series at ``rows`` (ascending) with samples in [mint, maxt], as flat runs."""
        if not len(rows):
            return Pieces.empty()
        counts = self.counts[rows].astype(np.int64)
        total = int(counts.sum())
        out = (np.empty(total, np.int64), np.empty(total, np.float64))
        self.read_into(rows, out, np.cumsum(counts) - counts, cached, pool)
        pieces = Pieces(self.series_ids[rows].astype(np.int64), counts, *out)
        if self.covers(mint_ms, maxt_ms):
            return pieces
        return clip_pieces(pieces, mint_ms, maxt_ms)

    def read_into(
        self,
        rows: npt.NDArray[np.int64] | ReadPlan,
        out: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]],
        out_offsets: npt.NDArray[np.int64],
        cached: bool = True,
        pool: ReadPool | None = None,
    ) -> bool:
        """Decode the series at ``rows`` (ascending, or a plan's) whole, series ``rows[i]``
        into ``[out_offsets[i], +counts)`` of ``out``: each page is decompressed once (or found in
        the page cache) and all its wanted columns decoded in one call, straight into their
        final places; pages are decoded on ``pool``'s threads when it is given and they are
        many (each page writes its own places of ``out``). Returns False when no value read
        is a staleness marker, True when one may be."""
        ts_out, val_out = out
        if not (
            ts_out.dtype == np.int64
            and val_out.dtype == np.float64
            and ts_out.shape == val_out.shape
            and ts_out.flags.c_contiguous
            and val_out.flags.c_contiguous
        ):
            raise ValueError("cannot read block: out must be two contiguous int64/float64 arrays")
        if not len(rows):
            return False
        places = np.ascontiguousarray(out_offsets, dtype=np.int64)
        plan = rows if isinstance(rows, ReadPlan) else self.plan_rows(rows)
        data = self._pages(plan.page_nos, cached, pool, plan.samples)
        try:
            return encoding.decode_pages_into(data, plan.starts, plan.index, out, places)
        except CorruptDataError as exc:
            raise self._column_damage(exc, plan) from None

    def _column_damage(self, exc: CorruptDataError, plan: ReadPlan) -> CorruptDataError:
        col = exc.column
        sid = "?" if col is None else str(int(plan.sids[col]))
        page_no = "?" if col is None else str(int(plan.pages[col]))
        return CorruptDataError(
            f"cannot decode series {sid} in page {page_no} of {self._chunks_path}: {exc}",
            self._chunks_path,
        )

    def sample_into(
        self,
        plan: ReadPlan,
        out_rows: npt.NDArray[np.int64],
        ends: npt.NDArray[np.int64],
        lookback_ms: int,
        out: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]],
        pool: ReadPool | None = None,
    ) -> None:
        """An instant selector's read of the series of ``plan``: series ``plan.rows[i]`` offers
        its samples to row ``out_rows[i]`` (distinct) of ``out = (v_out, t_out)`` as
        ``encoding.sample_pages_into`` says, without materializing the samples."""
        if not len(plan):
            return
        data = self._pages(plan.page_nos, True, pool, plan.samples)
        try:
            encoding.sample_pages_into(
                data,
                plan.starts,
                plan.index,
                np.ascontiguousarray(out_rows, np.int64),
                ends,
                lookback_ms,
                out,
            )
        except CorruptDataError as exc:
            raise self._column_damage(exc, plan) from None

    def _pages(
        self, page_nos: list[int], cached: bool, pool: ReadPool | None, samples: int
    ) -> list[bytes]:
        """Pages ``page_nos`` decoded: from the page cache when it holds them, the others read
        and decoded (on ``pool``'s threads when they are many)."""
        cache = self._page_cache if cached else None
        seq = self.meta.seq
        data: list[bytes | None] = (
            cache.get_many(seq, page_nos) if cache is not None else [None] * len(page_nos)
        )
        missing = [i for i, d in enumerate(data) if d is None]
        if missing:

            def load(i: int) -> None:
                page = data[i] = self._read_page(page_nos[i])
                if cache is not None:
                    cache.put(seq, page_nos[i], page)

            tasks = [functools.partial(load, i) for i in missing]
            if pool is None:
                for task in tasks:
                    task()
            else:
                pool.run(tasks, samples=samples * len(missing) // len(page_nos))
        return data  # type: ignore[return-value]  # every None was replaced

    def drop_mapped_pages(self) -> None:
        """Unmap the chunk pages read so far from this process (they stay in the OS page
        cache): a compaction reading whole blocks would otherwise keep them all in its RSS."""
        if self._mm is not None:
            self._mm.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        if self._page_cache is not None:
            self._page_cache.drop_block(self.meta.seq)
        if self._mm is not None:
            self._mm.close()
            self._mm = None
