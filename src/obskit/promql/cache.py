"""A cache of range-query results per step, so that a dashboard's refresh evaluates only its new
steps (what VictoriaMetrics' rollup result cache and Cortex/Mimir's query-frontend results cache
do for Grafana).

A range query's value at step ``t`` depends only on samples at or before ``t`` (for queries
without ``@`` modifiers, negative offsets or ``start()``/``end()``/``range()``: see
``cacheable``), and PromQL evaluates every step on its own. So a result computed for steps
``[a, b]`` can be reused for any later query with the same expression, step, step phase
(``start mod step``) and lookback delta: the engine evaluates only the steps the cache lacks and
stitches the parts together, series by label set. Answers are the ones a full evaluation gives.

What may be cached: only steps older than ``settle_ms`` (5 minutes, as VictoriaMetrics'
``-search.cacheTimestampOffset``), where samples have usually stopped arriving.

Staying exact: the store calls ``invalidate_from(ts)`` after samples with timestamps from ``ts``
on became visible (``tsdb.DB.add_change_listener``), and the cache drops every cached step at or
after ``ts`` (a backfill or a late remote-write sample), or everything when data was removed
(``clear``). A query that was evaluating while such a write landed does not store its result
(generation check), so a result that missed the write is never cached.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import promql_parser as pp

from obskit.model.labels import Labels
from obskit.model.series import Series
from obskit.promql.value import Matrix

__all__ = ["CacheKey", "ResultsCache", "StepResult", "cacheable"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

# Functions whose value depends on the query's whole range rather than on the step.
_RANGE_FUNCTIONS = frozenset({"start", "end", "range"})
# Bytes counted per cached label set, besides the arrays (tuples of interned strings).
_LABELS_BYTES = 200


@dataclass(frozen=True, slots=True)
class StepResult:
    """A range query's value before it becomes a ``Matrix``: ``labels[i]`` has ``values[i, j]``
    at step ``j`` where ``present[i, j]``; no label set twice. A scalar is one series ``()``
    present at every step."""

    labels: list[Labels]
    values: F64
    present: Bool
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return int(self.values.shape[1])

    def to_matrix(self, times: I64) -> Matrix:
        """The series with at least one point, sorted by label set."""
        counts = self.present.sum(axis=1)
        full = (counts == len(times)).tolist()
        # Series with a point at every step share one read-only copy of the step times (and
        # are rows of the value matrix): no per-series mask indexing for the common case.
        shared_times = times.copy()
        shared_times.flags.writeable = False
        series = []
        for i in np.flatnonzero(counts).tolist():
            lab = self.labels[i]
            if full[i]:
                series.append(Series(lab, shared_times, self.values[i]))
            else:
                p = self.present[i]
                series.append(Series(lab, times[p], self.values[i][p]))
        series.sort(key=lambda s: s.labels)
        return Matrix(series)

    def nbytes(self) -> int:
        return int(self.values.nbytes + self.present.nbytes) + _LABELS_BYTES * len(self.labels)


def stitch(pieces: list[tuple[int, StepResult]], steps: int) -> StepResult:
    """One result over ``steps`` steps from results placed at step offsets (disjoint ranges):
    series matched by label set, annotations kept once each in order."""
    if len(pieces) == 1 and pieces[0][0] == 0 and pieces[0][1].steps == steps:
        return pieces[0][1]
    index: dict[Labels, int] = {}
    for _, part in pieces:
        for lab in part.labels:
            index.setdefault(lab, len(index))
    values = np.zeros((len(index), steps), np.float64)
    present = np.zeros((len(index), steps), np.bool_)
    warnings: list[str] = []
    infos: list[str] = []
    for col, part in pieces:
        rows = np.fromiter((index[lab] for lab in part.labels), np.int64, len(part.labels))
        width = part.steps
        values[rows, col : col + width] = part.values
        present[rows, col : col + width] = part.present
        warnings += [w for w in part.warnings if w not in warnings]
        infos += [i for i in part.infos if i not in infos]
    return StepResult(list(index), values, present, warnings, infos)


def cacheable(expr: Any) -> bool:
    """Whether every step of ``expr`` depends only on samples at or before it and not on the
    query's start or end: no ``@`` modifier, no negative offset, no ``start()``, ``end()`` or
    ``range()``."""
    todo = [expr]
    while todo:
        node = todo.pop()
        if isinstance(node, pp.VectorSelector | pp.SubqueryExpr) and (
            node.at is not None or (node.offset is not None and node.offset.total_seconds() < 0)
        ):
            return False
        if isinstance(node, pp.Call) and node.func.name in _RANGE_FUNCTIONS:
            return False
        if isinstance(node, pp.MatrixSelector):
            todo.append(node.vector_selector)
        elif isinstance(node, pp.Call):
            todo.extend(node.args)
        elif isinstance(node, pp.BinaryExpr):
            todo += [node.lhs, node.rhs]
        elif isinstance(node, pp.AggregateExpr):
            todo.append(node.expr)
            if node.param is not None:
                todo.append(node.param)
        elif isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
            todo.append(node.expr)
    return True


@dataclass(frozen=True, slots=True)
class CacheKey:
    """What makes two range queries' steps interchangeable: the (rewritten) expression, the
    step, where the steps fall (``start mod step``) and the lookback delta."""

    query: str
    step_ms: int
    phase_ms: int
    lookback_ms: int


@dataclass(slots=True)
class _Entry:
    first_ms: int
    step_ms: int
    result: StepResult

    @property
    def last_ms(self) -> int:
        return self.first_ms + (self.result.steps - 1) * self.step_ms


@dataclass
class CacheStats:
    hits: int = 0  # queries that took at least one step from the cache
    misses: int = 0  # queries evaluated whole
    steps_cached: int = 0  # steps served from the cache
    steps_evaluated: int = 0  # steps evaluated by the engine (cacheable queries only)
    invalidations: int = 0  # writes that dropped cached steps
    entries: int = 0  # (filled in by ResultsCache.stats)
    bytes: int = 0


class ResultsCache:
    """Range-query results per ``CacheKey``, at most ``max_bytes`` (least recently used first
    out). Thread-safe; ``invalidate_from`` may be called from any writer thread."""

    def __init__(
        self,
        max_bytes: int,
        settle_ms: int = 300_000,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.settle_ms = settle_ms
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._lock = threading.Lock()
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._bytes = 0
        self._generation = 0
        # The latest step any entry holds or any running query may store: writes of samples
        # after it cannot touch the cache (the writers' fast path, read without the lock).
        self._watermark_ms = -(1 << 63)
        self._counts = CacheStats()  # the counters; entries and bytes come from the entries

    @property
    def stats(self) -> CacheStats:
        """A snapshot of the counters, the number of cached queries and their bytes."""
        with self._lock:
            return dataclasses.replace(self._counts, entries=len(self._entries), bytes=self._bytes)

    # -- invalidation (store writers) -----------------------------------------------------------

    def invalidate_from(self, min_ts_ms: int) -> None:
        """Samples with timestamps from ``min_ts_ms`` on became visible: forget every cached
        step at or after it."""
        if min_ts_ms > self._watermark_ms:
            return
        with self._lock:
            self._generation += 1
            self._counts.invalidations += 1
            for key, entry in list(self._entries.items()):
                if entry.last_ms < min_ts_ms:
                    continue
                keep = (min_ts_ms - entry.first_ms + entry.step_ms - 1) // entry.step_ms
                if keep <= 0:
                    self._drop(key)
                else:
                    self._drop(key)
                    self._put(key, _Entry(entry.first_ms, entry.step_ms, _head(entry.result, keep)))

    def clear(self) -> None:
        """Forget everything (data was removed)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._bytes = 0

    # -- queries --------------------------------------------------------------------------------

    def run(self, key: CacheKey, times: I64, evaluate: Callable[[I64], StepResult]) -> StepResult:
        """The result at ``times`` (ascending, ``key.step_ms`` apart): cached steps reused,
        the others evaluated with ``evaluate(times_subset)``, the settled steps stored."""
        step = key.step_ms
        n = len(times)
        settled = int(np.searchsorted(times, self._clock_ms() - self.settle_ms, side="right"))
        with self._lock:
            generation = self._generation
            if settled:
                self._watermark_ms = max(self._watermark_ms, int(times[settled - 1]))
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        lo = hi = first = 0  # the entry's first step is times[first]; it covers [lo, hi)
        if entry is not None and n:
            first = (entry.first_ms - int(times[0])) // step
            lo, hi = max(0, first), min(n, first + entry.result.steps)
        if entry is not None and hi > lo:
            pieces = [(lo, _columns(entry.result, lo - first, hi - first))]
            if lo > 0:
                pieces.append((0, evaluate(times[:lo])))
            if hi < n:
                pieces.append((hi, evaluate(times[hi:])))
            result = stitch(sorted(pieces, key=lambda p: p[0]), n)
            with self._lock:
                self._counts.hits += 1
                self._counts.steps_cached += hi - lo
                self._counts.steps_evaluated += n - (hi - lo)
        else:
            result = evaluate(times)
            with self._lock:
                self._counts.misses += 1
                self._counts.steps_evaluated += n
        if settled and self.max_bytes > 0:
            stored = _head(result, settled)
            if stored.nbytes() <= self.max_bytes:
                with self._lock:
                    if self._generation == generation:
                        self._drop(key)
                        self._put(key, _Entry(int(times[0]), step, stored))
        return result

    def peek(self, key: CacheKey, times: I64, max_points: int) -> StepResult | None:
        """The result at ``times`` when the cache holds every one of its steps and it has at
        most ``max_points`` points (no evaluation: cheap enough for an event loop), else None."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or not len(times):
            return None
        first = (entry.first_ms - int(times[0])) // key.step_ms
        if first > 0 or first + entry.result.steps < len(times):
            return None
        present = entry.result.present[:, -first : -first + len(times)]
        if int(np.count_nonzero(present)) > max_points:
            return None
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
            self._counts.hits += 1
            self._counts.steps_cached += len(times)
        return _columns(entry.result, -first, -first + len(times))

    # -- internals (hold the lock) ----------------------------------------------------------------

    def _put(self, key: CacheKey, entry: _Entry) -> None:
        self._entries[key] = entry
        self._bytes += entry.result.nbytes()
        while self._bytes > self.max_bytes and self._entries:
            _, old = self._entries.popitem(last=False)
            self._bytes -= old.result.nbytes()

    def _drop(self, key: CacheKey) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.result.nbytes()


def _columns(result: StepResult, a: int, b: int) -> StepResult:
    """Steps ``[a, b)`` of ``result``, without the series that have no point there."""
    present = result.present[:, a:b]
    rows = np.flatnonzero(present.any(axis=1))
    return StepResult(
        [result.labels[i] for i in rows.tolist()],
        result.values[rows, a:b],
        present[rows],
        result.warnings,
        result.infos,
    )


def _head(result: StepResult, k: int) -> StepResult:
    """The first ``k`` steps of ``result`` (copies: a cached entry owns its arrays)."""
    return _columns(result, 0, k)
