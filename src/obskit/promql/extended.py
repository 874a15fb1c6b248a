"""The ``anchored`` and ``smoothed`` selector modifiers (Prometheus 3.x, experimental).

``rewrite.py`` turns ``x[5m] anchored`` into a call of a registered function; this module
evaluates such calls. An anchored window also takes the last sample at or before its start
(within the lookback delta) as its left boundary; a smoothed one interpolates linearly at both
ends (modelling a counter reset as a restart from zero for rate and increase). A smoothed
instant selector interpolates between the samples around each step. Vectorised over all
series and steps like ``windows.py``; no native kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import promql_parser as pp

from obskit import kernels
from obskit.errors import QueryError
from obskit.model.labels import Labels
from obskit.promql.rewrite import MODIFIER_FUNCTIONS
from obskit.promql.steps import StepVector, is_stale

__all__ = ["evaluate_bare", "evaluate_range_call", "modifier_of"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

_ALLOWED = {
    "anchored": ("changes", "delta", "increase", "rate", "resets"),
    "smoothed": ("delta", "increase", "rate"),
}


class _Selecting(Protocol):
    """What this module needs of the engine's evaluator."""

    lookback_ms: int

    def _ends(self, at: Any, offset: Any) -> I64: ...

    def _load(self, vs: Any, mint: int, maxt: int) -> tuple[list[Labels], I64, F64, I64]: ...


def modifier_of(node: Any) -> str | None:
    """``"anchored"``/``"smoothed"`` when ``node`` is a rewritten range selector with one."""
    if isinstance(node, pp.Call):
        entry = MODIFIER_FUNCTIONS.get(str(node.func.name))
        if entry is not None and entry[1]:
            return entry[0]
    return None


def _duration_ms(td: timedelta | None) -> int:
    if td is None:
        return 0
    return (td.days * 86400 + td.seconds) * 1000 + td.microseconds // 1000


def _load(ev: _Selecting, vs: Any, ends: I64, before_ms: int, after_ms: int) -> _Samples:
    labels, ts, vals, offsets = ev._load(
        vs, int(ends.min()) - before_ms + 1, int(ends.max()) + after_ms
    )
    keep = ~is_stale(vals)
    if not keep.all():
        series = np.repeat(np.arange(len(labels)), np.diff(offsets))[keep]
        ts, vals = ts[keep], vals[keep]
        offsets = np.searchsorted(series, np.arange(len(labels) + 1)).astype(np.int64)
    return _Samples(labels, ts, vals, offsets)


@dataclass(frozen=True, slots=True)
class _Samples:
    """The selected series as flat columns (staleness markers removed), like ``RangeInput``."""

    labels: list[Labels]
    ts: I64
    vals: F64
    offsets: I64

    def at(self, idx: I64) -> tuple[I64, F64]:
        """Timestamps and values at flat indices (clipped; callers mask invalid ones)."""
        if len(self.ts) == 0:
            return np.zeros(idx.shape, np.int64), np.zeros(idx.shape)
        safe = np.clip(idx, 0, len(self.ts) - 1)
        return self.ts[safe], self.vals[safe]


def evaluate_range_call(
    ev: _Selecting, name: str, modifier: str, node: Any, n_steps: int
) -> StepVector:
    """``name(x[r] modifier)`` for every series and step."""
    if name not in _ALLOWED[modifier]:
        allowed = ", ".join(_ALLOWED[modifier])
        raise QueryError(f"{modifier} modifier can only be used with: {allowed} - not with {name}")
    ms = node.args[0]
    if not isinstance(ms, pp.MatrixSelector):
        raise QueryError(f"{modifier} modifier is only supported on range selectors")
    vs = ms.vector_selector
    rng = _duration_ms(ms.range)
    lb = ev.lookback_ms
    ends = ev._ends(vs.at, vs.offset)
    smoothed = modifier == "smoothed"
    s = _load(ev, vs, ends, rng + lb, lb if smoothed else 0)
    if not s.labels:
        return StepVector.empty(n_steps)
    lo, hi = kernels.pq_window_bounds(s.ts, s.offsets, ends, rng)
    first_row, end_row = s.offsets[:-1, None], s.offsets[1:, None]
    start_t, end_t = (ends - rng)[None, :], ends[None, :]
    t_before, _ = s.at(lo - 1)
    anchor = (lo - 1 >= first_row) & (t_before > start_t - lb)
    inside = hi > lo
    first = np.where(anchor, lo - 1, lo)
    if name in ("changes", "resets"):
        return _count_pairs(s, name, first, hi, inside)
    is_counter = name != "delta"
    if smoothed:
        t_after, _ = s.at(hi)
        after = (hi < end_row) & (t_after <= end_t + lb)
        present = (anchor | inside) & (inside | after)
        t_last_in, _ = s.at(hi - 1)
        exact_end = inside & (t_last_in == end_t)
        last = np.where(exact_end | ~after, hi - 1, hi)
        left = _pick(s, first, start_t, is_counter, left_side=True)
        right = _pick(s, last, end_t, is_counter, left_side=False)
    else:
        present = inside
        left = s.at(first)[1]
        right = s.at(hi - 1)[1]
    result = right - left
    if is_counter:
        result = result + _correction(s, left, right, lo, hi, inside)
    if name == "rate":
        result = result / (rng / 1000.0)
    values = np.where(present, result, 0.0)
    return StepVector(s.labels, values, present, np.ones(len(s.labels), np.bool_)).compact()


