"""Wrappers giving the C PromQL window kernels the signatures of ``kernels/_promql.py``.

``NativeWindows(native)`` is built by ``kernels/__init__.py`` (the one module that imports
the extension) with the loaded ``obskit._native`` module.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import numpy.typing as npt

from obskit.kernels import buffers

__all__ = ["NativeWindows"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


class NativeWindows:
    """The window and aggregation kernels bound to ``native``."""

    def __init__(self, native: ModuleType) -> None:
        self.native = native

    def window_bounds(self, ts: I64, offsets: I64, ends: I64, range_ms: int) -> tuple[I64, I64]:
        shape = (len(offsets) - 1, len(ends))
        lo = buffers.empty(shape, np.int64)
        hi = buffers.empty(shape, np.int64)
        self.native.pq_window_bounds(
            np.ascontiguousarray(ts, np.int64),
            np.ascontiguousarray(offsets, np.int64),
            np.ascontiguousarray(ends, np.int64),
            int(range_ms),
            lo,
            hi,
        )
        return lo, hi

    def window_rate(
        self,
        ts: I64,
        vals: F64,
        lo: I64,
        hi: I64,
        ends: I64,
        range_ms: int,
        is_counter: bool,
        is_rate: bool,
    ) -> tuple[F64, Bool]:
        out = buffers.empty(lo.shape, np.float64)
        ok = buffers.empty(lo.shape, np.bool_)
        self.native.pq_rate(
            np.ascontiguousarray(ts, np.int64),
            np.ascontiguousarray(vals, np.float64),
            np.ascontiguousarray(lo, np.int64),
            np.ascontiguousarray(hi, np.int64),
            np.ascontiguousarray(ends, np.int64),
            int(range_ms),
            bool(is_counter),
            bool(is_rate),
            out,
            ok,
        )
        return out, ok

    def series_rate(
        self,
        ts: I64,
        vals: F64,
        offsets: I64,
        ends: I64,
        range_ms: int,
        is_counter: bool,
        is_rate: bool,
    ) -> tuple[F64, Bool]:
        shape = (len(offsets) - 1, len(ends))
        out = buffers.empty(shape, np.float64)
        ok = buffers.empty(shape, np.bool_)
        self.native.pq_series_rate(
            np.ascontiguousarray(ts, np.int64),
            np.ascontiguousarray(vals, np.float64),
            np.ascontiguousarray(offsets, np.int64),
            np.ascontiguousarray(ends, np.int64),
            int(range_ms),
            bool(is_counter),
            bool(is_rate),
            out,
            ok,
        )
        return out, ok

    def instant_finish(self, v: F64, t: I64, ends: I64, lookback_ms: int) -> tuple[Bool, Bool, int]:
        present = buffers.empty(t.shape, np.bool_)
        keep = np.empty(t.shape[0], np.bool_)
        points: int = self.native.pq_instant_finish(
            v,
            np.ascontiguousarray(t, np.int64),
            np.ascontiguousarray(ends, np.int64),
            int(lookback_ms),
            present,
            keep,
        )
        return present, keep, points

    def sample_columns(
        self,
        ts: I64,
        vals: F64,
        offsets: I64,
        rows: I64,
        ends: I64,
        lookback_ms: int,
        v_out: F64,
        t_out: I64,
    ) -> None:
        self.native.sample_columns(
            np.ascontiguousarray(ts, np.int64),
            np.ascontiguousarray(vals, np.float64),
            np.ascontiguousarray(offsets, np.int64),
            np.ascontiguousarray(rows, np.int64),
            np.ascontiguousarray(ends, np.int64),
            int(lookback_ms),
            v_out,
            t_out,
        )

    def window_stat(self, kind: int, vals: F64, lo: I64, hi: I64, param: F64 | None = None) -> F64:
        out = buffers.empty(lo.shape, np.float64)
        q = np.empty(0) if param is None else np.ascontiguousarray(param, np.float64)
        self.native.pq_window_stat(
            int(kind),
            np.ascontiguousarray(vals, np.float64),
            np.ascontiguousarray(lo, np.int64),
            np.ascontiguousarray(hi, np.int64),
            q,
            out,
        )
        return out

    def group_reduce(
        self, kind: int, vals: F64, present: Bool, gid: npt.NDArray[np.intp], n_groups: int
    ) -> tuple[F64, F64]:
        out = np.zeros((n_groups, vals.shape[1]), np.float64)
        count = np.zeros((n_groups, vals.shape[1]), np.float64)
        self.native.pq_group_reduce(
            int(kind),
            np.ascontiguousarray(vals, np.float64),
            np.ascontiguousarray(present, np.bool_),
            np.ascontiguousarray(gid, np.int64),
            int(n_groups),
            out,
            count,
        )
        return out, count
