"""Wrappers giving the C remote-write decoder (``native/remote_write.c``) the signatures of its
Python reference in ``kernels/_remote_write.py``.

``kernels/__init__.py`` (the only importer of ``obskit._native``) hands the extension module to
``select``, which returns the three entry points of whichever backend is in use.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from obskit.kernels import _remote_write
from obskit.kernels._remote_write import (
    MalformedError,
    RefCache,
    WriteRequestColumns,
    WriteRequestCounts,
)

__all__ = ["select", "select_snappy"]

CountFn = Callable[[npt.NDArray[np.uint8]], WriteRequestCounts]
DecodeFn = Callable[[npt.NDArray[np.uint8], WriteRequestCounts, RefCache], WriteRequestColumns]
CacheFactory = Callable[[int, int], RefCache]
SnappyFn = Callable[[bytes | memoryview, npt.NDArray[np.uint8]], None]

# Codes of rw_snappy_decompress (native/remote_write.c SNAPPY_ERR_*).
_SNAPPY_REASONS = {
    1: "bad snappy length header",
    2: "declared length differs from the output buffer",
    3: "corrupt snappy data",
}


class _NativeRefCache:
    """The C series-ref cache (same policy as ``PyRefCache``) held in a capsule."""

    __slots__ = ("_native", "capsule")

    def __init__(self, native: Any, max_entries: int, max_bytes: int) -> None:
        self._native = native
        self.capsule: object = native.rw_cache_new(max_entries, max_bytes, secrets.randbits(64))

    def __len__(self) -> int:
        n: int = self._native.rw_cache_len(self.capsule)
        return n

    def clear(self) -> None:
        self._native.rw_cache_clear(self.capsule)

    def lookup(self, key: bytes) -> int:
        ref: int = self._native.rw_cache_lookup(self.capsule, key)
        return ref

    def insert(
        self,
        data: npt.NDArray[np.uint8],
        key_off: npt.NDArray[np.int64],
        key_len: npt.NDArray[np.int64],
        refs: npt.NDArray[np.int64],
    ) -> None:
        self._native.rw_cache_insert(
            self.capsule,
            data,
            np.ascontiguousarray(key_off, dtype=np.int64),
            np.ascontiguousarray(key_len, dtype=np.int64),
            np.ascontiguousarray(refs, dtype=np.int64),
        )


def _bind(native: Any) -> tuple[CountFn, DecodeFn, CacheFactory]:
    def count_write_request(data: npt.NDArray[np.uint8]) -> WriteRequestCounts:
        code, offset, series, samples, labels, histograms = native.rw_count(data)
        if code:
            raise MalformedError(code, offset)
        return WriteRequestCounts(series, samples, labels, histograms)

    def decode_write_request(
        data: npt.NDArray[np.uint8], counts: WriteRequestCounts, cache: RefCache
    ) -> WriteRequestColumns:
        if not isinstance(cache, _NativeRefCache):
            return _remote_write.decode_write_request(data, counts, cache)
        n, k = counts.series, counts.samples
        series_ref = np.empty(n, dtype=np.int64)
        key_off = np.empty(n, dtype=np.int64)
        key_len = np.empty(n, dtype=np.int64)
        label_start = np.empty(n + 1, dtype=np.int64)
        labels = np.empty((counts.labels, 4), dtype=np.int64)
        sample_series = np.empty(k, dtype=np.int32)
        timestamps_ms = np.empty(k, dtype=np.int64)
        values = np.empty(k, dtype=np.float64)
        code, offset, rows = native.rw_decode(
            data,
            cache.capsule,
            series_ref,
            key_off,
            key_len,
            label_start,
            labels,
            sample_series,
            timestamps_ms,
            values,
        )
        if code:
            raise MalformedError(code, offset)
        return WriteRequestColumns(
            series_ref=series_ref,
            key_off=key_off,
            key_len=key_len,
            label_start=label_start,
            labels=labels[:rows],
            sample_series=sample_series,
            timestamps_ms=timestamps_ms,
            values=values,
            histograms=counts.histograms,
        )

    def new_ref_cache(max_entries: int, max_bytes: int) -> RefCache:
        return _NativeRefCache(native, max_entries, max_bytes)

    return count_write_request, decode_write_request, new_ref_cache


def select(native: ModuleType | None) -> tuple[CountFn, DecodeFn, CacheFactory]:
    """The remote-write entry points of the native backend, or of the reference when None."""
    if native is None:
        return (
            _remote_write.count_write_request,
            _remote_write.decode_write_request,
            _remote_write.PyRefCache,
        )
    return _bind(native)


def select_snappy(native: ModuleType | None) -> SnappyFn:
    """``snappy_decompress_into`` of the native backend, or of the reference when None (or
    when the extension was built before it had one: a stale in-place build keeps working)."""
    rw_snappy_decompress = getattr(native, "rw_snappy_decompress", None)
    if rw_snappy_decompress is None:
        return _remote_write.snappy_decompress_into

    def snappy_decompress_into(body: bytes | memoryview, out: npt.NDArray[np.uint8]) -> None:
        code = rw_snappy_decompress(body, out)
        if code:
            raise ValueError(_SNAPPY_REASONS.get(code, f"snappy error {code}"))

    return snappy_decompress_into
