"""The store: series registry, WAL, head and blocks behind one object (``obskit.tsdb.open``).

Data directory::

    LOCK          flock'ed while open (obskit.disk.lock)
    series/       append-only log of new series (id + labels), never truncated
    wal/          sample batches not yet in blocks; segments before the last flush are deleted
    blocks/<seq>/ immutable blocks (obskit.tsdb.block)

Write path: ``append`` validates and sorts the batch, writes one WAL record and adds a head part,
all before returning, so an acknowledged batch survives a process crash (and a power loss with
``fsync="always"``). Samples with the same series and timestamp: the last one written wins, in
the head, across flushes and in compaction (an exact duplicate is thereby dropped). Samples older
than ``newest - retention`` are rejected and counted.

Read path: ``select`` snapshots (blocks, flushing parts, head parts) under a short lock and merges
them per series; every piece is immutable, so reads never block on appends, flushes or
compactions.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry

from obskit import kernels
from obskit.disk.files import fsync_dir, remove_tmp_leftovers
from obskit.disk.lock import DirLock
from obskit.disk.wal import WAL, FsyncPolicy
from obskit.errors import CorruptDataError, InvalidBatchError, StorageError
from obskit.kernels import buffers
from obskit.model.batch import AppendResult, SampleBatch, check_sample_columns
from obskit.model.labels import Labels, LabelsLike, validate_labels
from obskit.model.matchers import Matcher
from obskit.model.series import Series, SeriesColumns, StepSamples
from obskit.tsdb.block import Block, BlockMeta, BlockWriter, block_dir_name
from obskit.tsdb.compact import Merge, plan_compaction, plan_retention
from obskit.tsdb.head import Head, HeadPart, make_part, merge_parts
from obskit.tsdb.index import LabelIndex
from obskit.tsdb.memory import release_free_memory
from obskit.tsdb.metrics import StoreMetrics
from obskit.tsdb.options import Options
from obskit.tsdb.pagecache import PageCache, PageCacheStats
from obskit.tsdb.pieces import (
    Pieces,
    gather_runs,
    merge_pieces,
    plan_layout,
    read_part,
    reorder_pieces,
)
from obskit.tsdb.readpool import ReadPool, default_read_threads
from obskit.tsdb.records import (
    RECORD_SAMPLES,
    RECORD_SERIES,
    RECORD_SERIES_SNAPSHOT,
    RecordError,
    decode_samples,
    decode_series,
    decode_series_snapshot,
    encode_samples,
    encode_series,
    encode_series_snapshot,
)
from obskit.tsdb.sortkey import concat_columns
from obskit.tsdb.stream import merged_part_steps, series_steps

__all__ = ["DB", "open_db"]

logger = logging.getLogger(__name__)

_MIN_TS = int(np.iinfo(np.int64).min)
_MAX_TS = int(np.iinfo(np.int64).max)
# Samples decoded per step of a compaction (16 B each): bounds its transient memory whatever
# the block size, while a step still fills several pages (a step's last page is cut short).
_COMPACT_STEP_SAMPLES = 1 << 18
# Samples merged per step of a flush (24 B each, plus the window split): flushed blocks are
# rewritten by compaction, so their pages may be smaller; a smaller step keeps flushes cheap.
_FLUSH_STEP_SAMPLES = 1 << 18
# How long an append waits for a flush when the head is full again while the previous head is
# still being flushed (see DB._wait_for_head_room). A flush takes well under a second; the
# bound only keeps a stuck maintenance thread from blocking writers forever (they proceed, and
# memory grows, after it).
_HEAD_ROOM_WAIT_S = 30.0
_MAX_SERIES_ID = 2**32 - 1  # ids are u32 in WAL records
_LOST_SERIES_NAME = "__obskit_lost_series__"


class DB:
    """A time-series store in one directory; thread-safe. Use ``obskit.tsdb.open``."""

    def __init__(
        self,
        path: str | Path,
        options: Options | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.path = Path(path)
        self.options = options or Options()
        self.path.mkdir(parents=True, exist_ok=True)
        self._dirlock = DirLock(self.path)
        self._dirlock.acquire()
        try:
            self._open()
        except BaseException:
            self._dirlock.release()
            raise
        self.metrics = StoreMetrics(self, registry or CollectorRegistry(auto_describe=True))

    # ---- opening -------------------------------------------------------------------------------

    def _open(self) -> None:
        opts = self.options
        self._write_lock = threading.RLock()  # appends and series creation, in order
        self._maint_lock = threading.Lock()  # one flush / compaction / retention at a time
        self._state_lock = threading.Lock()  # atomic swaps of (blocks, flushing, head parts)
        self._closed = False
        self._change_listeners: list[Callable[[int], None]] = []
        # Set by append when the head is full: a background maintainer waits on it (besides
        # its timer) so a fast ingest is flushed promptly, not once per timer period.
        self.maintenance_due = threading.Event()
        self._blocks_dir = self.path / "blocks"
        self._blocks_dir.mkdir(exist_ok=True)
        self.page_cache = PageCache(opts.page_cache_bytes) if opts.page_cache_bytes else None
        self._read_pool = ReadPool(opts.read_threads or default_read_threads())
        remove_tmp_leftovers(self._blocks_dir)
        self.corrupt_blocks: list[str] = []
        self._blocks: tuple[Block, ...] = self._load_blocks()
        self._next_seq = max((b.seq for b in self._blocks), default=0) + 1
        self._flushing: tuple[HeadPart, ...] = ()
        # Notified when a flush ends, for appends waiting for head room (backpressure).
        self._flush_done = threading.Condition(threading.Lock())
        self.head = Head(self._state_lock)
        self.index = LabelIndex()
        self._ids: dict[Labels, int] = {}
        fsync = FsyncPolicy(opts.fsync)
        self._series_log = WAL(
            self.path / "series", fsync=fsync, fsync_interval_s=opts.fsync_interval_s
        )
        self._replay_series()
        self._series_snapshot_bytes = self._series_log.size_bytes()
        self._wal = WAL(
            self.path / "wal",
            fsync=fsync,
            fsync_interval_s=opts.fsync_interval_s,
            segment_bytes=opts.wal_segment_bytes,
        )
        self._replay_wal()
        self._newest_ms = max(
            [b.meta.maxt_ms for b in self._blocks] + [p.maxt_ms for p in self.head.parts()],
            default=_MIN_TS,
        )
        self._appended_total = 0
        self._rejected_old_total = 0
        self._compactions_total = 0
        self._flushes_total = 0

    def _load_blocks(self) -> tuple[Block, ...]:
        blocks: dict[int, Block] = {}
        for path in sorted(self._blocks_dir.iterdir()):
            if not path.is_dir():
                continue
            try:
                block = Block(path, self.page_cache)
            except CorruptDataError as exc:
                logger.error("skipping corrupt block %s: %s", path, exc)
                self.corrupt_blocks.append(str(path))
                continue
            blocks[block.seq] = block
        # A compaction that crashed after publishing its result but before deleting its sources.
        replaced = {s for b in blocks.values() for s in b.meta.sources if s != b.seq}
        for seq in sorted(replaced & blocks.keys()):
            logger.info("removing block %s replaced by a finished compaction", seq)
            block = blocks.pop(seq)
            block.close()
            shutil.rmtree(block.path, ignore_errors=True)
        return tuple(sorted(blocks.values(), key=lambda b: b.seq))

    def _replay_series(self) -> None:
        labels: list[Labels] = []
        for _seg, rtype, payload in self._series_log.replay():
            if rtype == RECORD_SERIES_SNAPSHOT:
                try:
                    labels = decode_series_snapshot(payload)
                except RecordError as exc:
                    logger.warning("series log: skipping undecodable snapshot: %s", exc)
                continue
            if rtype != RECORD_SERIES:
                logger.warning("series log: skipping record of unknown type %d", rtype)
                continue
            try:
                first_id, batch = decode_series(payload)
            except RecordError as exc:
                logger.warning("series log: skipping undecodable record: %s", exc)
                continue
            if first_id < len(labels):
                logger.warning("series log: skipping record re-using ids from %d", first_id)
                continue
            while len(labels) < first_id:  # a lost record: keep ids dense and unmatched
                logger.error("series log: series %d lost, its samples are unreachable", len(labels))
                labels.append((("__name__", _LOST_SERIES_NAME), ("id", str(len(labels)))))
            labels.extend(batch)
        stored = self.index.add_many(0, labels)
        self._ids = {ls: i for i, ls in enumerate(stored)}

    def _replay_wal(self) -> None:
        parts = []
        n_series = len(self.index)
        for _seg, rtype, payload in self._wal.replay():
            if rtype != RECORD_SAMPLES:
                logger.warning("wal: skipping record of unknown type %d", rtype)
                continue
            try:
                ids, ts, values = decode_samples(payload)
            except RecordError as exc:
                logger.warning("wal: skipping undecodable record: %s", exc)
                continue
            known = ids < n_series
            if not known.all():
                logger.warning("wal: dropping %d samples of unknown series", int((~known).sum()))
                ids, ts, values = ids[known], ts[known], values[known]
            parts.append((ids, ts, values))
        if parts:
            self.head.add(make_part(*concat_columns(parts)))

    # ---- writing -------------------------------------------------------------------------------

    def series_refs(self, labels: Sequence[LabelsLike]) -> npt.NDArray[np.int64]:
        """Ids of these label sets, creating (durably) the series that do not exist yet.

        A ref stays valid for the life of the directory, so callers may cache it and append
        with ``append_refs`` (as Prometheus appenders cache refs).
        """
        self._check_open()
        out = np.empty(len(labels), dtype=np.int64)
        missing: list[tuple[int, Labels]] = []
        ids = self._ids
        for i, ls in enumerate(labels):
            sid = ids.get(ls) if isinstance(ls, tuple) else None
            if sid is None:
                norm = validate_labels(ls)
                sid = ids.get(norm)
                if sid is None:
                    missing.append((i, norm))
                    continue
            out[i] = sid
        if missing:
            with self._write_lock:
                new: dict[Labels, int] = {}
                first = len(self.index)
                for i, norm in missing:
                    sid = ids.get(norm, new.get(norm))
                    if sid is None:
                        sid = new[norm] = first + len(new)
                    out[i] = sid
                if new:
                    if first + len(new) > _MAX_SERIES_ID:
                        raise StorageError("cannot create series: the store holds 2^32 series")
                    created = list(new)
                    self._series_log.append(RECORD_SERIES, encode_series(first, created))
                    # the index's copies share their label pairs: keep those, not ``created``
                    stored = self.index.add_many(first, created)
                    ids.update(zip(stored, new.values(), strict=True))
        return out

    def append(self, batch: SampleBatch) -> AppendResult:
        """Append a batch of samples; returns once they are in the WAL."""
        batch.validate()
        refs = self.series_refs(batch.series)
        return self.append_refs(
            refs[np.asarray(batch.series_index)], batch.timestamps_ms, batch.values
        )

    def append_refs(
        self,
        refs: npt.NDArray[np.int64],
        timestamps_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> AppendResult:
        """Append samples by series ref (from ``series_refs``); returns once they are in the WAL."""
        self._check_open()
        if not isinstance(refs, np.ndarray):
            raise InvalidBatchError(f"refs must be a numpy array, not {type(refs).__name__}")
        check_sample_columns(refs, timestamps_ms, values, len(self.index), "refs")
        ids = refs.astype(np.int64, copy=False)
        rejected = 0
        if self.options.retention_ms and len(timestamps_ms):
            fresh = timestamps_ms >= max(self._newest_ms, int(timestamps_ms.max())) - (
                self.options.retention_ms
            )
            if not fresh.all():
                rejected = int((~fresh).sum())
                ids, timestamps_ms, values = ids[fresh], timestamps_ms[fresh], values[fresh]
                self._rejected_old_total += rejected
                self.metrics.rejected_out_of_retention.inc(rejected)
        if not len(ids):
            return AppendResult(0, rejected)
        if not self.options.maintenance_in_append:
            self._wait_for_head_room()
        part = make_part(ids, timestamps_ms, values)
        with self._write_lock:
            self._check_open()
            self._wal.append(RECORD_SAMPLES, encode_samples(part.ids, part.ts, part.values))
            self.head.add(part)
            self._newest_ms = max(self._newest_ms, part.maxt_ms)
            self._appended_total += len(ids)
        self.metrics.appended.inc(len(ids))
        self._changed(part.mint_ms)
        if self.options.maintenance_in_append:
            self.maintain()
        elif self._head_full():
            self.maintenance_due.set()
        return AppendResult(len(ids), rejected)

    def add_change_listener(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(ts_ms)`` whenever what a query reads may have changed for timestamps
        from ``ts_ms`` on: after appended samples became visible (their oldest timestamp), and
        after retention removed blocks (the smallest int64). Called in the writer's thread,
        after the change, so keep it short (a results cache drops its affected steps)."""
        self._change_listeners.append(listener)

    def _changed(self, from_ms: int) -> None:
        for listener in self._change_listeners:
            listener(from_ms)

    def maintain(self) -> bool:
        """Flush (then compact and apply retention) if the head is too big or spans too long;
        returns whether it flushed. Other threads keep appending meanwhile (only the
        maintenance lock is held). Called from append, or by a server's background thread."""
        opts = self.options
        if self._closed:
            return False
        self.maintenance_due.clear()
        if self._head_full():
            if self.flush():
                self.compact()
                return True
            return False
        span = self.head.time_range()
        if span is None:
            return False
        r0 = opts.block_ranges_ms[0]
        cutoff = (span[1] - opts.head_keep_ms) // r0 * r0
        long = span[1] - span[0] > opts.head_keep_ms + r0
        if span[0] < cutoff and long and self.flush(before_ms=cutoff):
            self.compact()
            return True
        return False

    def _wait_for_head_room(self) -> None:
        """Backpressure for background maintenance: while a flush is running and the head has
        filled up again (head and flushing parts together hold twice ``head_max_bytes``), wait
        for the flush to end. Without it a fast ingest grows the head by whatever arrives
        during a flush (tens of MiB at 2 M samples/s), so memory would be bounded by ingest
        speed x flush time instead of by the options."""
        limit = 2 * self.options.head_max_bytes
        if not self._flushing or self.head.num_bytes() + self._flushing_bytes() < limit:
            return
        with self._flush_done:
            room = self._flush_done.wait_for(
                lambda: (
                    self._closed
                    or not self._flushing
                    or self.head.num_bytes() + self._flushing_bytes() < limit
                ),
                _HEAD_ROOM_WAIT_S,
            )
        if not room:
            logger.warning("a flush took over %.0f s; appending without waiting", _HEAD_ROOM_WAIT_S)

    def _flushing_bytes(self) -> int:
        return sum(p.nbytes for p in self._flushing)

    def _head_full(self) -> bool:
        opts = self.options
        head = self.head
        return head.num_bytes() >= opts.head_max_bytes or (
            head.num_samples() >= opts.head_max_samples
        )

    # ---- reading -------------------------------------------------------------------------------

    def _snapshot(self) -> tuple[tuple[Block, ...], tuple[HeadPart, ...]]:
        with self._state_lock:
            return self._blocks, self._flushing + self.head.parts()

    def select(self, matchers: Sequence[Matcher], mint_ms: int, maxt_ms: int) -> list[Series]:
        """Series matching all ``matchers`` with their samples in [mint_ms, maxt_ms], sorted by
        labels; series without samples in the range are left out."""
        return self.select_flat(matchers, mint_ms, maxt_ms).series()

    def select_instant(
        self, matchers: Sequence[Matcher], ends_ms: npt.NDArray[np.int64], lookback_ms: int
    ) -> StepSamples:
        """An instant selector's samples at steps ``ends_ms`` (ascending), for the matching
        series with samples in ``(ends_ms[0] - lookback_ms, ends_ms[-1]]`` sorted by labels
        (see ``StepSamples``). Every source (blocks in order, then the head) offers each step
        its last sample <= the step's end, the newest one winning (ties: the later source), so
        the result is the one decoding and merging the series would give; blocks sample their
        pages as they decode them, and no column of samples is materialized."""
        self._check_open()
        ends = np.ascontiguousarray(ends_ms, np.int64)
        if len(ends) and (np.diff(ends) < 0).any():
            raise ValueError("select_instant: ends_ms must be ascending")
        if not len(ends):
            return StepSamples([], np.empty((0, 0)), np.empty((0, 0), np.int64))
        mint, maxt = int(ends[0]) - lookback_ms + 1, int(ends[-1])
        ids = self.index.select(matchers)
        blocks, parts = self._snapshot()
        plans = [b.plan(ids, mint, maxt) for b in blocks]
        pieces = [read_part(part, ids, mint, maxt) for part in parts]
        live = np.unique(
            np.concatenate(
                [np.empty(0, np.int64), *(p.sids for p in plans), *(p.sids for p in pieces)]
            )
        )
        order = self.index.label_order(live)
        ranks = order.ranks
        shape = (len(live), len(ends))
        t_out = buffers.empty(shape, np.int64)
        t_out.fill(np.iinfo(np.int64).min)
        v_out = buffers.empty(shape, np.float64)  # read only where t_out was written
        pool = self._read_pool
        for block, plan in zip(blocks, plans, strict=True):
            if len(plan):
                out_rows = ranks[np.searchsorted(live, plan.sids)]
                block.sample_into(plan, out_rows, ends, lookback_ms, (v_out, t_out), pool=pool)
        for p in pieces:
            if len(p):
                offsets = np.zeros(len(p) + 1, np.int64)
                np.cumsum(p.counts, out=offsets[1:])
                out_rows = ranks[np.searchsorted(live, p.sids)]
                kernels.pq_sample_columns(
                    p.ts, p.values, offsets, out_rows, ends, lookback_ms, v_out, t_out
                )
        return StepSamples(list(order.sorted_labels), v_out, t_out)

    def select_flat(self, matchers: Sequence[Matcher], mint_ms: int, maxt_ms: int) -> SeriesColumns:
        """``select`` as one pair of flat columns and per-series offsets (what the PromQL engine
        reads): the blocks decode every series straight into its place in label order."""
        self._check_open()
        ids = self.index.select(matchers)
        order = self.index.label_order(ids)
        labels, ranks = order.labels, order.ranks
        rank = None
        if not order.in_order:

            def rank(sids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
                out: npt.NDArray[np.int64] = ranks[np.searchsorted(ids, sids)]
                return out

        merged, stale_free = self._read(ids, mint_ms, maxt_ms, rank)
        offsets = np.zeros(len(merged) + 1, np.int64)
        np.cumsum(merged.counts, out=offsets[1:])
        return SeriesColumns(
            [labels[i] for i in np.searchsorted(ids, merged.sids).tolist()],
            merged.ts,
            merged.values,
            offsets,
            stale_free,
        )

    def _read(
        self,
        ids: npt.NDArray[np.int64],
        mint_ms: int,
        maxt_ms: int,
        rank: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int64]] | None = None,
    ) -> tuple[Pieces, bool]:
        """Samples of series ``ids`` (sorted) in [mint, maxt] from blocks, then the head; the
        series in id order (or in the order of ``rank(sids)``).

        When no series has overlapping runs in different sources (the usual case: blocks cover
        disjoint windows, the head is newer), the output is laid out from the block indexes
        first and every block decodes straight into its final place; otherwise the pieces are
        decoded, then merged with the later source winning (and reordered). The flag is True
        when no sample read is a staleness marker (False: one may be).
        """
        blocks, parts = self._snapshot()
        plans = [b.plan(ids, mint_ms, maxt_ms) for b in blocks]
        rows = [p.rows for p in plans]
        whole = [i for i, b in enumerate(blocks) if b.covers(mint_ms, maxt_ms) and len(rows[i])]
        pool = self._read_pool
        others = [
            b.read(rows[i], mint_ms, maxt_ms, pool=pool)
            for i, b in enumerate(blocks)
            if i not in whole
        ] + [read_part(part, ids, mint_ms, maxt_ms) for part in parts]
        others = [p for p in others if len(p)]
        if not whole:
            merged = merge_pieces(others)
            return (
                merged if rank is None or not len(merged) else reorder_pieces(merged, rank)
            ), False
        layout = plan_layout(
            [blocks[i].runs(rows[i]) for i in whole]
            + [
                (p.sids, p.counts, p.ts[p.starts()], p.ts[p.starts() + p.counts - 1])
                for p in others
            ],
            rank,
        )
        if layout is None:  # overlapping runs: decode everything, merge by priority
            merged = merge_pieces(
                [b.read(r, mint_ms, maxt_ms, pool=pool) for b, r in zip(blocks, rows, strict=True)]
                + [read_part(part, ids, mint_ms, maxt_ms) for part in parts]
            )
            return (
                merged if rank is None or not len(merged) else reorder_pieces(merged, rank)
            ), False
        sids, counts, places = layout
        total = int(counts.sum())
        # pooled: a big select's columns reuse memory a finished query let go (no page faults)
        out = (buffers.empty(total, np.int64), buffers.empty(total, np.float64))
        stale = False
        for k, i in enumerate(whole):
            stale |= blocks[i].read_into(plans[i], out, places[k], pool=pool)
        for k, p in enumerate(others, start=len(whole)):
            idx = gather_runs(places[k], p.counts)
            out[0][idx] = p.ts
            out[1][idx] = p.values
            stale = stale or bool(_is_stale(p.values).any())
        return Pieces(sids, counts, *out), not stale

    def _live_ids(self, mint_ms: int | None, maxt_ms: int | None) -> npt.NDArray[np.int64]:
        lo = _MIN_TS if mint_ms is None else mint_ms
        hi = _MAX_TS if maxt_ms is None else maxt_ms
        blocks, parts = self._snapshot()
        pieces = [block.ids_in_range(lo, hi) for block in blocks]
        pieces += [part.ids[(part.ts >= lo) & (part.ts <= hi)] for part in parts]
        if not pieces:
            return np.empty(0, np.int64)
        return np.unique(np.concatenate(pieces))

    def _restricted_ids(
        self, matchers: Sequence[Matcher], mint_ms: int | None, maxt_ms: int | None
    ) -> npt.NDArray[np.int64]:
        live = self._live_ids(mint_ms, maxt_ms)
        if not matchers:
            return live
        return np.intersect1d(self.index.select(matchers), live, assume_unique=True)

    def label_names(
        self,
        matchers: Sequence[Matcher] = (),
        mint_ms: int | None = None,
        maxt_ms: int | None = None,
    ) -> list[str]:
        """Label names of series with samples in the range (all stored series by default)."""
        self._check_open()
        return self.index.label_names(self._restricted_ids(matchers, mint_ms, maxt_ms))

    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint_ms: int | None = None,
        maxt_ms: int | None = None,
    ) -> list[str]:
        """Values of label ``name`` among series with samples in the range."""
        self._check_open()
        return self.index.label_values(name, self._restricted_ids(matchers, mint_ms, maxt_ms))

    def series(
        self, matchers: Sequence[Matcher], mint_ms: int | None = None, maxt_ms: int | None = None
    ) -> list[Labels]:
        """Label sets of matching series with samples in the range, sorted."""
        self._check_open()
        ids = self._restricted_ids(matchers, mint_ms, maxt_ms)
        return sorted(self.index.labels(int(i)) for i in ids)

    # ---- maintenance ---------------------------------------------------------------------------

    def flush(self, before_ms: int | None = None) -> list[BlockMeta]:
        """Write head samples (all, or those older than ``before_ms``) out as blocks and truncate
        the WAL behind them. Returns the metas of the new blocks."""
        self._check_open()
        with self._maint_lock:
            return self._flush_locked(before_ms)

    def _flush_locked(self, before_ms: int | None) -> list[BlockMeta]:
        with self._write_lock:
            parts = self.head.parts()
            if not parts:
                return []
            keep: tuple[HeadPart, ...] = ()
            if before_ms is None:
                out = list(parts)
            else:
                out, keep = _split_parts(parts, before_ms)
                if not out:
                    return []
            segment = self._wal.cut_segment()
            if keep:
                self._wal.append(RECORD_SAMPLES, encode_samples(*keep[0].columns()))
            with self._state_lock:
                self._flushing = tuple(out)
                self.head.set_parts_locked(keep)
        try:
            new_blocks = self._write_parts(out)
        except BaseException:
            # Back into the head (before what arrived since, which is newer): the next flush
            # retries them, and appends waiting for this flush do not wait for a retry.
            with self._write_lock, self._state_lock:
                self.head.set_parts_locked((*out, *self.head.parts()))
                self._flushing = ()
            raise
        else:
            with self._state_lock:
                self._blocks = (*self._blocks, *new_blocks)
                self._flushing = ()
        finally:
            with self._flush_done:
                self._flush_done.notify_all()
        self._wal.truncate_before(segment)
        self._maybe_checkpoint_series()
        self._flushes_total += 1
        self.metrics.flushes.inc()
        del out, parts
        release_free_memory()
        return [b.meta for b in new_blocks]

    def _maybe_checkpoint_series(self) -> None:
        """Rewrite the series log as one compressed snapshot once its records have grown well
        past the last snapshot (labels compress ~10x; the log would otherwise cost ~0.03 B per
        sample on node_exporter-like data)."""
        size = self._series_log.size_bytes()
        if size < 2 * self._series_snapshot_bytes + (1 << 20):
            return
        with self._write_lock:
            snapshot = encode_series_snapshot(
                [self.index.labels(i) for i in range(len(self.index))]
            )
            segment = self._series_log.cut_segment()
            self._series_log.append(RECORD_SERIES_SNAPSHOT, snapshot)
            self._series_log.sync()
            self._series_log.truncate_before(segment)
            self._series_snapshot_bytes = len(snapshot)

    def _new_block_dir(self) -> tuple[int, Path, Path]:
        seq = self._next_seq
        self._next_seq += 1
        final = self._blocks_dir / block_dir_name(seq)
        return seq, final, final.with_name(final.name + ".tmp")

    def _publish(self, tmp: Path, final: Path) -> Block:
        tmp.rename(final)
        fsync_dir(self._blocks_dir)
        return Block(final, self.page_cache)

    def _forget_block(self, block: Block) -> None:
        """Drop a block leaving the store from the page cache. It is not closed: a reader may
        still hold it from an older snapshot (its mmap lives on until the last one is done)."""
        if self.page_cache is not None:
            self.page_cache.drop_block(block.seq)

    def _write_parts(self, parts: list[HeadPart]) -> list[Block]:
        """Write ``parts`` as one block per flush window, streamed in steps of series (a step
        of every part merged at a time), so a flush holds one step's columns, not the head's."""
        r0 = self.options.block_ranges_ms[0]
        writers: dict[int, tuple[int, Path, Path, BlockWriter]] = {}
        try:
            for ids, ts, values in merged_part_steps(parts, _FLUSH_STEP_SAMPLES):
                first, last = int(ts.min()) // r0, int(ts.max()) // r0
                if first == last:
                    _add_columns(self._window_writer(writers, first)[3], ids, ts, values)
                    continue
                windows = ts // r0
                for w in np.unique(windows).tolist():
                    sel = windows == w
                    writer = self._window_writer(writers, w)[3]
                    _add_columns(writer, ids[sel], ts[sel], values[sel])
            new_blocks = []
            for w in sorted(writers):
                seq, final, tmp, writer = writers[w]
                writer.finish(_new_meta(seq, 0, w * r0, (w + 1) * r0, [seq]))
                new_blocks.append(self._publish(tmp, final))
                del writers[w]
        except BaseException:
            for _seq, _final, tmp, writer in writers.values():
                writer.abort()
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        return new_blocks

    def _window_writer(
        self, writers: dict[int, tuple[int, Path, Path, BlockWriter]], window: int
    ) -> tuple[int, Path, Path, BlockWriter]:
        if window not in writers:
            seq, final, tmp = self._new_block_dir()
            writers[window] = (
                seq,
                final,
                tmp,
                BlockWriter(tmp, format_version=self.options.flush_block_format),
            )
        return writers[window]

    def compact(self) -> int:
        """Run compactions until none is left to do, then apply retention; returns merges run."""
        self._check_open()
        done = 0
        with self._maint_lock:
            while True:
                blocks = self._blocks
                plan = plan_compaction(
                    [b.meta for b in blocks],
                    self.options.block_ranges_ms,
                    self._newest_ms,
                    self._max_block_range_ms(),
                )
                if plan is None:
                    break
                self._run_merge(plan, blocks)
                done += 1
        self.apply_retention()
        return done

    def _max_block_range_ms(self) -> int:
        # As Prometheus: blocks span at most a tenth of the retention, and at most 31 days.
        limit = 31 * 24 * 3_600_000
        if self.options.retention_ms:
            limit = min(limit, self.options.retention_ms // 10)
        return max(limit, self.options.block_ranges_ms[0])

    def _run_merge(self, plan: Merge, blocks: tuple[Block, ...]) -> None:
        sources = sorted((b for b in blocks if b.seq in plan.seqs), key=lambda b: b.seq)
        seq, final, tmp = self._new_block_dir()
        writer = BlockWriter(tmp, format_version=self.options.block_format)
        try:
            all_ids = np.unique(np.concatenate([b.series_ids for b in sources])).astype(np.int64)
            counts = np.zeros(len(all_ids), np.int64)
            for b in sources:
                counts[np.searchsorted(all_ids, b.series_ids)] += b.counts
            for lo, hi in series_steps(counts, _COMPACT_STEP_SAMPLES):
                merged = _read_blocks(sources, all_ids[lo:hi])
                ends = np.cumsum(merged.counts)
                writer.add_sorted(merged.sids, merged.ts, merged.values, ends - merged.counts, ends)
                del merged
                for block in sources:
                    block.drop_mapped_pages()
                if self._head_full():
                    # A long merge must not let a fast ingest grow the head without bound:
                    # flush in between. The flushed blocks get later seqs than this merge's
                    # result, so their (newer) samples still win over it.
                    self._flush_locked(None)
            meta = _new_meta(seq, plan.level, plan.window_start_ms, plan.window_end_ms, [])
            meta.sources = sorted({s for b in sources for s in b.meta.sources} | set(plan.seqs))
            writer.finish(meta)
        except BaseException:
            writer.abort()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        result = self._publish(tmp, final)
        with self._state_lock:
            self._blocks = tuple(
                sorted(
                    [b for b in self._blocks if b.seq not in plan.seqs] + [result],
                    key=lambda b: b.seq,
                )
            )
        for block in sources:
            self._forget_block(block)
            shutil.rmtree(block.path, ignore_errors=True)
        release_free_memory()
        self._compactions_total += 1
        self.metrics.compactions.inc()

    def apply_retention(self) -> list[int]:
        """Delete blocks outside the time or size retention; returns their seqs."""
        self._check_open()
        with self._maint_lock:
            blocks = self._blocks
            doomed = set(
                plan_retention(
                    [b.meta for b in blocks],
                    self._newest_ms,
                    self.options.retention_ms,
                    self.options.retention_bytes,
                    self._wal.size_bytes(),
                )
            )
            if not doomed:
                return []
            with self._state_lock:
                self._blocks = tuple(b for b in self._blocks if b.seq not in doomed)
            self._changed(_MIN_TS)
            for block in blocks:
                if block.seq in doomed:
                    logger.info("retention: deleting block %s", block.path)
                    self._forget_block(block)
                    shutil.rmtree(block.path, ignore_errors=True)
            return sorted(doomed)

    # ---- state ---------------------------------------------------------------------------------

    @property
    def blocks(self) -> tuple[Block, ...]:
        return self._blocks

    def stats(self) -> dict[str, Any]:
        """Figures for ``obskit tsdb inspect`` and self-metrics."""
        blocks, parts = self._snapshot()
        return {
            "series": len(self.index),
            "head_samples": sum(len(p) for p in parts),
            "head_parts": len(parts),
            "head_bytes": sum(p.nbytes for p in parts),
            "blocks": len(blocks),
            "block_samples": sum(b.meta.samples for b in blocks),
            "block_bytes": sum(b.meta.chunk_bytes + b.meta.index_bytes for b in blocks),
            "wal_bytes": self._wal.size_bytes(),
            "series_log_bytes": self._series_log.size_bytes(),
            "newest_ms": self._newest_ms,
            "appended_total": self._appended_total,
            "rejected_out_of_retention_total": self._rejected_old_total,
            "flushes_total": self._flushes_total,
            "compactions_total": self._compactions_total,
            "corrupt_blocks": list(self.corrupt_blocks),
            "page_cache": asdict(self.page_cache_stats()),
        }

    def page_cache_stats(self) -> PageCacheStats:
        """Size, hits, misses and evictions of the decoded-page cache (zeros without one)."""
        if self.page_cache is None:
            return PageCacheStats(0, 0, 0, 0, 0, 0)
        return self.page_cache.stats()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"store {self.path} is closed")

    def close(self) -> None:
        """Close logs and release the directory; the head stays in the WAL for the next open."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            with self._flush_done:
                self._flush_done.notify_all()
            self._wal.close()
            self._series_log.close()
        for block in self._blocks:
            block.close()
        self._read_pool.close()
        if self.page_cache is not None:
            self.page_cache.clear()
        self._dirlock.release()

    def __enter__(self) -> DB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _new_meta(seq: int, level: int, start_ms: int, end_ms: int, sources: list[int]) -> BlockMeta:
    return BlockMeta(
        seq=seq,
        level=level,
        window_start_ms=start_ms,
        window_end_ms=end_ms,
        mint_ms=0,
        maxt_ms=0,
        series=0,
        samples=0,
        sources=sources,
    )


def _is_stale(values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which values are Prometheus' staleness marker (one NaN bit pattern)."""
    out: npt.NDArray[np.bool_] = values.view(np.uint64) == np.uint64(0x7FF0000000000002)
    return out