def _pick(s: _Samples, idx: I64, t: I64, is_counter: bool, *, left_side: bool) -> F64:
    """The value at the window boundary ``t``: sample ``idx``, or interpolated towards its
    neighbour when ``idx`` lies outside the window."""
    t_i, v_i = s.at(idx)
    other = idx + 1 if left_side else idx - 1
    t_o, v_o = s.at(other)
    outside = t_i < t if left_side else t_i > t
    if left_side:
        t1, y1, t2, y2 = t_i, v_i, t_o, v_o
    else:
        t1, y1, t2, y2 = t_o, v_o, t_i, v_i
    if is_counter:
        y1 = np.where(y2 < y1, 0.0, y1)
    with np.errstate(all="ignore"):
        interp = y1 + (y2 - y1) * ((t - t1) / np.where(t2 == t1, 1, t2 - t1))
    out: F64 = np.where(outside, interp, v_i)
    return out


def _correction(s: _Samples, left: F64, right: F64, lo: I64, hi: I64, inside: Bool) -> F64:
    """Counter-reset correction over ``left``, the samples of the window, ``right``."""
    prev = np.empty_like(s.vals)
    if len(prev):
        prev[0] = np.nan
        prev[1:] = s.vals[:-1]
    pair = np.where(s.vals < prev, prev, 0.0)
    pair[s.offsets[:-1][s.offsets[:-1] < len(pair)]] = 0.0
    inner = _window_sums(pair, np.minimum(lo + 1, hi), hi)
    _, v_lo = s.at(lo)
    _, v_last = s.at(hi - 1)
    edge_left = np.where(v_lo < left, left, 0.0)
    edge_right = np.where(right < v_last, v_last, 0.0)
    only = np.where(right < left, left, 0.0)
    out: F64 = np.where(inside, edge_left + inner + edge_right, only)
    return out


def _window_sums(x: F64, a: I64, b: I64) -> F64:
    """``x[a:b].sum()`` for every window, each summed on its own (a difference of running sums
    would depend on the samples before the window: one ±Inf there makes every later window NaN,
    and the rounding would change with the query's start)."""
    out = np.zeros(a.shape, np.float64)
    nonempty = b > a
    if not nonempty.any() or not len(x):
        return out
    bounds = np.stack([a[nonempty], b[nonempty]], axis=1).ravel()
    # reduceat sums padded[bounds[k]:bounds[k + 1]]: the even k are the windows (the zero pad
    # makes an end at len(x) a valid index)
    padded = np.concatenate((x, [0.0]))
    sums = np.add.reduceat(padded, bounds)[::2]
    out[nonempty] = sums
    return out


def _count_pairs(s: _Samples, name: str, first: I64, hi: I64, inside: Bool) -> StepVector:
    prev = np.empty_like(s.vals)
    if len(prev):
        prev[0] = np.nan
        prev[1:] = s.vals[:-1]
    if name == "resets":
        flag = s.vals < prev
    else:
        flag = ~((s.vals == prev) | (np.isnan(s.vals) & np.isnan(prev)))
    flag[s.offsets[:-1][s.offsets[:-1] < len(flag)]] = False
    csum = np.concatenate(([0], np.cumsum(flag.astype(np.int64))))
    counts = csum[hi] - csum[np.minimum(first + 1, hi)]
    values = np.where(inside, counts.astype(np.float64), 0.0)
    return StepVector(s.labels, values, inside, np.ones(len(s.labels), np.bool_)).compact()


def evaluate_bare(ev: _Selecting, modifier: str, node: Any, n_steps: int) -> StepVector:
    """``x smoothed`` (an instant selector): interpolated between the samples around each step,
    the last sample carried forward when none follows."""
    vs = node.args[0]
    if isinstance(vs, pp.MatrixSelector):
        raise QueryError(
            f"a range selector with the {modifier} modifier is only supported as the argument "
            f"of: {', '.join(_ALLOWED[modifier])}"
        )
    if modifier != "smoothed" or not isinstance(vs, pp.VectorSelector):
        raise QueryError(f"the {modifier} modifier is not supported on instant vector selectors")
    lb = ev.lookback_ms
    ends = ev._ends(vs.at, vs.offset)
    s = _load(ev, vs, ends, lb, lb)
    if not s.labels:
        return StepVector.empty(n_steps)
    lo, hi = kernels.pq_window_bounds(s.ts, s.offsets, ends, lb)
    end_t = ends[None, :]
    present = hi > lo
    t_prev, v_prev = s.at(hi - 1)
    t_next, v_next = s.at(hi)
    after = (hi < s.offsets[1:, None]) & (t_next <= end_t + lb)
    with np.errstate(all="ignore"):
        frac = (end_t - t_prev) / np.where(t_next == t_prev, 1, t_next - t_prev)
        interp = v_prev + (v_next - v_prev) * frac
    values = np.where(after & (t_prev < end_t), interp, v_prev)
    values = np.where(present, values, 0.0)
    return StepVector(s.labels, values, present, np.zeros(len(s.labels), np.bool_)).compact()
