"""Instant-vector functions: math, clamping, rounding, dates, labels, sorting, histograms."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import re2

from obskit.errors import QueryError
from obskit.model.labels import METRIC_NAME, Labels
from obskit.promql.steps import StepVector, without_name

__all__ = [
    "DATE_FUNCTIONS",
    "MATH_FUNCTIONS",
    "clamp",
    "histogram_fraction",
    "histogram_quantile",
    "label_join",
    "label_replace",
    "round_to",
    "sort_order",
]

F64 = npt.NDArray[np.float64]


def _sgn(x: F64) -> F64:
    return np.sign(x)


MATH_FUNCTIONS: dict[str, Callable[[F64], F64]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sgn": _sgn,
    "acos": np.arccos,
    "acosh": np.arccosh,
    "asin": np.arcsin,
    "asinh": np.arcsinh,
    "atan": np.arctan,
    "atanh": np.arctanh,
    "cos": np.cos,
    "cosh": np.cosh,
    "sin": np.sin,
    "sinh": np.sinh,
    "tan": np.tan,
    "tanh": np.tanh,
    "deg": np.degrees,
    "rad": np.radians,
}


def round_to(x: F64, to_nearest: F64) -> F64:
    inv = 1.0 / to_nearest
    with np.errstate(all="ignore"):
        out: F64 = np.floor(x * inv + 0.5) / inv
    return out


def clamp(x: F64, lo: F64, hi: F64) -> F64:
    out: F64 = np.maximum(lo, np.minimum(hi, x))
    return out


def _civil(seconds: F64) -> tuple[F64, F64, F64, F64, F64]:
    """Year, month, day, day of week, day of year (UTC) for unix seconds (vectorised)."""
    secs = np.floor(np.where(np.isfinite(seconds), seconds, 0)).astype(np.int64)
    days = np.floor_divide(secs, 86400)
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy_mar = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy_mar + 2) // 153
    d = doy_mar - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = np.where(m <= 2, y + 1, y)
    dow = np.mod(days + 4, 7)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    cum = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334])
    doy = cum[m - 1] + d + np.where(leap & (m > 2), 1, 0)
    return (
        y.astype(np.float64),
        m.astype(np.float64),
        d.astype(np.float64),
        dow.astype(np.float64),
        doy.astype(np.float64),
    )


def _date(part: str) -> Callable[[F64], F64]:
    def fn(x: F64) -> F64:
        y, m, d, dow, doy = _civil(x)
        secs = np.floor(np.where(np.isfinite(x), x, 0))
        if part == "year":
            out = y
        elif part == "month":
            out = m
        elif part == "day_of_month":
            out = d
        elif part == "day_of_week":
            out = dow
        elif part == "day_of_year":
            out = doy
        elif part == "hour":
            out = np.floor(np.mod(secs, 86400) / 3600)
        elif part == "minute":
            out = np.floor(np.mod(secs, 3600) / 60)
        else:  # days_in_month
            leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
            lengths = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.float64)
            out = lengths[m.astype(np.int64) - 1] + np.where(leap & (m == 2), 1, 0)
        result: F64 = np.where(np.isfinite(x), out, np.nan)
        return result

    return fn


DATE_FUNCTIONS: dict[str, Callable[[F64], F64]] = {
    name: _date(name)
    for name in (
        "year",
        "month",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "hour",
        "minute",
        "days_in_month",
    )
}


def _valid_label_name(name: str) -> bool:
    return bool(name) and "\x00" not in name


def label_replace(vec: StepVector, dst: str, repl: str, src: str, regex: str) -> StepVector:
    try:
        options = re2.Options()
        options.log_errors = False
        pattern = re2.compile(f"^(?s:{regex})$", options)
    except re2.error as exc:
        raise QueryError(f'invalid regular expression in label_replace(): "{regex}"') from exc
    if not _valid_label_name(dst):
        raise QueryError(f'invalid destination label name in label_replace(): "{dst}"')
    template = _go_template(repl)
    out_labels: list[Labels] = []
    drop = vec.drop_name.copy()
    for i, lab in enumerate(vec.labels):
        # A name marked for removal is still readable (delayed name removal).
        m = pattern.match(dict(lab).get(src, ""))
        if m is None:
            out_labels.append(lab)
            continue
        out_labels.append(_with_label(lab, dst, m.expand(template)))
        if dst == METRIC_NAME:
            drop[i] = False
    return StepVector(out_labels, vec.values, vec.present, drop)


def _with_label(lab: Labels, name: str, value: str) -> Labels:
    """``lab`` with label ``name`` set to ``value`` (removed when ``value`` is empty)."""
    d = dict(lab)
    if value:
        d[name] = value
    else:
        d.pop(name, None)
    return tuple(sorted(d.items()))


def _go_template(repl: str) -> str:
    """Go's regexp Expand syntax ($1, ${1}, $name, $$) as Python's expand template."""
    out = []
    i = 0
    while i < len(repl):
        c = repl[i]
        if c == "\\":
            out.append("\\\\")
            i += 1
        elif c == "$" and i + 1 < len(repl):
            nxt = repl[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
            elif nxt == "{":
                end = repl.find("}", i)
                if end < 0:
                    out.append("$")
                    i += 1
                else:
                    out.append(f"\\g<{repl[i + 2 : end]}>")
                    i = end + 1
            else:
                j = i + 1
                while j < len(repl) and (repl[j].isalnum() or repl[j] == "_"):
                    j += 1
                name = repl[i + 1 : j]
                if name:
                    out.append(f"\\g<{name}>")
                    i = j
                else:
                    out.append("$")
                    i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def label_join(vec: StepVector, dst: str, sep: str, srcs: list[str]) -> StepVector:
    if not _valid_label_name(dst):
        raise QueryError(f'invalid destination label name in label_join(): "{dst}"')
    out_labels: list[Labels] = []
    drop = vec.drop_name.copy()
    for i, lab in enumerate(vec.labels):
        d = dict(lab)
        out_labels.append(_with_label(lab, dst, sep.join(d.get(s, "") for s in srcs)))
        if dst == METRIC_NAME:
            drop[i] = False
    return StepVector(out_labels, vec.values, vec.present, drop)


def sort_order(vec: StepVector, descending: bool) -> npt.NDArray[np.intp]:
    """Row order for sort()/sort_desc() of an instant vector (NaN last, as Prometheus)."""
    v = vec.values[:, 0]
    key = np.where(np.isnan(v), np.inf, -v if descending else v)
    order: npt.NDArray[np.intp] = np.argsort(key, kind="stable")
    return order


Notes = list[tuple[str, str]]


def _bucket_groups(vec: StepVector, notes: Notes) -> dict[Labels, list[tuple[float, int]]]:
    """Series grouped by their labels without ``le`` (the name included, as Prometheus: two
    histograms that differ only in name collide after it is dropped); malformed ``le`` warned."""
    groups: dict[Labels, list[tuple[float, int]]] = {}
    for i, lab in enumerate(vec.labels):
        le = None
        rest = []
        for k, v in lab:
            if k == "le":
                le = v
            else:
                rest.append((k, v))
        bound = _parse_le(le)
        if bound is None:
            name = dict(vec.labels[i]).get(METRIC_NAME, "")
            notes.append(
                (
                    "warn",
                    f'bucket label "le" is missing or has a malformed value of "{le or ""}" for '
                    f'metric name "{name}"',
                )
            )
            continue
        groups.setdefault(tuple(rest), []).append((bound, i))
    return groups


def _parse_le(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:
        return None


Bool = npt.NDArray[np.bool_]
# (bounds, counts[buckets, k], steps) -> (values[k], handled[k]) for k steps where every
# bucket of the group is present; steps not handled go through the per-step function.
StepsFn = Callable[[F64, F64, npt.NDArray[np.intp], Labels], tuple[F64, Bool]]


def _per_group(
    vec: StepVector,
    notes: Notes,
    fn: Callable[[int, F64, F64, Labels], float],
    fn_steps: StepsFn | None = None,
) -> StepVector:
    n = vec.values.shape[1]
    out_labels: list[Labels] = []
    rows = []
    pres = []
    for key, members in _bucket_groups(vec, notes).items():
        members.sort()
        bounds = np.array([b for b, _ in members])
        idx = np.array([i for _, i in members])
        counts = vec.values[idx]
        present = vec.present[idx]
        vals = np.full(n, np.nan)
        any_p = present.any(axis=0)
        todo = np.flatnonzero(any_p)
        if fn_steps is not None and len(todo):
            full = np.flatnonzero(present.all(axis=0))
            if len(full):
                got, handled = fn_steps(bounds, counts[:, full], full, vec.labels[idx[0]])
                vals[full[handled]] = got[handled]
                done = np.zeros(n, np.bool_)
                done[full[handled]] = True
                todo = todo[~done[todo]]
        for step in todo.tolist():
            sel = present[:, step]
            vals[step] = fn(step, bounds[sel], counts[sel, step], vec.labels[idx[0]])
        out_labels.append(without_name(key))
        rows.append(vals)
        pres.append(any_p)
    if not rows:
        return StepVector.empty(n)
    return StepVector(out_labels, np.array(rows), np.array(pres), np.zeros(len(rows), np.bool_))


def histogram_quantile(q: F64, vec: StepVector) -> tuple[StepVector, Notes]:
    """Classic-bucket quantiles: groups of series that differ only in ``le``."""
    notes: Notes = []
    fixed: set[str] = set()

    def one(step: int, bounds: F64, counts: F64, lab: Labels) -> float:
        value, forced = _bucket_quantile(float(q[step]), bounds, counts)
        if forced:
            fixed.add(dict(lab).get(METRIC_NAME, ""))
        return value

    def steps(
        bounds: F64, counts: F64, cols: npt.NDArray[np.intp], lab: Labels
    ) -> tuple[F64, Bool]:
        values, forced, handled = _bucket_quantile_steps(q[cols], bounds, counts)
        if (forced & handled).any():
            fixed.add(dict(lab).get(METRIC_NAME, ""))
        return values, handled

    out = _per_group(vec, notes, one, steps)
    notes.extend(
        (
            "info",
            "input to histogram_quantile needed to be fixed for monotonicity (and may give "
            f'inaccurate results) for metric name "{name}"',
        )
        for name in sorted(fixed)
    )
    return out, notes


def histogram_fraction(lower: F64, upper: F64, vec: StepVector) -> tuple[StepVector, Notes]:
    """Estimated fraction of observations between ``lower`` and ``upper`` (classic buckets)."""
    notes: Notes = []

    def one(step: int, bounds: F64, counts: F64, _lab: Labels) -> float:
        return _bucket_fraction(float(lower[step]), float(upper[step]), bounds, counts)

    return _per_group(vec, notes, one), notes


def _coalesce(bounds: F64, counts: F64) -> tuple[F64, F64]:
    ub, inv = np.unique(bounds, return_inverse=True)
    c = np.zeros(len(ub))
    np.add.at(c, inv, counts)
    return ub, c


def _interpolate(v: float, lb: float, hb: float, rank: float, count: float) -> float:
    """Rank of ``v`` inside bucket (lb, hb]; observations of an infinitely wide bucket sit at
    its infinite end (no interpolation)."""
    if math.isinf(lb):
        return count
    if math.isinf(hb):
        return rank
    return rank + (count - rank) * (v - lb) / (hb - lb)


def _bucket_fraction(lower: float, upper: float, bounds: F64, counts: F64) -> float:
    if len(bounds) == 0 or not np.isposinf(bounds.max()):
        return float("nan")
    ub, c = _coalesce(bounds, counts)
    count = float(c[-1])
    if count == 0 or math.isnan(lower) or math.isnan(upper):
        return float("nan")
    if lower >= upper:
        return 0.0
    rank = lower_rank = upper_rank = 0.0
    lower_set = upper_set = False
    for i in range(len(ub)):
        b_count = float(c[i])
        upper_bound = float(ub[i])
        lower_bound = float(ub[i - 1]) if i > 0 else 0.0 if upper_bound > 0 else -math.inf
        if not lower_set and lower_bound >= lower:
            lower_rank, lower_set = rank, True
        if not upper_set and lower_bound >= upper:
            upper_rank, upper_set = rank, True
        if lower_set and upper_set:
            break
        if not lower_set and lower_bound < lower < upper_bound:
            lower_rank, lower_set = (
                _interpolate(lower, lower_bound, upper_bound, rank, b_count),
                True,
            )
        if not upper_set and lower_bound < upper < upper_bound:
            upper_rank, upper_set = (
                _interpolate(upper, lower_bound, upper_bound, rank, b_count),
                True,
            )
        if lower_set and upper_set:
            break
        rank = b_count
    if not lower_set or lower_rank > count:
        lower_rank = count
    if not upper_set or upper_rank > count:
        upper_rank = count
    return (upper_rank - lower_rank) / count


def _bucket_quantile(q: float, bounds: F64, counts: F64) -> tuple[float, bool]:
    if np.isnan(q):
        return float("nan"), False
    if q < 0:
        return float("-inf"), False
    if q > 1:
        return float("inf"), False
    if len(bounds) == 0 or not np.isposinf(bounds.max()):
        return float("nan"), False
    ub, c = _coalesce(bounds, counts)
    forced = False
    # monotonic, ignoring tiny deltas
    prev = c[0]
    for i in range(1, len(c)):
        cur = c[i]
        if cur == prev:
            continue
        if abs(cur - prev) <= 1e-12 * max(abs(cur), abs(prev)):
            c[i] = prev
            continue
        if cur < prev:
            c[i] = prev
            forced = True
            continue
        prev = cur
    if len(ub) < 2:
        return float("nan"), forced
    obs = c[-1]
    if obs == 0 or np.isnan(obs):
        return float("nan"), forced
    rank = q * obs
    b = int(np.searchsorted(c[:-1], rank, side="left"))
    if b == len(ub) - 1:
        return float(ub[-2]), forced
    if b == 0 and ub[0] <= 0:
        return float(ub[0]), forced
    start = 0.0
    end = float(ub[b])
    count = float(c[b])
    if b > 0:
        start = float(ub[b - 1])
        count -= float(c[b - 1])
        rank -= float(c[b - 1])
    return float(start + (end - start) * (rank / count)), forced


def _bucket_quantile_steps(q: F64, bounds: F64, counts: F64) -> tuple[F64, Bool, Bool]:
    """``_bucket_quantile`` for many steps at once (``counts[bucket, step]``, every bucket
    present, ``bounds`` sorted), with the same float operations in the same order:
    ``(values, forced, handled)``. Steps whose coalesced counts hold a NaN are not handled
    (their monotonicity fix and bucket search are left to the per-step code)."""
    k = counts.shape[1]
    out = np.full(k, np.nan)
    forced = np.zeros(k, np.bool_)
    handled: Bool = np.ones(k, np.bool_)
    if len(bounds) and np.isposinf(bounds.max()):
        ub, inv = np.unique(bounds, return_inverse=True)
        c = np.zeros((len(ub), k))
        np.add.at(c, inv, counts)
        handled = np.asarray(~np.isnan(c).any(axis=0), np.bool_)
        prev = c[0].copy()
        for i in range(1, len(ub)):
            cur = c[i]
            same = cur == prev
            with np.errstate(invalid="ignore"):
                tiny = ~same & (np.abs(cur - prev) <= 1e-12 * np.maximum(np.abs(cur), np.abs(prev)))
            lower = ~same & ~tiny & (cur < prev)
            keep = tiny | lower
            c[i] = np.where(keep, prev, cur)
            forced |= lower
            prev = np.where(same | keep, prev, cur)
        if len(ub) >= 2:
            nb = len(ub)
            obs = c[-1]
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                rank = q * obs
                b = (c[:-1] < rank[None, :]).sum(axis=0)
                b = np.where(np.isnan(rank), nb - 1, b)  # searchsorted puts NaN last
                cols = np.arange(k)
                below = np.maximum(b - 1, 0)
                has_below = b > 0
                start = np.where(has_below, ub[below], 0.0)
                end = ub[np.minimum(b, nb - 1)]
                count = c[np.minimum(b, nb - 1), cols] - np.where(has_below, c[below, cols], 0.0)
                rank = rank - np.where(has_below, c[below, cols], 0.0)
                value = start + (end - start) * (rank / count)
            value = np.where(b == nb - 1, ub[-2], np.where((b == 0) & (ub[0] <= 0), ub[0], value))
            out = np.where((obs == 0) | np.isnan(obs), np.nan, value)
    in_range = (q >= 0) & (q <= 1)
    forced &= in_range
    out = np.where(q > 1, np.inf, np.where(q < 0, -np.inf, out))
    out = np.where(np.isnan(q), np.nan, out)
    return out, forced, handled
