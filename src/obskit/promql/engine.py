"""The PromQL engine: parse with ``promql-parser``, evaluate each node over all steps at once.

An instant query is a range query with one step. Every node evaluates to a ``steps`` value
(``StepScalar``/``StepVector``/``RangeInput``/``StepString``) covering all steps; selectors
load each series once for the whole query and locate lookback or range windows with
``searchsorted``. Subqueries evaluate their inner expression once over the union of the
inner steps they need. The result is converted to the API values in ``value.py``.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import promql_parser as pp

from obskit import kernels
from obskit.errors import ParseError, QueryError, QueryLimitError, QueryTimeoutError
from obskit.model.labels import METRIC_NAME, Labels
from obskit.model.matchers import Matcher, MatchType
from obskit.model.protocols import Querier
from obskit.model.series import Series, SeriesColumns
from obskit.promql import extended
from obskit.promql import functions as fn
from obskit.promql.aggregate import aggregate
from obskit.promql.binary import (
    COMPARE,
    Matching,
    merge_duplicates,
    scalar_binop,
    vector_binop,
    vector_scalar_binop,
)
from obskit.promql.cache import CacheKey, ResultsCache, StepResult, cacheable
from obskit.promql.format import format_float
from obskit.promql.info import evaluate_info
from obskit.promql.rewrite import MODIFIER_FUNCTIONS, rewrite
from obskit.promql.steps import (
    RangeInput,
    StepScalar,
    StepString,
    StepVector,
    Value,
    is_stale,
)
from obskit.promql.value import Matrix, QueryResult, Scalar, String, Vector
from obskit.promql.windows import RANGE_FUNCTIONS

__all__ = ["Engine", "EngineOptions", "parse"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_MATCH_OPS = {
    "MatchOp.Equal": MatchType.EQ,
    "MatchOp.NotEqual": MatchType.NEQ,
    "MatchOp.Re": MatchType.RE,
    "MatchOp.NotRe": MatchType.NRE,
}
_KEEP_NAME = {
    "label_replace",
    "label_join",
    "sort",
    "sort_desc",
    "sort_by_label",
    "sort_by_label_desc",
    "last_over_time",
    "first_over_time",
}


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Engine limits and defaults (Prometheus' flag names in brackets).

    ``lookback_delta_ms`` [query.lookback-delta], ``max_samples`` [query.max-samples] — samples
    loaded at once, ``max_series`` — series a selector may load, ``timeout_s``
    [query.timeout], ``default_subquery_step_ms`` (``x[5m:]``; 1 m as the upstream test
    engine), ``max_points_per_series`` (11,000 as Prometheus' HTTP API for range queries).
    """

    lookback_delta_ms: int = 300_000
    max_samples: int = 50_000_000
    max_series: int = 500_000
    timeout_s: float = 120.0
    default_subquery_step_ms: int = 60_000
    max_points_per_series: int = 11_000


def parse(query: str, step_ms: int = 0, range_ms: int = 0) -> Any:
    """Parse PromQL; ``ParseError`` (400 bad_data) with a Prometheus-style ``line:col`` prefix.
    ``step_ms``/``range_ms`` are what ``step()``/``range()`` mean in duration expressions."""
    return _parse_text(query, step_ms, range_ms)[1]


def _parse_text(query: str, step_ms: int = 0, range_ms: int = 0) -> tuple[str, Any]:
    """``parse``, and the text the parser read (``query`` with duration expressions folded)."""
    rewritten = rewrite(query, step_ms, range_ms)
    message = _parse_failure(rewritten.text)
    if message is None:
        return rewritten.text, pp.parse(rewritten.text)
    offset = rewritten.original_offset(_error_offset(rewritten.text, message))
    line = query.count("\n", 0, offset) + 1
    col = offset - (query.rfind("\n", 0, offset) + 1) + 1
    near = query[offset : offset + 20].split("\n")[0].strip()
    detail = f"{message} near {near!r}" if message == "invalid promql query" and near else message
    raise ParseError(f"{line}:{col}: parse error: {detail}", offset)


_INCOMPLETE = ("end of input", "unclosed", "unterminated")


def _parse_failure(text: str) -> str | None:
    """The parser's message for ``text``, or None when it parses."""
    try:
        pp.parse(text)
    except BaseException as exc:  # ValueError; the Rust parser also panics on a few inputs
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return str(exc) or type(exc).__name__
    return None


