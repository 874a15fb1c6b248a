"""Range-vector functions (``rate(x[5m])``, ``*_over_time`` ...) for all series and steps at once.

Each function takes a ``RangeInput`` — flat sample columns and, per series s and step k, the
window ``[lo[s, k], hi[s, k])`` of flat indices — and returns ``values[S, N]`` and
``present[S, N]``. Cheap statistics use ``ufunc.reduceat`` over the windows (a sequential sum in
sample order, like Prometheus' loops); order statistics and regressions gather the windows
into a padded 2-D block, a chunk of windows at a time. No Python loop runs per sample.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from obskit import kernels
from obskit.errors import QueryError
from obskit.promql.steps import RangeInput

__all__ = ["RANGE_FUNCTIONS", "RangeFunction", "extrapolated_rate"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]
Result = tuple[F64, Bool]
RangeFunction = Callable[[RangeInput, list[F64]], Result]

_GATHER_CELLS = 1 << 22  # windows x width gathered at once


def _reduce(ufunc: np.ufunc, data: F64, lo: I64, hi: I64, empty: float = 0.0) -> F64:
    """``ufunc`` reduced over every window ``data[lo:hi]`` (shape of lo); ``empty`` if lo == hi."""
    shape = lo.shape
    lo_f, hi_f = lo.ravel(), hi.ravel()
    out = np.full(lo_f.shape, empty, np.float64)
    nonempty = hi_f > lo_f
    if nonempty.any():
        padded = np.append(data, 0.0)
        idx = np.empty(2 * int(nonempty.sum()), np.int64)
        idx[0::2] = lo_f[nonempty]
        idx[1::2] = hi_f[nonempty]
        out[nonempty] = ufunc.reduceat(padded, idx)[0::2]
    return out.reshape(shape)


def _prefix_count(flags: npt.NDArray[np.int64], lo: I64, hi: I64) -> I64:
    """Number of set flags in each window (exact: integer prefix sums)."""
    csum = np.concatenate(([0], np.cumsum(flags)))
    out: I64 = csum[hi] - csum[lo]
    return out


def _pair_terms(ri: RangeInput) -> tuple[F64, F64]:
    """Per flat sample i: previous value and whether (i-1, i) is a pair of one series."""
    prev = np.empty_like(ri.vals)
    if len(prev):
        prev[0] = np.nan
        prev[1:] = ri.vals[:-1]
    same = np.ones(len(ri.vals), np.float64)
    starts = ri.offsets[:-1][ri.offsets[:-1] < len(ri.vals)]
    same[starts] = 0.0
    return prev, same


def extrapolated_rate(ri: RangeInput, is_counter: bool, is_rate: bool) -> Result:
    """Prometheus' ``extrapolatedRate`` for rate, increase and delta."""
    if not ri.has_windows():
        # Nothing else needs the windows: the kernel locates them itself (no [S, N] lo/hi).
        return kernels.pq_series_rate(
            ri.ts, ri.vals, ri.offsets, ri.ends, ri.range_ms, is_counter, is_rate
        )
    lo, hi = ri.windows()
    return kernels.pq_window_rate(ri.ts, ri.vals, lo, hi, ri.ends, ri.range_ms, is_counter, is_rate)


def _stat(kind: str, ri: RangeInput, param: F64 | None = None) -> Result:
    lo, hi = ri.windows()
    ok = hi > lo
    q = None if param is None else np.ascontiguousarray(np.broadcast_to(param[None, :], lo.shape))
    return kernels.pq_window_stat(kernels.PQ_STAT_KINDS[kind], ri.vals, lo, hi, q), ok


def _instant_rate(ri: RangeInput, is_rate: bool) -> Result:
    lo, hi = ri.windows()
    ok = hi - lo >= 2
    if len(ri.vals) == 0:
        return np.zeros(lo.shape), ok
    last = np.where(ok, hi - 1, 0)
    prev = np.maximum(last - 1, 0)
    v_last, v_prev = ri.vals[last], ri.vals[prev]
    if is_rate:
        diff = np.where(v_last < v_prev, v_last, v_last - v_prev)
        dt = (ri.ts[last] - ri.ts[prev]) / 1000.0
        with np.errstate(divide="ignore", invalid="ignore"):
            return diff / dt, ok
    return v_last - v_prev, ok


def _gather(ri: RangeInput, lo: I64, hi: I64) -> tuple[F64, F64, Bool]:
    """Windows as padded rows: values, timestamps (s, relative to nothing), valid mask."""
    width = int((hi - lo).max()) if lo.size else 0
    width = max(width, 1)
    cols = lo.ravel()[:, None] + np.arange(width)[None, :]
    mask = cols < hi.ravel()[:, None]
    cols = np.where(mask, cols, 0)
    if len(ri.vals) == 0:
        z = np.zeros(cols.shape)
        return z, z, mask
    return ri.vals[cols], ri.ts[cols].astype(np.float64), mask


