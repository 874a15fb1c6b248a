"""Prometheus remote-write 1.0: a snappy-compressed protobuf ``WriteRequest`` -> ``RefAppender``.

The body is snappy *block* format; its declared length is checked against the limits before any
buffer is allocated. One kernel call (``kernels.decode_write_request``, C when built) decodes the
whole request into numpy columns and looks every TimeSeries' raw label bytes up in a ref cache;
only cache misses are parsed and validated here, resolved with one ``series_refs`` call, and
cached. All samples then go to ``append_refs`` in one call.

Partial writes: a body that is not a well-formed WriteRequest (bad snappy, truncated or malformed
protobuf) or that is over a size limit raises ``IngestError`` (``PayloadTooLargeError``, HTTP 413,
for sizes) and writes nothing. A well-formed request whose individual series are bad (invalid or
duplicate label names, invalid UTF-8, no ``__name__``, over a label limit) has those series'
samples rejected and every other sample written; ``WriteResult`` counts both and keeps the first
few reasons, so the HTTP handler can answer 400 with them, as Prometheus does, knowing the valid
samples are stored (a sender does not retry a 4xx). Native histogram samples are counted as
rejected (not supported yet); exemplars and metadata are ignored.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from obskit import kernels
from obskit.errors import IngestError, InvalidSeriesError, PayloadTooLargeError
from obskit.kernels import (
    MalformedError,
    WriteRequestColumns,
    WriteRequestCounts,
    snappy_length,
)
from obskit.model.labels import Labels, validate_labels
from obskit.model.protocols import RefAppender

__all__ = ["RemoteWriteDecoder", "WriteLimits", "WriteResult", "decompress_body"]

logger = logging.getLogger(__name__)

# Reasons kept in WriteResult.errors: enough to show what is wrong, bounded for a hostile request.
MAX_ERRORS = 10
# Decompression buffers kept for reuse (a few per concurrent request) and the largest body kept:
# Prometheus sends <= 2,000 samples (~400 KB decompressed) per request by default.
BUFFER_POOL_SIZE = 4
BUFFER_POOL_MAX_BYTES = 4 << 20
# Decoded label pairs kept by a decoder (cleared when full): the distinct pairs of a burst of
# new series; ~0.3 KiB each.
PAIR_CACHE_SIZE = 1 << 16
# Key-byte budget of the ref cache per entry: a node_exporter series' label list encodes to
# ~150-250 bytes; with this budget 1 M cached series hold at most 256 MiB of keys.
CACHE_BYTES_PER_ENTRY = 256


@dataclass(frozen=True, slots=True)
class WriteLimits:
    """Per-request limits. Sizes over a limit reject the request (413); label limits reject only
    the series over them. ``max_samples_per_request`` bounds the decoded columns (20 bytes per
    sample), since an empty Sample message is 2 bytes of protobuf."""

    max_body_bytes: int = 64 << 20
    max_decompressed_bytes: int = 256 << 20
    max_labels_per_series: int = 64
    max_label_name_bytes: int = 1024
    max_label_value_bytes: int = 16384
    max_series_per_request: int = 1_000_000
    max_samples_per_request: int = 10_000_000


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did; ``errors`` holds the first few reasons for rejected samples."""

    samples_accepted: int
    samples_rejected: int
    series_rejected: int
    errors: list[str]


class _BufferPool:
    """A few reusable decompression buffers: a fresh ~1 MB buffer per request costs the kernel
    more in page zeroing than decoding the request costs. Bodies over ``max_bytes`` get their
    own buffer, so the pool holds at most ``size * max_bytes``."""

    def __init__(self, size: int, max_bytes: int) -> None:
        self._free: list[npt.NDArray[np.uint8]] = []
        self._size = size
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def take(self, nbytes: int) -> npt.NDArray[np.uint8]:
        if nbytes <= self._max_bytes:
            with self._lock:
                if self._free:
                    buf = self._free.pop()
                    if buf.size >= nbytes:
                        return buf
        return np.empty(nbytes if nbytes > self._max_bytes else max(nbytes, 1 << 20), np.uint8)

    def give(self, buf: npt.NDArray[np.uint8]) -> None:
        if buf.size <= self._max_bytes:
            with self._lock:
                if len(self._free) < self._size:
                    self._free.append(buf)