def _error_offset(query: str, message: str) -> int:
    """Where parsing goes wrong: the shortest prefix that fails for a reason other than being
    incomplete (promql-parser's messages carry no position). 0 when only the whole is wrong."""
    if any(word in message for word in _INCOMPLETE):
        return len(query.rstrip())
    limit = min(len(query), 4096)
    for end in range(1, limit):
        if query[end - 1].isspace():
            continue
        failure = _parse_failure(query[:end])
        hard = failure is not None and not any(word in failure for word in _INCOMPLETE)
        if hard and (failure == message or end < len(query)):
            return end - 1
    return 0


def _duration_ms(td: timedelta | None) -> int:
    if td is None:
        return 0
    return (td.days * 86400 + td.seconds) * 1000 + td.microseconds // 1000


def _at_ms(dt: datetime) -> int:
    delta = dt - datetime(1970, 1, 1, tzinfo=dt.tzinfo)
    return _duration_ms(delta)


class Engine:
    """Evaluates PromQL against a ``Querier`` (the store, or anything with its protocol).

    Errors: ``ParseError`` for bad syntax and types, ``QueryError`` for run-time errors (e.g.
    many-to-many matching), ``QueryLimitError`` over ``max_samples``/``max_series``,
    ``QueryTimeoutError`` past the deadline.
    """

    def __init__(
        self,
        querier: Querier,
        options: EngineOptions | None = None,
        results_cache: ResultsCache | None = None,
    ) -> None:
        self.querier = querier
        self.options = options or EngineOptions()
        self.results_cache = results_cache

    def instant_query(
        self,
        query: str,
        time_ms: int,
        *,
        timeout_s: float | None = None,
        lookback_delta_ms: int | None = None,
    ) -> QueryResult:
        """Evaluate ``query`` at ``time_ms``: Scalar, String, Vector, or Matrix (``x[5m]``)."""
        expr = parse(query)
        ev = self._evaluator(time_ms, time_ms, 1, timeout_s, lookback_delta_ms, query, False)
        with np.errstate(all="ignore"):  # IEEE results (Inf, NaN) are PromQL's semantics
            value = ev.eval(expr)
        ann = {"warnings": ev.warnings, "infos": ev.infos}
        if isinstance(value, StepScalar):
            return QueryResult(Scalar(time_ms, float(value.values[0])), **ann)
        if isinstance(value, StepString):
            return QueryResult(String(time_ms, value.value), **ann)
        if isinstance(value, RangeInput):
            return QueryResult(_range_input_matrix(value), **ann)
        labels = value.effective_labels()
        present = value.present[:, 0]
        rows = np.flatnonzero(present)
        out_labels = [labels[i] for i in rows]
        if len(set(out_labels)) != len(out_labels):
            seen: set[Labels] = set()
            for lab in out_labels:
                if lab in seen:
                    raise QueryError("vector cannot contain metrics with the same labelset")
                seen.add(lab)
        return QueryResult(Vector(time_ms, out_labels, value.values[rows, 0].copy()), **ann)

    def range_query(
        self,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        timeout_s: float | None = None,
        lookback_delta_ms: int | None = None,
        use_cache: bool = True,
    ) -> QueryResult:
        """Evaluate ``query`` at start, start+step, ... <= end; always a Matrix. With a
        ``results_cache`` (and ``use_cache``), steps cached by earlier queries are reused."""
        if step_ms <= 0:
            raise ParseError("zero or negative query resolution step widths are not accepted")
        if end_ms < start_ms:
            raise ParseError("end timestamp must not be before start time")
        text, expr = _parse_text(query, step_ms, end_ms - start_ms)
        ev = self._evaluator(start_ms, end_ms, step_ms, timeout_s, lookback_delta_ms, query, True)
        times = ev.times

        def evaluate(part: I64) -> StepResult:
            return _step_result(expr, ev if len(part) == len(times) else ev.sub(part))

        cache = self.results_cache
        if cache is None or not use_cache or not cacheable(expr):
            result = evaluate(times)
        else:
            result = cache.run(_cache_key(text, start_ms, step_ms, ev.lookback_ms), times, evaluate)
        return QueryResult(result.to_matrix(times), result.warnings, result.infos)

    def cached_range_query(
        self,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        lookback_delta_ms: int | None = None,
        max_points: int = 100_000,
    ) -> QueryResult | None:
        """``range_query``'s answer when the results cache holds every step of it and it has at
        most ``max_points`` points, else None (nothing is evaluated, so a server can answer it
        without handing the request to a worker thread). Bad queries are None too:
        ``range_query`` reports them."""
        cache = self.results_cache
        if cache is None or step_ms <= 0 or end_ms < start_ms:
            return None
        try:
            text, expr = _parse_text(query, step_ms, end_ms - start_ms)
        except ParseError:
            return None
        if not cacheable(expr):
            return None
        lookback = lookback_delta_ms or self.options.lookback_delta_ms
        times = _step_times(start_ms, end_ms, step_ms)
        result = cache.peek(_cache_key(text, start_ms, step_ms, lookback), times, max_points)
        if result is None:
            return None
        return QueryResult(result.to_matrix(times), result.warnings, result.infos)

    def _evaluator(
        self,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        timeout_s: float | None,
        lookback_delta_ms: int | None,
        query: str,
        is_range: bool,
    ) -> _Evaluator:
        opts = self.options
        timeout = opts.timeout_s if timeout_s is None else min(timeout_s, opts.timeout_s)
        times = _step_times(start_ms, end_ms, step_ms)
        return _Evaluator(
            self.querier,
            opts,
            times,
            start_ms,
            end_ms,
            lookback_delta_ms or opts.lookback_delta_ms,
            time.monotonic() + timeout,
            query,
            is_range,
            step_ms if is_range else 0,
        )


