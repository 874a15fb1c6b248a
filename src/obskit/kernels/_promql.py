"""Numpy references of the PromQL window kernels (C twins in ``native/promql_windows.c``).

Windows are flat index ranges ``[lo, hi)`` into sample columns, one per series and step. Each
function performs the same floating-point operations in the same order as its C twin, so both
backends give identical results; the loops here run over the window *width* (vectorised across
all windows), never per sample.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "GROUP_KINDS",
    "STAT_KINDS",
    "group_reduce",
    "instant_finish",
    "kahan_inc",
    "quantile_rows",
    "sample_columns",
    "series_rate",
    "window_bounds",
    "window_rate",
    "window_stat",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

STAT_KINDS = {"sum": 0, "avg": 1, "stdvar": 2, "stddev": 3, "quantile": 4, "mad": 5}
# Prometheus' staleness marker (one NaN bit pattern; obskit.promql.steps.STALE_NAN_BITS).
STALE_NAN_BITS = 0x7FF0000000000002
GROUP_KINDS = {"sum": 0, "avg": 1, "stdvar": 2, "stddev": 3, "count": 4}
_GATHER_CELLS = 1 << 22


def window_bounds(ts: I64, offsets: I64, ends: I64, range_ms: int) -> tuple[I64, I64]:
    """Per series s and step k: ``lo`` = first index with ts > ends[k] - range, ``hi`` = first
    index with ts > ends[k] (flat indices into ``ts``), shape [S, N]."""
    return _locate(ts, offsets, ends - range_ms), _locate(ts, offsets, ends)


def _locate(ts: I64, offsets: I64, times: I64) -> I64:
    n_series = len(offsets) - 1
    out = np.empty((max(n_series, 0), len(times)), np.int64)
    for s in range(n_series):
        a, b = int(offsets[s]), int(offsets[s + 1])
        out[s] = a + np.searchsorted(ts[a:b], times, side="right")
    return out


def instant_finish(v: F64, t: I64, ends: I64, lookback_ms: int) -> tuple[Bool, Bool, int]:
    """The last step of an instant selector read by ``sample_columns``: ``present[s, k]`` when
    ``t[s, k] > ends[k] - lookback`` and ``v[s, k]`` is not a staleness marker; ``v`` is set
    to 0 where it is not (in place); ``keep[s]`` when row s has a point; and the point count."""
    present: Bool = t > ends[None, :] - lookback_ms
    present &= v.view(np.uint64) != np.uint64(STALE_NAN_BITS)
    v[~present] = 0.0
    keep: Bool = np.asarray(present.any(axis=1), np.bool_)
    return present, keep, int(np.count_nonzero(present))


def sample_columns(
    ts: I64,
    vals: F64,
    offsets: I64,
    rows: I64,
    ends: I64,
    lookback_ms: int,
    v_out: F64,
    t_out: I64,
) -> None:
    """Offer the sorted runs ``s`` (``[offsets[s], offsets[s + 1])`` of ``ts``/``vals``) to the
    rows ``rows[s]`` (distinct) of ``t_out``/``v_out`` (``rows x len(ends)``, ends ascending):
    for each step k the run's last sample with ts <= ends[k] replaces the one there when its ts
    is >= t_out[row, k]. Only steps the run can hold the instant sample of are offered to
    (first ts <= ends[k] < last ts + lookback), as in native/decode_columns.c."""
    if len(offsets) <= 1 or not len(ends):
        return
    first, stop = offsets[:-1, None], offsets[1:, None]
    _lo, hi = window_bounds(ts, offsets, ends, lookback_ms)
    idx = hi - 1
    has = (idx >= first) & (stop > first)
    last_t = ts[np.maximum(stop - 1, 0)] if len(ts) else np.zeros_like(first)
    e = ends[None, :]
    gap = e.astype(np.uint64) - last_t.astype(np.uint64)  # e - last without overflow when e >= last
    visit = has & ((e < last_t) | (gap < np.uint64(lookback_ms)))
    idx = np.where(visit, idx, 0)
    cand_t = ts[idx] if len(ts) else np.zeros(idx.shape, np.int64)
    cand_v = vals[idx] if len(vals) else np.zeros(idx.shape, np.float64)
    t_rows, v_rows = t_out[rows], v_out[rows]
    win = visit & (cand_t >= t_rows)
    t_rows[win] = cand_t[win]
    v_rows[win] = cand_v[win]
    t_out[rows] = t_rows
    v_out[rows] = v_rows


def window_rate(
    ts: I64,
    vals: F64,
    lo: I64,
    hi: I64,
    ends: I64,
    range_ms: int,
    is_counter: bool,
    is_rate: bool,
) -> tuple[F64, Bool]:
    """Prometheus' extrapolatedRate over every window; ``ok`` where it has >= 2 samples."""
    count = hi - lo
    ok = count >= 2
    if len(vals) == 0:
        return np.zeros(lo.shape), ok
    first = np.where(ok, lo, 0)
    last = np.where(ok, hi - 1, 0)
    f_first, f_last = vals[first], vals[last]
    with np.errstate(all="ignore"):
        result = f_last - f_first
    if is_counter:
        prev = np.empty_like(vals)
        prev[0] = np.inf
        prev[1:] = vals[:-1]
        is_drop = vals < prev
        result = _add_sequential(
            result, np.where(is_drop, prev, 0.0), is_drop, np.minimum(lo + 1, hi), hi
        )
    end = np.broadcast_to(ends[None, :], lo.shape)
    range_start = end - range_ms
    with np.errstate(all="ignore"):
        to_start = (ts[first] - range_start) / 1000.0
        to_end = (end - ts[last]) / 1000.0
        sampled = (ts[last] - ts[first]) / 1000.0
        avg = sampled / np.maximum(count - 1, 1).astype(np.float64)
        threshold = avg * 1.1
        to_start = np.where(to_start >= threshold, avg / 2, to_start)
        if is_counter:
            to_zero = np.where(
                (result > 0) & (f_first >= 0), sampled * (f_first / result), to_start
            )
            to_start = np.where(to_zero < to_start, to_zero, to_start)
        to_end = np.where(to_end >= threshold, avg / 2, to_end)
        factor = (sampled + to_start + to_end) / sampled
        if is_rate:
            factor = factor / (range_ms / 1000.0)
        out: F64 = np.where(ok, result * factor, 0.0)
    return out, ok