def _check_sizes(body: bytes | memoryview, limits: WriteLimits) -> int:
    """The declared uncompressed length, once the body and it are within the limits."""
    if len(body) > limits.max_body_bytes:
        raise PayloadTooLargeError(
            f"cannot accept remote-write body: {len(body)} bytes, over the limit of "
            f"{limits.max_body_bytes}"
        )
    try:
        declared = snappy_length(body)
    except ValueError as exc:
        raise IngestError(f"cannot decompress remote-write body: {exc}") from None
    if declared > limits.max_decompressed_bytes:
        raise PayloadTooLargeError(
            f"cannot accept remote-write body: it decompresses to {declared} bytes, over the "
            f"limit of {limits.max_decompressed_bytes}"
        )
    return declared


def _decompress_into(body: bytes | memoryview, out: npt.NDArray[np.uint8]) -> None:
    try:
        kernels.snappy_decompress_into(body, out)
    except ValueError as exc:
        raise IngestError(f"cannot decompress remote-write body: {exc}") from None


def decompress_body(body: bytes | memoryview, limits: WriteLimits) -> npt.NDArray[np.uint8]:
    """Snappy block format -> bytes, checking both sizes before allocating the output."""
    out = np.empty(_check_sizes(body, limits), dtype=np.uint8)
    _decompress_into(body, out)
    return out


def _count_and_decode(
    data: npt.NDArray[np.uint8],
    limits: WriteLimits,
    cache: kernels.RefCache,
    cache_lock: threading.Lock | None = None,
) -> tuple[WriteRequestCounts, WriteRequestColumns]:
    """Count, check the limits, decode; the cache is used under ``cache_lock`` (if given)."""
    try:
        counts = kernels.count_write_request(data)
        if counts.series > limits.max_series_per_request:
            raise PayloadTooLargeError(
                f"cannot accept remote-write request: {counts.series} series, over the limit of "
                f"{limits.max_series_per_request}"
            )
        if counts.samples > limits.max_samples_per_request:
            raise PayloadTooLargeError(
                f"cannot accept remote-write request: {counts.samples} samples, over the limit "
                f"of {limits.max_samples_per_request}"
            )
        if cache_lock is None:
            return counts, kernels.decode_write_request(data, counts, cache)
        with cache_lock:
            return counts, kernels.decode_write_request(data, counts, cache)
    except MalformedError as exc:
        raise _malformed(exc) from None


def _decode(
    data: npt.NDArray[np.uint8], limits: WriteLimits, cache: kernels.RefCache
) -> WriteRequestColumns:
    """``_count_and_decode`` without the counts."""
    return _count_and_decode(data, limits, cache)[1]


def _malformed(exc: MalformedError) -> IngestError:
    return IngestError(f"cannot decode remote-write request: {exc.reason} at byte {exc.offset}")