def _step_times(start_ms: int, end_ms: int, step_ms: int) -> I64:
    """start, start + step, ... <= end."""
    n = (end_ms - start_ms) // step_ms + 1
    out: I64 = start_ms + np.arange(n, dtype=np.int64) * step_ms
    return out


def _cache_key(text: str, start_ms: int, step_ms: int, lookback_ms: int) -> CacheKey:
    """Range queries whose steps are interchangeable: same (rewritten) text, step, step phase
    and lookback."""
    return CacheKey(text, step_ms, start_ms % step_ms, lookback_ms)


def _step_result(expr: Any, ev: _Evaluator) -> StepResult:
    """``expr`` evaluated at ``ev.times`` as a range query's value (errors for strings and range
    vectors, as Prometheus)."""
    with np.errstate(all="ignore"):  # IEEE results (Inf, NaN) are PromQL's semantics
        value = ev.eval(expr)
    if isinstance(value, StepString):
        raise ParseError(
            'invalid expression type "string" for range query, must be Scalar or instant Vector'
        )
    if isinstance(value, RangeInput):
        raise ParseError(
            'invalid expression type "range vector" for range query, must '
            "be Scalar or instant Vector"
        )
    if isinstance(value, StepScalar):
        present = np.ones((1, len(ev.times)), np.bool_)
        return StepResult([()], value.values[None, :].copy(), present, ev.warnings, ev.infos)
    merged = merge_duplicates(value, value.effective_labels())
    return StepResult(merged.labels, merged.values, merged.present, ev.warnings, ev.infos)


def _node_probes(node: Any) -> list[str]:
    probes = []
    with contextlib.suppress(Exception):  # the printer is best effort
        probes.append(str(node))
    if isinstance(node, pp.Call):
        probes.append(f"{node.func.name}(")
    elif isinstance(node, pp.AggregateExpr):
        probes.append(str(node.op))
    elif isinstance(node, pp.NumberLiteral):
        probes.append(format_float(float(node.val)))
    elif isinstance(node, pp.VectorSelector) and node.name:
        probes.append(str(node.name))
    return probes


