"""``info(v, {selector})``: Prometheus 3's experimental join of series with info metrics.

Each series of ``v`` gains the data labels of the info series (``target_info`` unless the
selector names others by ``__name__``) that share its identifying labels ``instance``/``job``.
Info series are looked up as of the time the series' own samples were read (``@`` and
``offset`` on the way to the first selector of ``v`` shift it). The engine evaluates ``v``
and dispatches here; everything specific to ``info()`` lives in this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import promql_parser as pp

from obskit import kernels
from obskit.errors import QueryError
from obskit.model.labels import METRIC_NAME, Labels, labels_get
from obskit.model.matchers import Matcher, MatchType
from obskit.promql.binary import format_labels
from obskit.promql.steps import StepVector, Value, is_stale

__all__ = [
    "IDENTIFYING_LABELS",
    "TARGET_INFO",
    "InfoHost",
    "evaluate_info",
    "info_name_matchers",
    "reference_modifiers",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]

# Hard-coded upstream too, so that no per-metric knowledge of info metrics is needed.
IDENTIFYING_LABELS = ("instance", "job")
TARGET_INFO = "target_info"
_NO_INFO = -1  # "no info series at this step" in the per-group choice arrays

# Go's regexp.QuoteMeta set; RE2 reads "\\" before any of them as the character itself.
_REGEX_META = frozenset("\\.+*?()|[]{}^$")


class InfoHost(Protocol):
    """What ``info()`` needs of the evaluator (``engine._Evaluator``)."""

    lookback_ms: int

    def eval(self, node: Any) -> Value: ...

    def load(
        self, matchers: list[Matcher], mint: int, maxt: int
    ) -> tuple[list[Labels], I64, F64, I64]: ...

    def _matchers(self, vs: Any) -> list[Matcher]: ...

    def _ends(self, at: Any, offset: Any) -> I64: ...


@dataclass(frozen=True, slots=True)
class _InfoSeries:
    """Info series sampled at the reference times: ``present``/``sample_ms`` are [I, N]."""

    labels: list[Labels]
    present: Bool
    sample_ms: I64


def evaluate_info(host: InfoHost, args: Sequence[Any]) -> StepVector:
    """``info(args[0])`` or ``info(args[0], args[1])`` over all steps."""
    base = host.eval(args[0])
    if not isinstance(base, StepVector):
        raise QueryError("expected an instant vector as the first argument of info()")
    selector = host._matchers(args[1]) if len(args) > 1 else []
    name_matchers = info_name_matchers([m for m in selector if m.name == METRIC_NAME])
    data_matchers = [m for m in selector if m.name != METRIC_NAME]
    # Series that are themselves info metrics chosen by the selector are not enriched.
    ignored = np.array(
        [
            all(m.matches(labels_get(lab, METRIC_NAME)) for m in name_matchers)
            for lab in base.labels
        ],
        np.bool_,
    )
    at, offset = reference_modifiers(args[0])
    info = _select_info(host, base, ignored, name_matchers + data_matchers, host._ends(at, offset))
    return _combine(base, ignored, info, data_matchers)


def info_name_matchers(matchers: list[Matcher]) -> list[Matcher]:
    """The ``__name__`` matchers that choose info metrics, all of which must match:
    ``target_info`` by default, and only ``*_info`` metrics when all given ones are negative."""
    if not matchers:
        return [Matcher(MatchType.EQ, METRIC_NAME, TARGET_INFO)]
    if any(m.type in (MatchType.EQ, MatchType.RE) for m in matchers):
        return matchers
    return [Matcher(MatchType.RE, METRIC_NAME, ".+_info"), *matchers]


def reference_modifiers(expr: Any) -> tuple[Any, timedelta]:
    """The ``@`` and summed ``offset`` that place the first selector of ``expr`` in time (through
    enclosing subqueries): the info series are looked up at that time, as the selector was."""
    path = _selector_path(expr) or []
    at: Any = None
    offset = timedelta(0)
    for node in path:
        if node.at is not None:
            at, offset = node.at, timedelta(0)
        if node.offset is not None:
            offset += node.offset
    return at, offset


def _selector_path(node: Any) -> list[Any] | None:
    """Subqueries and the selector on the way to the first vector selector (depth first)."""
    if isinstance(node, pp.VectorSelector):
        return [node]
    if isinstance(node, pp.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, pp.SubqueryExpr):
        inner = _selector_path(node.expr)
        return None if inner is None else [node, *inner]
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr):
        return _selector_path(node.expr)
    children: list[Any] = []
    if isinstance(node, pp.Call):
        children = list(node.args)
    elif isinstance(node, pp.AggregateExpr):
        children = [node.expr, node.param]
    elif isinstance(node, pp.BinaryExpr):
        children = [node.lhs, node.rhs]
    for child in children:
        if child is not None and (found := _selector_path(child)) is not None:
            return found
    return None


def _select_info(
    host: InfoHost, base: StepVector, ignored: Bool, selector: list[Matcher], ends: I64
) -> _InfoSeries:
    """Info series matching ``selector`` whose identifying labels take values some enriched
    series has, each read with the lookback at ``ends``."""
    n_steps = len(ends)
    none = _InfoSeries([], np.zeros((0, n_steps), np.bool_), np.zeros((0, n_steps), np.int64))
    values: dict[str, set[str]] = {}
    for lab, skip in zip(base.labels, ignored.tolist(), strict=True):
        if skip:
            continue
        for name, value in lab:
            if name in IDENTIFYING_LABELS:
                values.setdefault(name, set()).add(value)
    if not values:
        return none
    matchers = [
        Matcher(MatchType.RE, name, "|".join(sorted(_quote_meta(v) for v in vals)))
        for name, vals in sorted(values.items())
    ]
    matchers += selector
    lookback = host.lookback_ms
    labels, ts, vals, offsets = host.load(matchers, int(ends.min()) - lookback + 1, int(ends.max()))
    if len(ts) == 0:
        return none
    _lo, hi = kernels.pq_window_bounds(ts, offsets, ends, lookback)
    idx = hi - 1
    has = idx >= offsets[:-1, None]
    idx = np.where(has, idx, 0)
    sample_ms = ts[idx]
    present = has & (sample_ms > ends[None, :] - lookback) & ~is_stale(vals[idx])
    return _InfoSeries(labels, present, sample_ms)


def _quote_meta(value: str) -> str:
    return "".join("\\" + ch if ch in _REGEX_META else ch for ch in value)


def _identity(name: str, lab: Labels) -> Labels:
    """The join key: an info metric name and the identifying labels ``lab`` has."""
    return ((METRIC_NAME, name), *((k, v) for k, v in lab if k in IDENTIFYING_LABELS))


def _latest_per_group(
    info: _InfoSeries, base_present: Bool
) -> tuple[dict[Labels, int], npt.NDArray[np.intp]]:
    """Info series grouped by join key, and per group and step the row of the one with the
    newest sample (``_NO_INFO`` where none); two at the same time are an error, as upstream,
    at steps where any base series has a point."""
    members: dict[Labels, list[int]] = {}
    for i, lab in enumerate(info.labels):
        members.setdefault(_identity(labels_get(lab, METRIC_NAME), lab), []).append(i)
    n_steps = info.present.shape[1]
    chosen = np.full((len(members), n_steps), _NO_INFO, np.intp)
    any_base = np.asarray(base_present.any(axis=0), np.bool_)
    for g, rows in enumerate(members.values()):
        idx = np.asarray(rows, np.intp)
        times = np.where(info.present[idx], info.sample_ms[idx], np.iinfo(np.int64).min)
        best = np.argmax(times, axis=0)
        newest = times[best, np.arange(n_steps)]
        found = info.present[idx].any(axis=0)
        ties = ((times == newest[None, :]).sum(axis=0) > 1) & found & any_base
        if ties.any():
            k = int(np.argmax(ties))
            a, b = np.flatnonzero(times[:, k] == newest[k])[:2]
            raise QueryError(
                "found duplicate series for info metric: existing "
                f"{format_labels(info.labels[rows[a]])} @ {newest[k]}, new "
                f"{format_labels(info.labels[rows[b]])} @ {newest[k]}"
            )
        chosen[g] = np.where(found, idx[best], _NO_INFO)
    return {key: g for g, key in enumerate(members)}, chosen


def _data_labels(
    lab: Labels, combo: Sequence[int], info: _InfoSeries, wanted: frozenset[str] | None
) -> Labels:
    """Labels the info rows ``combo`` add to ``lab``; an error where two disagree."""
    own = {k for k, _v in lab}
    added: dict[str, str] = {}
    for row in combo:
        if row == _NO_INFO:
            continue
        for name, value in info.labels[row]:
            if name == METRIC_NAME or (wanted is not None and name not in wanted):
                continue
            if added.get(name, value) != value:
                raise QueryError(f"conflicting label: {name}")
            if name not in own:
                added[name] = value
    return tuple(sorted((*lab, *added.items())))


def _combine(
    base: StepVector, ignored: Bool, info: _InfoSeries, data_matchers: list[Matcher]
) -> StepVector:
    groups, chosen = _latest_per_group(info, base.present)
    metric_names = sorted({labels_get(lab, METRIC_NAME) for lab in info.labels})
    wanted = frozenset(m.name for m in data_matchers) if data_matchers else None
    # Without any info series a point survives only if every data matcher accepts "".
    keep_bare = all(m.matches("") for m in data_matchers)
    out = _Rows(base)
    for s, lab in enumerate(base.labels):
        present = base.present[s]
        if ignored[s]:
            out.add(s, lab, present)
            continue
        cand = [groups[key] for m in metric_names if (key := _identity(m, lab)) in groups]
        steps = np.flatnonzero(present)
        if not cand:
            if keep_bare:
                out.add(s, lab, present)
            continue
        picks = chosen[np.asarray(cand, np.intp)][:, steps]
        combos, inverse = np.unique(picks.T, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        for u, combo in enumerate(combos.tolist()):
            if all(row == _NO_INFO for row in combo) and not keep_bare:
                continue
            mask = np.zeros_like(present)
            mask[steps[inverse == u]] = True
            out.add(s, _data_labels(lab, combo, info, wanted), mask)
    return out.vector()


class _Rows:
    """Output rows: base row, labels and the steps they cover; rows with the same labels
    merge, and an error where two have a point at the same step."""

    def __init__(self, base: StepVector) -> None:
        self.base = base
        self.index: dict[tuple[Labels, bool], int] = {}
        self.sources: list[list[tuple[int, Bool]]] = []

    def add(self, row: int, lab: Labels, mask: Bool) -> None:
        key = (lab, bool(self.base.drop_name[row]))
        g = self.index.setdefault(key, len(self.index))
        if g == len(self.sources):
            self.sources.append([])
        self.sources[g].append((row, mask))

    def vector(self) -> StepVector:
        n_steps = self.base.values.shape[1]
        values = np.zeros((len(self.sources), n_steps))
        present = np.zeros((len(self.sources), n_steps), np.bool_)
        for g, parts in enumerate(self.sources):
            for row, mask in parts:
                if (present[g] & mask).any():
                    raise QueryError("vector cannot contain metrics with the same labelset")
                values[g, mask] = self.base.values[row, mask]
                present[g] |= mask
        labels = [lab for lab, _drop in self.index]
        drop = np.array([d for _lab, d in self.index], np.bool_)
        return StepVector(labels, values, present, drop)