def _capacity_for(counts: WriteRequestCounts, limits: WriteLimits) -> WriteRequestCounts:
    """Buffers for requests up to a quarter larger than ``counts``, never beyond the limits (so a
    request that fits them is within the limits)."""
    series = min(counts.series + counts.series // 4 + 16, limits.max_series_per_request)
    samples = min(counts.samples + counts.samples // 4 + 16, limits.max_samples_per_request)
    labels = min(counts.labels + counts.labels // 4 + 64, series * limits.max_labels_per_series)
    return WriteRequestCounts(series, samples, labels, 0)


def _series_labels(
    view: memoryview,
    rows: list[list[int]],
    limits: WriteLimits,
    known: dict[tuple[bytes, bytes], tuple[str, str]],
) -> Labels | str:
    """The validated label set of one series from its label rows, or why it is rejected.
    ``known`` caches decoded (name, value) pairs (see ``RemoteWriteDecoder._pairs``)."""
    pairs: list[tuple[str, str]] = []
    for name_off, name_len, value_off, value_len in rows:
        if name_len > limits.max_label_name_bytes:
            return (
                f"label name of {name_len} bytes, over the limit of {limits.max_label_name_bytes}"
            )
        if value_len > limits.max_label_value_bytes:
            return (
                f"label value of {value_len} bytes, over the limit of "
                f"{limits.max_label_value_bytes}"
            )
        raw = (
            bytes(view[name_off : name_off + name_len]),
            bytes(view[value_off : value_off + value_len]),
        )
        pair = known.get(raw)
        if pair is None:
            try:
                pair = (str(raw[0], "utf-8"), str(raw[1], "utf-8"))
            except UnicodeDecodeError:
                return "invalid series: label name or value is not valid UTF-8"
            if len(known) >= PAIR_CACHE_SIZE:
                known.clear()
            known[raw] = pair
        pairs.append(pair)
    try:
        labels = validate_labels(pairs)
    except InvalidSeriesError as exc:
        return str(exc)
    if len(labels) > limits.max_labels_per_series:
        return f"series has {len(labels)} labels, over the limit of {limits.max_labels_per_series}"
    return labels


class RemoteWriteDecoder:
    """Decodes remote-write bodies and appends them; one per appender, safe across threads."""

    def __init__(
        self,
        appender: RefAppender,
        limits: WriteLimits = WriteLimits(),
        cache_size: int = 1_000_000,
    ) -> None:
        self._appender = appender
        self._limits = limits
        self._cache = kernels.new_ref_cache(cache_size, cache_size * CACHE_BYTES_PER_ENTRY)
        # The cache is not thread-safe; decoding holds the lock, snappy and appends do not.
        self._lock = threading.Lock()
        self._buffers = _BufferPool(BUFFER_POOL_SIZE, BUFFER_POOL_MAX_BYTES)
        self._capacity: WriteRequestCounts | None = None  # see _columns
        # Decoded (name, value) pairs by their bytes, for the series that miss the ref cache:
        # a burst of new series (a sender's first requests) otherwise makes two strs and a
        # tuple per label of each (~6 MiB per 5,000 node_exporter series) next to the few
        # long-lived objects the store keeps of them, which leaves Python's allocator arenas
        # fragmented (~10 MiB resident after 9,700 series; docs/benchmarks.md "Peak RSS work,
        # session 4"). The store shares these tuples (LabelIndex keeps the first it sees).
        self._pairs: dict[tuple[bytes, bytes], tuple[str, str]] = {}

    @property
    def cached_series(self) -> int:
        """Entries in the ref cache (a series may count twice across its two generations)."""
        with self._lock:
            return len(self._cache)

    def write(self, body: bytes | memoryview) -> WriteResult:
        """Decompress, decode, resolve refs and append; raises ``IngestError`` for a malformed
        body and ``PayloadTooLargeError`` for one over a size limit (nothing written then)."""
        size = _check_sizes(body, self._limits)
        buf = self._buffers.take(size)
        try:
            return self._write(buf[:size], body)
        finally:
            self._buffers.give(buf)

    def _write(self, data: npt.NDArray[np.uint8], body: bytes | memoryview) -> WriteResult:
        _decompress_into(body, data)
        cols = self._columns(data)
        errors: list[str] = []
        series_ref, series_rejected = self._resolve(data, cols, errors)
        sample_refs = series_ref[cols.sample_series]
        ok = sample_refs >= 0
        timestamps_ms, values = cols.timestamps_ms, cols.values
        rejected = 0
        if not ok.all():
            rejected = int(ok.size - np.count_nonzero(ok))
            sample_refs, timestamps_ms, values = sample_refs[ok], timestamps_ms[ok], values[ok]
        if cols.histograms:
            rejected += cols.histograms
            if len(errors) < MAX_ERRORS:
                errors.append(
                    f"{cols.histograms} native histogram samples rejected: not supported yet"
                )
        accepted = 0
        if sample_refs.size:
            result = self._appender.append_refs(sample_refs, timestamps_ms, values)
            accepted = result.accepted
            if result.rejected:
                rejected += result.rejected
                if len(errors) < MAX_ERRORS:
                    errors.append(f"{result.rejected} samples rejected: out of retention")
        return WriteResult(accepted, rejected, series_rejected, errors)

    def _columns(self, data: npt.NDArray[np.uint8]) -> WriteRequestColumns:
        """One decode pass into buffers sized like the largest request so far (the steady
        state); a larger request (or the first) is counted first, which checks the limits."""
        capacity = self._capacity
        if capacity is not None:
            try:
                with self._lock:
                    fit = kernels.decode_write_request_fit(data, capacity, self._cache)
            except MalformedError as exc:
                raise _malformed(exc) from None
            if fit is not None:
                return fit[1]
        counts, cols = _count_and_decode(data, self._limits, self._cache, self._lock)
        grown = _capacity_for(counts, self._limits)
        if capacity is None or grown.samples > capacity.samples or grown.labels > capacity.labels:
            self._capacity = grown
        return cols

    def _resolve(
        self, data: npt.NDArray[np.uint8], cols: WriteRequestColumns, errors: list[str]
    ) -> tuple[npt.NDArray[np.int64], int]:
        """Refs of every series (-1: rejected), filling the cache with new valid ones."""
        series_ref = cols.series_ref
        n_series = series_ref.size
        has_samples = np.bincount(cols.sample_series, minlength=n_series) > 0
        missing = np.flatnonzero((series_ref < 0) & has_samples)
        if not missing.size:
            return series_ref, 0
        view = data.data
        starts = cols.label_start.tolist()
        key_off, key_len = cols.key_off.tolist(), cols.key_len.tolist()
        # Distinct label lists: senders repeat a series once per sample in a request.
        slot_of_key: dict[bytes, int] = {}
        slot_of: list[int] = []
        slots: list[Labels] = []
        first_of_slot: list[int] = []
        for i in missing.tolist():
            key = bytes(view[key_off[i] : key_off[i] + max(key_len[i], 0)])
            cacheable = key_len[i] >= 0
            slot = slot_of_key.get(key, -1) if cacheable else -1
            if slot < 0:
                rows = cols.labels[starts[i] : starts[i + 1]].tolist()
                labels = _series_labels(view, rows, self._limits, self._pairs)
                if isinstance(labels, str):
                    slot_of.append(-1)
                    if len(errors) < MAX_ERRORS:
                        errors.append(labels)
                    continue
                slot = len(slots)
                slots.append(labels)
                first_of_slot.append(i)
                if cacheable:
                    slot_of_key[key] = slot
            slot_of.append(slot)
        refs = self._series_refs(slots, errors)
        resolved = series_ref.copy()
        slot_index = np.array(slot_of, dtype=np.int64)
        slot_refs = np.append(refs, -1)  # slot -1 (rejected) -> ref -1
        resolved[missing] = slot_refs[slot_index]
        rejected_series = int(np.count_nonzero(resolved[missing] < 0))
        good = np.flatnonzero(refs >= 0)
        if good.size:
            first = np.array(first_of_slot, dtype=np.int64)[good]
            with self._lock:
                self._cache.insert(data, cols.key_off[first], cols.key_len[first], refs[good])
        return resolved, rejected_series

    def _series_refs(self, slots: list[Labels], errors: list[str]) -> npt.NDArray[np.int64]:
        """``series_refs`` of validated label sets; if the store still refuses one, find which
        one by resolving one by one (-1 for those refused)."""
        if not slots:
            return np.empty(0, dtype=np.int64)
        try:
            return np.asarray(self._appender.series_refs(slots), dtype=np.int64)
        except InvalidSeriesError:
            logger.debug("store refused a validated series; resolving one by one")
        refs = np.full(len(slots), -1, dtype=np.int64)
        for j, labels in enumerate(slots):
            try:
                refs[j] = int(self._appender.series_refs([labels])[0])
            except InvalidSeriesError as exc:
                if len(errors) < MAX_ERRORS:
                    errors.append(str(exc))
        return refs