def _per_window(
    ri: RangeInput,
    fn: Callable[[F64, F64, Bool, int], F64],
    min_count: int = 1,
) -> Result:
    """Apply ``fn(values, times, mask, first_row)`` to padded window blocks, in chunks."""
    lo, hi = ri.windows()
    count = hi - lo
    ok = count >= min_count
    out = np.full(lo.size, np.nan)
    lo_f, hi_f, ok_f = lo.ravel(), hi.ravel(), ok.ravel()
    rows = np.flatnonzero(ok_f)
    if len(rows) == 0:
        return out.reshape(lo.shape), ok
    width = int((hi_f - lo_f)[rows].max())
    step = max(1, _GATHER_CELLS // max(width, 1))
    for a in range(0, len(rows), step):
        sel = rows[a : a + step]
        v, t, m = _gather(ri, lo_f[sel], hi_f[sel])
        out[sel] = fn(v, t, m, a)
    return out.reshape(lo.shape), ok


def _count(ri: RangeInput, _args: list[F64]) -> Result:
    lo, hi = ri.windows()
    n = hi - lo
    return n.astype(np.float64), n > 0


def _sum(ri: RangeInput, _args: list[F64]) -> Result:
    return _stat("sum", ri)


def _avg(ri: RangeInput, _args: list[F64]) -> Result:
    return _stat("avg", ri)


def _min(ri: RangeInput, _args: list[F64]) -> Result:
    lo, hi = ri.windows()
    return _reduce(np.fmin, ri.vals, lo, hi, np.nan), hi > lo


def _max(ri: RangeInput, _args: list[F64]) -> Result:
    lo, hi = ri.windows()
    return _reduce(np.fmax, ri.vals, lo, hi, np.nan), hi > lo


def _last(ri: RangeInput, _args: list[F64]) -> Result:
    lo, hi = ri.windows()
    ok = hi > lo
    if len(ri.vals) == 0:
        return np.zeros(lo.shape), ok
    return ri.vals[np.where(ok, hi - 1, 0)], ok


def _first(ri: RangeInput, _args: list[F64]) -> Result:
    lo, hi = ri.windows()
    ok = hi > lo
    if len(ri.vals) == 0:
        return np.zeros(lo.shape), ok
    return ri.vals[np.where(ok, lo, 0)], ok


def _present(ri: RangeInput, _args: list[F64]) -> Result:
    lo, hi = ri.windows()
    return np.ones(lo.shape), hi > lo


def _stdvar(ri: RangeInput, _args: list[F64]) -> Result:
    return _stat("stdvar", ri)


def _stddev(ri: RangeInput, _args: list[F64]) -> Result:
    return _stat("stddev", ri)


def quantile_rows(q: F64, v: F64, m: Bool) -> F64:
    """Prometheus' ``quantile`` per row of ``v`` (valid where ``m``); NaN for empty rows."""
    n = m.sum(axis=1)
    with np.errstate(all="ignore"):
        out = kernels.pq_quantile_rows(q, v, m)
    result: F64 = np.where(n == 0, np.nan, out)
    return result


def _quantile(ri: RangeInput, args: list[F64]) -> Result:
    return _stat("quantile", ri, args[0])


def _mad(ri: RangeInput, _args: list[F64]) -> Result:
    return _stat("mad", ri)


def _regression(t: F64, v: F64, m: Bool, at: F64) -> tuple[F64, F64]:
    """Least-squares slope and intercept at time ``at`` (seconds), Prometheus' formula."""
    n = m.sum(axis=1)
    x = np.where(m, (t - at[:, None] * 1000.0) / 1000.0, 0.0)
    y = np.where(m, v, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sum_x, sum_y = x.sum(axis=1), y.sum(axis=1)
        sum_xy, sum_x2 = (x * y).sum(axis=1), (x * x).sum(axis=1)
        const_y = np.all(np.where(m, v == v[:, :1], True), axis=1)
        cov_xy = sum_xy - sum_x * sum_y / n
        var_x = sum_x2 - sum_x * sum_x / n
        slope = cov_xy / var_x
        intercept = sum_y / n - slope * sum_x / n
    slope = np.where(const_y & np.isfinite(v[:, 0]), 0.0, slope)
    intercept = np.where(const_y & np.isfinite(v[:, 0]), v[:, 0], intercept)
    return slope, intercept


def _deriv(ri: RangeInput, _args: list[F64]) -> Result:
    def fn(v: F64, t: F64, m: Bool, _a: int) -> F64:
        slope, _ = _regression(t, v, m, t[:, 0] / 1000.0)
        return slope

    return _per_window(ri, fn, min_count=2)


def _predict_linear(ri: RangeInput, args: list[F64]) -> Result:
    horizon, step_times = args[0], args[1]
    lo, hi = ri.windows()
    ends_all = np.broadcast_to(step_times[None, :], lo.shape).ravel()
    h_all = np.broadcast_to(horizon[None, :], lo.shape).ravel()
    ok_rows = np.flatnonzero(((hi - lo) >= 2).ravel())

    def fn(v: F64, t: F64, m: Bool, a: int) -> F64:
        rows = ok_rows[a : a + len(v)]
        slope, intercept = _regression(t, v, m, ends_all[rows] / 1000.0)
        out: F64 = slope * h_all[rows] + intercept
        return out

    return _per_window(ri, fn, min_count=2)


def _resets(ri: RangeInput, _args: list[F64]) -> Result:
    lo, hi = ri.windows()
    prev, same = _pair_terms(ri)
    flags = ((ri.vals < prev) & (same > 0)).astype(np.int64)
    return _prefix_count(flags, np.minimum(lo + 1, hi), hi).astype(np.float64), hi > lo


def _changes(ri: RangeInput, _args: list[F64]) -> Result:
    lo, hi = ri.windows()
    prev, same = _pair_terms(ri)
    changed = (ri.vals != prev) & ~(np.isnan(ri.vals) & np.isnan(prev))
    flags = (changed & (same > 0)).astype(np.int64)
    return _prefix_count(flags, np.minimum(lo + 1, hi), hi).astype(np.float64), hi > lo


def _holt_winters(ri: RangeInput, args: list[F64]) -> Result:
    sf, tf = args[0], args[1]
    lo, hi = ri.windows()
    sf_all = np.broadcast_to(sf[None, :], lo.shape).ravel()
    tf_all = np.broadcast_to(tf[None, :], lo.shape).ravel()
    ok_rows = np.flatnonzero(((hi - lo) >= 2).ravel())

    def fn(v: F64, _t: F64, m: Bool, a: int) -> F64:
        rows = ok_rows[a : a + len(v)]
        s, tr = sf_all[rows], tf_all[rows]
        s1 = v[:, 0].copy()
        b = v[:, 1] - v[:, 0]
        s0 = s1.copy()
        for j in range(1, v.shape[1]):
            valid = m[:, j]
            if j > 1:
                b = np.where(valid, tr * (s1 - s0) + (1 - tr) * b, b)
            x = s * v[:, j] + (1 - s) * (s1 + b)
            s0 = np.where(valid, s1, s0)
            s1 = np.where(valid, x, s1)
        return s1

    lo, hi = ri.windows()
    used = (hi > lo).any(axis=0)  # Prometheus checks the factors for every series with samples
    for name, factor in (("smoothing", sf), ("trend", tf)):
        bad = factor[used & ~((factor > 0) & (factor < 1))]
        if len(bad):
            raise QueryError(
                f"invalid {name} factor. Expected: 0 < {name[0]}f < 1, got: {bad[0]:f}"
            )
    values, ok = _per_window(ri, fn, min_count=2)
    return values, ok


def _ts_of(kind: str) -> RangeFunction:
    """Timestamp (s) of the first / last / minimum / maximum sample of each window (the first
    of equal extremes; NaN loses to any number, as in min/max_over_time)."""

    def fn(ri: RangeInput, _args: list[F64]) -> Result:
        lo, hi = ri.windows()
        ok = hi > lo
        if len(ri.vals) == 0:
            return np.zeros(lo.shape), ok
        if kind == "first":
            return ri.ts[np.where(ok, lo, 0)] / 1000.0, ok
        if kind == "last":
            return ri.ts[np.where(ok, hi - 1, 0)] / 1000.0, ok

        def pick(v: F64, t: F64, m: Bool, _a: int) -> F64:
            valid = m & ~np.isnan(v)
            kv = v if kind == "max" else -v
            best_val = np.max(np.where(valid, kv, -np.inf), axis=1)
            best = np.argmax(valid & (kv == best_val[:, None]), axis=1)
            best = np.where(valid.any(axis=1), best, m.sum(axis=1) - 1)
            out: F64 = np.take_along_axis(t, best[:, None], axis=1)[:, 0] / 1000.0
            return out

        return _per_window(ri, pick)

    return fn


RANGE_FUNCTIONS: dict[str, RangeFunction] = {
    "ts_of_first_over_time": _ts_of("first"),
    "ts_of_last_over_time": _ts_of("last"),
    "ts_of_min_over_time": _ts_of("min"),
    "ts_of_max_over_time": _ts_of("max"),
    "rate": lambda ri, _a: extrapolated_rate(ri, True, True),
    "increase": lambda ri, _a: extrapolated_rate(ri, True, False),
    "delta": lambda ri, _a: extrapolated_rate(ri, False, False),
    "irate": lambda ri, _a: _instant_rate(ri, True),
    "idelta": lambda ri, _a: _instant_rate(ri, False),
    "count_over_time": _count,
    "sum_over_time": _sum,
    "avg_over_time": _avg,
    "min_over_time": _min,
    "max_over_time": _max,
    "last_over_time": _last,
    "first_over_time": _first,
    "present_over_time": _present,
    "stddev_over_time": _stddev,
    "stdvar_over_time": _stdvar,
    "quantile_over_time": _quantile,
    "mad_over_time": _mad,
    "deriv": _deriv,
    "predict_linear": _predict_linear,
    "resets": _resets,
    "changes": _changes,
    "holt_winters": _holt_winters,
    "double_exponential_smoothing": _holt_winters,
}