def series_rate(
    ts: I64,
    vals: F64,
    offsets: I64,
    ends: I64,
    range_ms: int,
    is_counter: bool,
    is_rate: bool,
) -> tuple[F64, Bool]:
    """``window_rate`` over the windows ``window_bounds`` gives (the C twin locates them on
    the fly instead of writing them out)."""
    lo, hi = window_bounds(ts, offsets, ends, range_ms)
    return window_rate(ts, vals, lo, hi, ends, range_ms, is_counter, is_rate)


def _add_sequential(start: F64, data: F64, take: Bool, lo: I64, hi: I64) -> F64:
    """``start`` plus ``data[i]`` for every ``take[i]`` in ``[lo, hi)``, one at a time in index
    order (the C twin's loop), vectorised across windows."""
    out = start.ravel().copy()
    lo_f, hi_f = lo.ravel(), hi.ravel()
    counts = np.concatenate(([0], np.cumsum(take.astype(np.int64))))
    rows = np.flatnonzero(counts[np.maximum(hi_f, lo_f)] - counts[np.minimum(lo_f, hi_f)] > 0)
    if len(rows):
        width = int((hi_f[rows] - lo_f[rows]).max())
        acc = out[rows]
        with np.errstate(all="ignore"):
            for j in range(width):
                idx = lo_f[rows] + j
                hit = idx < hi_f[rows]
                safe = np.where(hit, idx, 0)
                hit &= take[safe]
                acc = np.where(hit, acc + data[safe], acc)
        out[rows] = acc
    result: F64 = out.reshape(start.shape)
    return result


def kahan_inc(inc: F64, s: F64, c: F64) -> tuple[F64, F64]:
    """Prometheus' kahanSumInc (Neumaier) on arrays: the new sum and compensation."""
    with np.errstate(all="ignore"):
        return _kahan_inc_raw(inc, s, c)


def _kahan_inc_raw(inc: F64, s: F64, c: F64) -> tuple[F64, F64]:
    t = s + inc
    big = np.abs(s) >= np.abs(inc)
    c = np.where(np.isinf(t), 0.0, c + np.where(big, (s - t) + inc, (inc - t) + s))
    return t, c