def _read_blocks(blocks: list[Block], ids: npt.NDArray[np.int64]) -> Pieces:
    """All samples of series ``ids`` in ``blocks`` (later blocks win on equal timestamps).
    Runs that do not overlap in time (the usual case) decode straight into their final place,
    so a step holds its samples once; overlapping runs are decoded, then merged."""
    rows = [b.rows_for(ids, _MIN_TS, _MAX_TS) for b in blocks]
    layout = plan_layout([b.runs(r) for b, r in zip(blocks, rows, strict=True)])
    if layout is None:
        return merge_pieces(
            [b.read(r, _MIN_TS, _MAX_TS, cached=False) for b, r in zip(blocks, rows, strict=True)]
        )
    sids, counts, places = layout
    total = int(counts.sum())
    out = (np.empty(total, np.int64), np.empty(total, np.float64))
    for b, r, place in zip(blocks, rows, places, strict=True):
        if len(r):
            b.read_into(r, out, place, cached=False)
    return Pieces(sids, counts, *out)


def _add_columns(
    writer: BlockWriter,
    ids: npt.NDArray[np.int64],
    ts: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
) -> None:
    """Add samples sorted by (id, ts) to ``writer``, one run per series."""
    bounds = np.flatnonzero(np.diff(ids)) + 1
    starts = np.concatenate(([0], bounds)).astype(np.int64)
    ends = np.concatenate((bounds, [len(ids)])).astype(np.int64)
    writer.add_sorted(ids[starts], ts, values, starts, ends)


def _split_parts(
    parts: tuple[HeadPart, ...], before_ms: int
) -> tuple[list[HeadPart], tuple[HeadPart, ...]]:
    out, keep = [], []
    for part in parts:
        old = part.ts < before_ms
        if old.all():
            out.append(part)
        elif old.any():
            out.append(HeadPart.of((part.ids[old], part.ts[old], part.values[old])))
            keep.append(HeadPart.of((part.ids[~old], part.ts[~old], part.values[~old])))
        else:
            keep.append(part)
    return out, (merge_parts(keep),) if keep else ()


def open_db(
    path: str | Path, options: Options | None = None, registry: CollectorRegistry | None = None
) -> DB:
    """Open (creating if needed) the store in ``path``; raises ``LockedError`` if in use."""
    return DB(path, options, registry)