def _natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Natural sort order: digit runs compare as numbers ("cpu2" < "cpu10")."""
    parts = re.split(r"(\d+)", text)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def _range_input_matrix(ri: RangeInput) -> Matrix:
    lo, hi = ri.windows()
    out = []
    for i, lab in enumerate(ri.labels):
        a, b = int(lo[i, 0]), int(hi[i, 0])
        if b > a:
            out.append(Series(lab, ri.ts[a:b].copy(), ri.vals[a:b].copy()))
    out.sort(key=lambda s: s.labels)
    return Matrix(out)


class _Evaluator:
    def __init__(
        self,
        querier: Querier,
        options: EngineOptions,
        times: I64,
        start_ms: int,
        end_ms: int,
        lookback_ms: int,
        deadline: float,
        query: str = "",
        is_range: bool = False,
        step_ms: int = 0,
    ) -> None:
        self.step_ms = step_ms
        self.query = query
        self.is_range = is_range
        self.warnings: list[str] = []
        self.infos: list[str] = []
        self.querier = querier
        self.options = options
        self.times = times
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.lookback_ms = lookback_ms
        self.deadline = deadline
        self.samples = 0

    @property
    def n(self) -> int:
        return len(self.times)

    def _check(self) -> None:
        if time.monotonic() > self.deadline:
            raise QueryTimeoutError("query timed out in expression evaluation")

    def sub(self, times: I64) -> _Evaluator:
        ev = _Evaluator(
            self.querier,
            self.options,
            times,
            self.start_ms,
            self.end_ms,
            self.lookback_ms,
            self.deadline,
            self.query,
            self.is_range,
            self.step_ms,
        )
        ev.samples = self.samples
        ev.warnings = self.warnings
        ev.infos = self.infos
        return ev

    def _position(self, node: Any) -> str:
        """Prometheus' ``(line:col)`` of a node, found by its text in the query."""
        text = self.query
        offset = -1
        for probe in _node_probes(node):
            offset = text.find(probe)
            if offset >= 0:
                break
        offset = max(offset, 0)
        line = text.count("\n", 0, offset) + 1
        col = offset - (text.rfind("\n", 0, offset) + 1) + 1
        return f"({line}:{col})"

    def warn(self, message: str, node: Any) -> None:
        text = f"PromQL warning: {message} {self._position(node)}"
        if text not in self.warnings:
            self.warnings.append(text)

    def info(self, message: str, node: Any) -> None:
        text = f"PromQL info: {message} {self._position(node)}"
        if text not in self.infos:
            self.infos.append(text)

    # -- dispatch ---------------------------------------------------------------------------

    def eval(self, node: Any) -> Value:
        self._check()
        if isinstance(node, pp.NumberLiteral):
            return StepScalar(np.full(self.n, float(node.val)))
        if isinstance(node, pp.StringLiteral):
            return StepString(str(node.val))
        if isinstance(node, pp.ParenExpr):
            return self.eval(node.expr)
        if isinstance(node, pp.UnaryExpr):
            inner = self.eval(node.expr)
            if isinstance(inner, StepScalar):
                return StepScalar(-inner.values)
            if isinstance(inner, StepVector):
                return StepVector(
                    inner.labels, -inner.values, inner.present, np.ones(len(inner), np.bool_)
                )
            raise QueryError("unary minus is only allowed on scalars and instant vectors")
        if isinstance(node, pp.VectorSelector):
            return self.instant_selector(node)[0]
        if isinstance(node, pp.MatrixSelector):
            return self.range_selector(node)
        if isinstance(node, pp.SubqueryExpr):
            return self.subquery(node)
        if isinstance(node, pp.Call):
            return self.call(node)
        if isinstance(node, pp.AggregateExpr):
            return self.aggregate(node)
        if isinstance(node, pp.BinaryExpr):
            return self.binary(node)
        raise QueryError(f"unsupported expression {node}")

    # -- selectors --------------------------------------------------------------------------

    def _ends(self, at: Any, offset: Any) -> I64:
        if at is not None:
            kind = str(at.type)
            if kind.endswith(".At") and re.search(r"@\s*-", self.query):
                # promql-parser keeps @ times as unsigned system times: a negative one cannot
                # be read back (it panics), so refuse it plainly.
                raise QueryError("@ modifier times before 1970 are not supported")
            if kind.endswith("Start"):
                base = np.full(self.n, self.start_ms, np.int64)
            elif kind.endswith("End"):
                base = np.full(self.n, self.end_ms, np.int64)
            else:
                base = np.full(self.n, _at_ms(at.at), np.int64)
        else:
            base = self.times
        out: I64 = base - _duration_ms(offset)
        return out

    def _matchers(self, vs: Any) -> list[Matcher]:
        out = []
        if vs.name:
            out.append(Matcher(MatchType.EQ, METRIC_NAME, str(vs.name)))
        if vs.matchers.or_matchers:
            raise QueryError("'or' inside label matchers is not supported")
        out.extend(
            Matcher(_MATCH_OPS[str(m.op)], str(m.name), str(m.value)) for m in vs.matchers.matchers
        )
        return out

    def _load(self, vs: Any, mint: int, maxt: int) -> tuple[list[Labels], I64, F64, I64]:
        return self.load(self._matchers(vs), mint, maxt)

    def load(
        self, matchers: list[Matcher], mint: int, maxt: int
    ) -> tuple[list[Labels], I64, F64, I64]:
        """``load_columns`` as (labels, timestamps, values, offsets)."""
        cols = self.load_columns(matchers, mint, maxt)
        return cols.labels, cols.timestamps_ms, cols.values, cols.offsets

    def load_columns(self, matchers: list[Matcher], mint: int, maxt: int) -> SeriesColumns:
        """The samples of the matching series as flat columns, within the query limits."""
        cols = self.querier.select_flat(matchers, mint, maxt)
        if len(cols) > self.options.max_series:
            raise QueryLimitError(
                f"query selects {len(cols)} series, more than the limit of "
                f"{self.options.max_series}"
            )
        self.samples += len(cols.timestamps_ms)
        if self.samples > self.options.max_samples:
            raise QueryLimitError(
                "query processing would load too many samples into memory in query execution"
            )
        return cols

    def instant_selector(self, vs: Any) -> tuple[StepVector, I64]:
        """The vector and, per series and step, the timestamp of the chosen sample."""
        ends = self._ends(vs.at, vs.offset)
        lookback = self.lookback_ms
        picked = self.querier.select_instant(self._matchers(vs), ends, lookback)
        if len(picked) > self.options.max_series:
            raise QueryLimitError(
                f"query selects {len(picked)} series, more than the limit of "
                f"{self.options.max_series}"
            )
        if len(picked) == 0:
            return StepVector.empty(self.n), np.zeros((0, self.n), np.int64)
        t_at, v_at = picked.timestamps_ms, picked.values
        present, keep, points = kernels.pq_instant_finish(v_at, t_at, ends, lookback)
        self.samples += points
        if self.samples > self.options.max_samples:
            raise QueryLimitError(
                "query processing would load too many samples into memory in query execution"
            )
        vec = StepVector(picked.labels, v_at, present, np.zeros(len(picked), np.bool_))
        if keep.all():  # the usual case: no copies
            return vec, t_at
        return vec.take(keep), t_at[keep]

    def range_selector(self, ms: Any) -> RangeInput:
        vs = ms.vector_selector
        rng = _duration_ms(ms.range)
        ends = self._ends(vs.at, vs.offset)
        cols = self.load_columns(self._matchers(vs), int(ends.min()) - rng + 1, int(ends.max()))
        labels, ts, vals, offsets = cols.labels, cols.timestamps_ms, cols.values, cols.offsets
        stale = None if cols.stale_free else is_stale(vals)
        if stale is not None and stale.any():
            keep = ~stale
            counts = np.add.reduceat(keep.astype(np.int64), offsets[:-1]) if len(vals) else None
            ts, vals = ts[keep], vals[keep]
            new_offsets = np.zeros_like(offsets)
            if counts is not None:
                lens = np.diff(offsets)
                counts = np.where(lens > 0, counts, 0)
                np.cumsum(counts, out=new_offsets[1:])
            offsets = new_offsets
        return RangeInput(labels, ts, vals, offsets, ends, rng, np.zeros(len(labels), np.bool_))

    def subquery(self, sq: Any) -> RangeInput:
        rng = _duration_ms(sq.range)
        step = _duration_ms(sq.step) or self.options.default_subquery_step_ms
        ends = self._ends(sq.at, sq.offset)
        lo_t = int(ends.min()) - rng
        first = (lo_t // step) * step
        if first <= lo_t:
            first += step
        last = int(ends.max())
        inner_times = np.arange(first, last + 1, step, dtype=np.int64)
        if len(inner_times) == 0:
            z = np.zeros(1, np.int64)
            return RangeInput(
                [], np.empty(0, np.int64), np.empty(0), z, ends, rng, np.zeros(0, bool)
            )
        inner = self.sub(inner_times).eval(sq.expr)
        if isinstance(inner, StepScalar):
            inner = StepVector(
                [()],
                inner.values[None, :],
                np.ones((1, len(inner_times)), bool),
                np.zeros(1, np.bool_),
            )
        if not isinstance(inner, StepVector):
            raise QueryError("subquery is only allowed on instant vector")
        counts = inner.present.sum(axis=1)
        offsets = np.zeros(len(inner) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        rows, cols = np.nonzero(inner.present)
        ts = inner_times[cols]
        vals = inner.values[rows, cols]
        return RangeInput(inner.labels, ts, vals, offsets, ends, rng, inner.drop_name.copy())

    # -- functions --------------------------------------------------------------------------

    def _scalar_arg(self, node: Any) -> F64:
        v = self.eval(node)
        if isinstance(v, StepScalar):
            return v.values
        raise QueryError("expected a scalar argument")

    def _vector_arg(self, node: Any) -> StepVector:
        v = self.eval(node)
        if isinstance(v, StepVector):
            return v
        raise QueryError("expected an instant vector argument")

    def call(self, node: Any) -> Value:
        name = str(node.func.name)
        args = list(node.args)
        if name in RANGE_FUNCTIONS:
            return self._range_call(name, args)
        if name in MODIFIER_FUNCTIONS:
            return extended.evaluate_bare(self, MODIFIER_FUNCTIONS[name][0], node, self.n)
        if name == "info":
            return evaluate_info(self, args)
        if name in fn.MATH_FUNCTIONS:
            vec = self._vector_arg(args[0])
            with np.errstate(all="ignore"):
                vals = fn.MATH_FUNCTIONS[name](vec.values)
            return _derived(vec, vals)
        if name in fn.DATE_FUNCTIONS:
            if args:
                vec = self._vector_arg(args[0])
                return _derived(vec, fn.DATE_FUNCTIONS[name](vec.values))
            return _time_vector(self.times, fn.DATE_FUNCTIONS[name](self.times / 1000.0))
        if name == "time":
            return StepScalar(self.times / 1000.0)
        if name in ("start", "end", "range", "step"):
            value = {
                "start": self.start_ms / 1000.0,
                "end": self.end_ms / 1000.0,
                "range": (self.end_ms - self.start_ms) / 1000.0,
                "step": self.step_ms / 1000.0,
            }[name]
            return StepScalar(np.full(self.n, value))
        if name in ("min_of", "max_of"):
            parts = [self._scalar_arg(a) for a in args]
            pick = np.minimum if name == "min_of" else np.maximum
            acc = parts[0]
            for part in parts[1:]:
                acc = pick(acc, part)
            return StepScalar(acc)
        if name == "pi":
            return StepScalar(np.full(self.n, math.pi))
        if name == "vector":
            s = self._scalar_arg(args[0])
            return StepVector(
                [()], s[None, :].copy(), np.ones((1, self.n), np.bool_), np.zeros(1, np.bool_)
            )
        if name == "scalar":
            vec = self._vector_arg(args[0])
            cnt = vec.present.sum(axis=0)
            first = np.argmax(vec.present, axis=0) if len(vec) else np.zeros(self.n, np.intp)
            vals = vec.values[first, np.arange(self.n)] if len(vec) else np.full(self.n, np.nan)
            return StepScalar(np.where(cnt == 1, vals, np.nan))
        if name in ("round",):
            vec = self._vector_arg(args[0])
            nearest = self._scalar_arg(args[1]) if len(args) > 1 else np.ones(self.n)
            return _derived(vec, fn.round_to(vec.values, nearest[None, :]))
        if name in ("clamp", "clamp_min", "clamp_max"):
            vec = self._vector_arg(args[0])
            if name == "clamp":
                lo, hi = self._scalar_arg(args[1]), self._scalar_arg(args[2])
                out = _derived(vec, fn.clamp(vec.values, lo[None, :], hi[None, :]))
                out.present &= ~(hi < lo)[None, :]
                return out.compact()
            bound = self._scalar_arg(args[1])[None, :]
            if name == "clamp_min":
                return _derived(vec, np.maximum(bound, vec.values))
            return _derived(vec, np.minimum(bound, vec.values))
        if name == "timestamp":
            return self._timestamp(args[0])
        if name == "absent":
            vec = self._vector_arg(args[0])
            return self._absent(vec.present, args[0])
        if name == "absent_over_time":
            rng = self.eval(args[0])
            if not isinstance(rng, RangeInput):
                raise QueryError("expected a range vector in call to function absent_over_time()")
            w_lo, w_hi = rng.windows()
            return self._absent(w_hi > w_lo, args[0])
        if name == "label_replace":
            vec = self._vector_arg(args[0])
            dst, repl, src, regex = (self._string_arg(a) for a in args[1:5])
            return fn.label_replace(vec, dst, repl, src, regex)
        if name == "label_join":
            vec = self._vector_arg(args[0])
            dst, sep = self._string_arg(args[1]), self._string_arg(args[2])
            return fn.label_join(vec, dst, sep, [self._string_arg(a) for a in args[3:]])
        if name.startswith("sort") and self.is_range:
            self.warn(
                "sort is ineffective for range queries since results are always ordered by labels",
                node,
            )
        if name in ("sort", "sort_desc"):
            vec = self._vector_arg(args[0])
            if self.n == 1:
                return vec.take(fn.sort_order(vec, name == "sort_desc"))
            return vec
        if name in ("sort_by_label", "sort_by_label_desc"):
            vec = self._vector_arg(args[0])
            names = [self._string_arg(a) for a in args[1:]]
            if self.n == 1:
                labels = vec.effective_labels()
                keys = [
                    (*(_natural_key(dict(lab).get(k, "")) for k in names), lab) for lab in labels
                ]
                order = sorted(
                    range(len(vec)), key=lambda i: keys[i], reverse=name.endswith("_desc")
                )
                return vec.take(np.asarray(order, np.intp))
            return vec
        if name == "histogram_quantile":
            q = self._scalar_arg(args[0])
            self._check_quantile(q, args[0])
            vec = self._vector_arg(args[1])
            result, notes = fn.histogram_quantile(q, vec)
            for kind, text in notes:
                (self.warn if kind == "warn" else self.info)(text, args[1])
            return result
        if name == "histogram_quantiles":
            return self._histogram_quantiles(node, args)
        if name == "histogram_fraction":
            lo_b, hi_b = self._scalar_arg(args[0]), self._scalar_arg(args[1])
            vec = self._vector_arg(args[2])
            result, notes = fn.histogram_fraction(lo_b, hi_b, vec)
            for kind, text in notes:
                (self.warn if kind == "warn" else self.info)(text, args[2])
            return result
        if name.startswith("histogram_"):
            raise QueryError(
                f"function {name}() needs native histograms, which obskit does not store yet"
            )
        raise QueryError(f"function {name}() is not supported")

    def _string_arg(self, node: Any) -> str:
        v = self.eval(node)
        if isinstance(v, StepString):
            return v.value
        raise QueryError("expected a string argument")

    def _range_call(self, name: str, args: list[Any]) -> StepVector:
        if name == "quantile_over_time":
            extra = [self._scalar_arg(args[0])]
            self._check_quantile(extra[0], args[0])
            target = args[1]
        elif name in ("holt_winters", "double_exponential_smoothing"):
            extra = [self._scalar_arg(args[1]), self._scalar_arg(args[2])]
            target = args[0]
        elif name == "predict_linear":
            extra = [self._scalar_arg(args[1]), self.times.astype(np.float64)]
            target = args[0]
        else:
            extra = []
            target = args[0]
        modifier = extended.modifier_of(target)
        if modifier is not None:
            return extended.evaluate_range_call(self, name, modifier, target, self.n)
        ri = self.eval(target)
        if not isinstance(ri, RangeInput):
            raise QueryError(f"expected a range vector in call to function {name}()")
        values, present = RANGE_FUNCTIONS[name](ri, extra)
        drop = ri.drop_name.copy() if name in _KEEP_NAME else np.ones(len(ri), np.bool_)
        return StepVector(ri.labels, values, present, drop).compact()

    def _histogram_quantiles(self, node: Any, args: list[Any]) -> StepVector:
        """histogram_quantiles(v, "label", q1, q2, ...): one histogram_quantile per q, told
        apart by ``label`` (its value printed like "0.25", "1.0")."""
        vec = self._vector_arg(args[0])
        label = self._string_arg(args[1])
        if any(k == label for lab in vec.labels for k, _ in lab):
            raise QueryError(f'label "{label}" already exists on the input of histogram_quantiles')
        parts: list[StepVector] = []
        for arg in args[2:]:
            q = self._scalar_arg(arg)
            self._check_quantile(q, arg)
            result, notes = fn.histogram_quantile(q, vec)
            for kind, text in notes:
                (self.warn if kind == "warn" else self.info)(text, args[0])
            text = format_float(float(q[0]))
            if text.lstrip("-").isdigit():
                text += ".0"
            result.labels = [tuple(sorted((*lab, (label, text)))) for lab in result.labels]
            parts.append(result)
        if not parts or all(len(p) == 0 for p in parts):
            return StepVector.empty(self.n)
        parts = [p for p in parts if len(p)]
        return StepVector(
            [lab for p in parts for lab in p.labels],
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.present for p in parts]),
            np.concatenate([p.drop_name for p in parts]),
        )

    def _check_quantile(self, q: F64, node: Any) -> None:
        bad = q[np.isnan(q) | (q < 0) | (q > 1)]
        if len(bad):
            self.warn(
                f"quantile value should be between 0 and 1, got {format_float(float(bad[0]))}",
                node,
            )

    def _timestamp(self, node: Any) -> StepVector:
        inner = node
        while isinstance(inner, pp.ParenExpr):
            inner = inner.expr
        if isinstance(inner, pp.VectorSelector):
            vec, t_at = self.instant_selector(inner)
            return StepVector(vec.labels, t_at / 1000.0, vec.present, np.ones(len(vec), np.bool_))
        vec = self._vector_arg(node)
        vals = np.broadcast_to(self.times / 1000.0, vec.values.shape).copy()
        return StepVector(vec.labels, vals, vec.present, np.ones(len(vec), np.bool_))

    def _absent(self, present: npt.NDArray[np.bool_], node: Any) -> StepVector:
        any_p = np.zeros(self.n, np.bool_)
        if len(present):
            any_p = np.asarray(present.any(axis=0), np.bool_)
        inner = node
        while isinstance(inner, pp.ParenExpr):
            inner = inner.expr
        if isinstance(inner, pp.MatrixSelector):
            inner = inner.vector_selector
        labels: Labels = ()
        if isinstance(inner, pp.VectorSelector):
            eq: dict[str, str] = {}
            dup: set[str] = set()
            for m in self._matchers(inner):
                if m.name in eq or m.name in dup:
                    dup.add(m.name)
                if m.type is MatchType.EQ and m.name != METRIC_NAME:
                    eq[m.name] = m.value
                else:
                    dup.add(m.name)
            labels = tuple(sorted((k, v) for k, v in eq.items() if k not in dup))
        return StepVector(
            [labels], np.ones((1, self.n)), ~any_p[None, :], np.zeros(1, np.bool_)
        ).compact()

    # -- aggregation and binary operators ---------------------------------------------------

    def aggregate(self, node: Any) -> Value:
        op = str(node.op)
        vec = self._vector_arg(node.expr)
        grouping: list[str] = []
        without = False
        if node.modifier is not None:
            grouping = [str(x) for x in node.modifier.labels]
            without = str(node.modifier.type).endswith("Without")
        param: F64 | str | None = None
        if node.param is not None:
            p = self.eval(node.param)
            if isinstance(p, StepString):
                param = p.value
            elif isinstance(p, StepScalar):
                param = p.values
            else:
                raise QueryError(f"expected a scalar parameter for {op}")
        result, warnings = aggregate(op, vec, grouping, without, param)
        for w in warnings:
            self.warn(w, node)
        return result

    def binary(self, node: Any) -> Value:
        op = str(node.op)
        lhs = self.eval(node.lhs)
        rhs = self.eval(node.rhs)
        mod = node.modifier
        return_bool = bool(mod.return_bool) if mod is not None else False
        if isinstance(lhs, StepScalar) and isinstance(rhs, StepScalar):
            if op in COMPARE and not return_bool:
                raise QueryError("comparisons between scalars must use BOOL modifier")
            return scalar_binop(op, lhs, rhs)
        if isinstance(lhs, StepVector) and isinstance(rhs, StepScalar):
            return vector_scalar_binop(op, lhs, rhs, False, return_bool)
        if isinstance(lhs, StepScalar) and isinstance(rhs, StepVector):
            return vector_scalar_binop(op, rhs, lhs, True, return_bool)
        if isinstance(lhs, StepVector) and isinstance(rhs, StepVector):
            return vector_binop(op, lhs, rhs, _matching(op, mod, return_bool))
        raise QueryError("binary expression must contain only scalar and instant vector types")