def window_stat(kind: int, vals: F64, lo: I64, hi: I64, param: F64 | None = None) -> F64:
    """Statistic ``kind`` (see STAT_KINDS) of every non-empty window (NaN for empty ones)."""
    shape = lo.shape
    lo_f, hi_f = lo.ravel(), hi.ravel()
    out = np.full(lo_f.shape, np.nan)
    rows_all = np.flatnonzero(hi_f > lo_f)
    if len(rows_all) == 0:
        return out.reshape(shape)
    width = int((hi_f - lo_f)[rows_all].max())
    chunk = max(1, _GATHER_CELLS // width)
    q_all = None if param is None else param.ravel()
    with np.errstate(all="ignore"):
        for a in range(0, len(rows_all), chunk):
            rows = rows_all[a : a + chunk]
            cols = lo_f[rows][:, None] + np.arange(width)[None, :]
            mask = cols < hi_f[rows][:, None]
            x = vals[np.where(mask, cols, 0)]
            q = None if q_all is None else q_all[rows]
            out[rows] = _stat_rows(kind, x, mask, q)
    return out.reshape(shape)


def _stat_rows(kind: int, x: F64, m: Bool, q: F64 | None) -> F64:
    n_rows, width = x.shape
    if kind == 0:
        s = np.zeros(n_rows)
        c = np.zeros(n_rows)
        for j in range(width):
            t, c2 = kahan_inc(x[:, j], s, c)
            s = np.where(m[:, j], t, s)
            c = np.where(m[:, j], c2, c)
        out: F64 = np.where(np.isinf(s), s, s + c)
        return out
    if kind == 1:
        s = x[:, 0].copy()
        c = np.zeros(n_rows)
        mean = np.zeros(n_rows)
        count = np.ones(n_rows)
        inc = np.zeros(n_rows, np.bool_)
        for j in range(1, width):
            valid = m[:, j]
            cnt = np.where(valid, float(j + 1), count)
            ns, nc = kahan_inc(x[:, j], s, c)
            overflow = valid & ~inc & np.isinf(ns)
            plain = valid & ~inc & ~overflow
            s = np.where(plain, ns, s)
            c = np.where(plain, nc, c)
            mean = np.where(overflow, s / (cnt - 1), mean)
            c = np.where(overflow, c / (cnt - 1), c)
            inc = inc | overflow
            do_inc = valid & inc
            qf = (cnt - 1) / cnt
            ms, mc = kahan_inc(x[:, j] / cnt, qf * mean, qf * c)
            mean = np.where(do_inc, ms, mean)
            c = np.where(do_inc, mc, c)
            count = cnt
        result: F64 = np.where(inc, mean + c, s / count + c / count)
        return result
    if kind in (2, 3):
        count = np.zeros(n_rows)
        mean = np.zeros(n_rows)
        cmean = np.zeros(n_rows)
        aux = np.zeros(n_rows)
        caux = np.zeros(n_rows)
        for j in range(width):
            valid = m[:, j]
            cnt = count + 1
            delta = x[:, j] - (mean + cmean)
            nm, ncm = kahan_inc(delta / cnt, mean, cmean)
            na, nca = kahan_inc(delta * (x[:, j] - (nm + ncm)), aux, caux)
            count = np.where(valid, cnt, count)
            mean = np.where(valid, nm, mean)
            cmean = np.where(valid, ncm, cmean)
            aux = np.where(valid, na, aux)
            caux = np.where(valid, nca, caux)
        var: F64 = (aux + caux) / count
        return np.sqrt(var) if kind == 3 else var
    with np.errstate(all="ignore"):
        return _order_stat(kind, x, m, q)


def _order_stat(kind: int, x: F64, m: Bool, q: F64 | None) -> F64:
    n_rows = x.shape[0]
    srt = _sorted_rows(x, m)
    n = m.sum(axis=1)
    if kind == 4:
        assert q is not None
        return _quantile_sorted(q, srt, n)
    half = np.full(n_rows, 0.5)
    med = _quantile_sorted(half, srt, n)
    dev = np.abs(x - med[:, None])
    out = _quantile_sorted(half, _sorted_rows(dev, m), n)
    # A NaN in the window makes the median absolute deviation NaN (as Prometheus).
    result: F64 = np.where((m & np.isnan(x)).any(axis=1), np.nan, out)
    return result


def quantile_rows(q: F64, x: F64, m: Bool) -> F64:
    """Prometheus' ``quantile(q, values)`` for every row of ``x`` (valid where ``m``)."""
    with np.errstate(all="ignore"):
        return _quantile_sorted(q, _sorted_rows(x, m), m.sum(axis=1))


def _sorted_rows(x: F64, m: Bool) -> F64:
    """Rows sorted as Go's sort.Float64s (NaN first), padding (mask False) last."""
    nan = np.isnan(x)
    group = np.where(m, np.where(nan, 0, 1), 2)
    key = np.where(m & ~nan, x, 0.0)
    order = np.lexsort((key, group), axis=-1)
    out: F64 = np.take_along_axis(x, order, axis=1)
    return out


def _quantile_sorted(q: F64, srt: F64, n: npt.NDArray[np.int64]) -> F64:
    rank = q * (n - 1).astype(np.float64)
    fl = np.floor(rank)
    lower = np.clip(np.nan_to_num(fl, nan=0.0, posinf=0.0, neginf=0.0), 0, None).astype(np.int64)
    lower = np.minimum(lower, n - 1)
    upper = np.minimum(lower + 1, n - 1)
    weight = rank - fl
    lo_v = np.take_along_axis(srt, lower[:, None], axis=1)[:, 0]
    hi_v = np.take_along_axis(srt, upper[:, None], axis=1)[:, 0]
    out = np.where((upper == lower) | (weight == 0), lo_v, lo_v * (1 - weight) + hi_v * weight)
    out = np.where(q < 0, -np.inf, out)
    out = np.where(q > 1, np.inf, out)
    result: F64 = np.where(np.isnan(q), np.nan, out)
    return result


def _member_matrix(gid: npt.NDArray[np.intp], n_groups: int) -> npt.NDArray[np.intp]:
    """[G, max group size] row numbers of each group's members in input order, -1 padded."""
    order = np.argsort(gid, kind="stable")
    sizes = np.bincount(gid, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    rank = np.arange(len(gid)) - starts[gid[order]]
    out = np.full((n_groups, max(int(sizes.max()), 1) if len(sizes) else 1), -1, np.intp)
    out[gid[order], rank] = order
    return out


def group_reduce(
    kind: int, vals: F64, present: Bool, gid: npt.NDArray[np.intp], n_groups: int
) -> tuple[F64, F64]:
    """Aggregation ``kind`` (see GROUP_KINDS) of the rows of ``vals[S, N]`` (valid where
    ``present``) per group ``gid[S]`` in ``[0, n_groups)``, and the count of valid rows, both
    ``[n_groups, N]``. Prometheus' accumulation, member by member in input order: sum as Kahan,
    avg as Kahan switching to an incremental mean past overflow, stdvar/stddev as Welford; count
    alone counts. The loop runs over the largest group's size, vectorised across groups and
    steps."""
    if kind == GROUP_KINDS["count"]:
        counted = np.zeros((n_groups, vals.shape[1]))
        np.add.at(counted, gid, present.astype(np.float64))
        return counted, counted.copy()
    members = _member_matrix(gid, n_groups)
    g, n = n_groups, vals.shape[1]
    started = np.zeros((g, n), np.bool_)
    total = np.zeros((g, n))
    comp = np.zeros((g, n))
    mean = np.zeros((g, n))
    count = np.zeros((g, n))
    incremental = np.zeros((g, n), np.bool_)
    with np.errstate(all="ignore"):
        for j in range(members.shape[1] if len(vals) else 0):
            rows = members[:, j]
            valid = (rows >= 0)[:, None] & present[np.maximum(rows, 0)]
            x = vals[np.maximum(rows, 0)]
            first = valid & ~started
            more = valid & started
            count = np.where(valid, count + 1, count)
            if kind == 0:
                t, c = _kahan_inc_raw(x, total, comp)
                total = np.where(first, x, np.where(more, t, total))
                comp = np.where(more, c, comp)
            elif kind == 1:
                t, c = _kahan_inc_raw(x, total, comp)
                overflow = more & ~incremental & np.isinf(t)
                plain = more & ~incremental & ~overflow
                total = np.where(first, x, np.where(plain, t, total))
                comp = np.where(plain, c, comp)
                mean = np.where(first, x, np.where(overflow, total / (count - 1), mean))
                comp = np.where(overflow, comp / (count - 1), comp)
                incremental |= overflow
                q = (count - 1) / count
                m2, c2 = _kahan_inc_raw(x / count, q * mean, q * comp)
                step = more & incremental
                mean = np.where(step, m2, mean)
                comp = np.where(step, c2, comp)
            else:
                delta = x - mean
                new_mean = mean + delta / count
                total = np.where(valid, total + delta * (x - new_mean), total)
                mean = np.where(valid, new_mean, mean)
            started |= valid
        if kind == 0:
            out: F64 = np.where(np.isinf(total), total, total + comp)
        elif kind == 1:
            out = np.where(incremental, mean + comp, total / count + comp / count)
        else:
            out = total / count
            if kind == 3:
                out = np.sqrt(out)
    return out, count