def _matching(op: str, mod: Any, return_bool: bool) -> Matching:
    if mod is None:
        card = "many-to-many" if op in ("and", "or", "unless") else "one-to-one"
        return Matching(card, False, (), (), return_bool)
    card_s = str(mod.card)
    card = {
        "VectorMatchCardinality.OneToOne": "one-to-one",
        "VectorMatchCardinality.ManyToOne": "many-to-one",
        "VectorMatchCardinality.OneToMany": "one-to-many",
        "VectorMatchCardinality.ManyToMany": "many-to-many",
    }.get(card_s, "one-to-one")
    on = False
    labels: tuple[str, ...] = ()
    if mod.matching is not None:
        on = str(mod.matching.type).endswith("Include")
        labels = tuple(str(x) for x in mod.matching.labels)
    include = tuple(str(x) for x in (mod.group_labels or ()))
    fill_left = fill_right = None
    if mod.fill_values is not None:
        fill_left = None if mod.fill_values.lhs is None else float(mod.fill_values.lhs)
        fill_right = None if mod.fill_values.rhs is None else float(mod.fill_values.rhs)
    return Matching(card, on, labels, include, return_bool, fill_left, fill_right)


def _derived(vec: StepVector, values: F64) -> StepVector:
    return StepVector(vec.labels, values, vec.present, np.ones(len(vec), np.bool_))


def _time_vector(times: I64, values: F64) -> StepVector:
    return StepVector(
        [()], values[None, :], np.ones((1, len(times)), np.bool_), np.zeros(1, np.bool_)
    )
