"""Runs a ``.test`` file against ``obskit.promql.Engine`` over a real store in a temp dir.

``run_file(path)`` executes the commands in order: ``load`` appends to the store (float
samples only; staleness markers bit-exact), ``clear`` replaces the store with an empty one, and
each ``eval`` that ``classify`` lets run is queried and compared (``compare``). The engine runs
with the settings the expectations assume (FORMAT.md §8).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

import numpy as np

import obskit.tsdb as tsdb
from conformance.classify import DEFAULT_EXPERIMENTAL, Classification, classify_file
from conformance.compare import (
    Mismatch,
    check_annotations,
    check_failure,
    compare_value,
    expected_lines,
    value_lines,
)
from conformance.seriesdesc import STALE_NAN_BITS, HistogramLiteral, is_stale_nan
from conformance.testfile import Eval, Load, TestFile, read_test_file
from obskit.errors import QueryError
from obskit.model import Labels, SampleBatch, validate_labels
from obskit.model.protocols import Querier
from obskit.promql import Engine, EngineOptions, Matrix, QueryResult, Scalar, Vector

__all__ = [
    "EngineFactory",
    "EvalOutcome",
    "FileOutcome",
    "QueryEngine",
    "RunOptions",
    "engine_options",
    "obskit_engine",
    "run_eval",
    "run_file",
    "run_test",
]

Status = Literal["passed", "failed", "skipped"]

# Failure kinds, for grouping in the report.
WRONG_RESULT = "wrong result"
WRONG_ANNOTATIONS = "wrong annotations"
QUERY_ERROR = "unexpected query error"
NO_ERROR = "expected an error, got none"
WRONG_ERROR = "wrong error message"
ENGINE_CRASH = "engine raised a non-QueryError"
RANGE_MODE = "range-mode cross-check"

_QUERY_CONTEXT_FUNCS = re.compile(r"\b(start|end|range|step)\(\)")


def engine_options() -> EngineOptions:
    """The settings of upstream's test engine (FORMAT.md §8)."""
    return EngineOptions(
        lookback_delta_ms=300_000,
        max_samples=10_000,
        timeout_s=100.0,
        default_subquery_step_ms=60_000,
        # Upstream's engine has no points limit (11,000 is its HTTP API's); some range evals
        # ask for more steps than that.
        max_points_per_series=1_000_000_000,
    )


@dataclass(frozen=True, slots=True)
class RunOptions:
    experimental: frozenset[str] = DEFAULT_EXPERIMENTAL
    # Upstream's extra check: an instant query must give the same result as the middle step
    # of the range query from t-1m to t+1m (FORMAT.md §6 "Extra checks").
    range_mode_check: bool = False


@dataclass(frozen=True, slots=True)
class EvalOutcome:
    line: int
    expr: str
    status: Status
    reason: str = ""  # skip reason or failure kind
    detail: str = ""
    expected: list[str] = field(default_factory=list)
    got: list[str] = field(default_factory=list)
    experimental: frozenset[str] = frozenset()
    seconds: float = 0.0
    python_warnings: list[str] = field(default_factory=list)  # emitted while evaluating


@dataclass(slots=True)
class FileOutcome:
    name: str
    outcomes: list[EvalOutcome]

    def count(self, status: Status) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def passed_lines(self) -> list[int]:
        return [o.line for o in self.outcomes if o.status == "passed"]

    def skipped_by_reason(self) -> Counter[str]:
        return Counter(o.reason for o in self.outcomes if o.status == "skipped")

    def failed_by_reason(self) -> Counter[str]:
        return Counter(o.reason for o in self.outcomes if o.status == "failed")


class QueryEngine(Protocol):
    """What the runner needs of an engine (``obskit.promql.Engine``, or a test double)."""

    def instant_query(self, query: str, time_ms: int) -> QueryResult: ...

    def range_query(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult: ...


EngineFactory = Callable[[Querier], QueryEngine]


def obskit_engine(querier: Querier) -> QueryEngine:
    return Engine(querier, engine_options())


class _Session:
    """A store and an engine over it; ``clear`` swaps in a fresh empty store."""

    def __init__(self, engine_factory: EngineFactory) -> None:
        self._engine_factory = engine_factory
        # A memory file system when there is one: a run opens and closes ~230 stores, and on a
        # disk their fsyncs and directory removals take most of the run's time.
        shm = Path("/dev/shm")
        tmp = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
        self._root = Path(tempfile.mkdtemp(prefix="obskit-promql-conformance-", dir=tmp))
        self._generation = 0
        self._db: tsdb.DB | None = None
        self.engine: QueryEngine
        self.clear()

    def clear(self) -> None:
        self._close_db()
        self._generation += 1
        path = self._root / f"store-{self._generation}"
        options = tsdb.Options(fsync="none", retention_ms=0, maintenance_in_append=False)
        self._db = tsdb.open(path, options)
        self.engine = self._engine_factory(self._db)

    def load(self, cmd: Load) -> None:
        assert self._db is not None
        labels: list[Labels] = []
        index: list[int] = []
        ts: list[int] = []
        bits: list[int] = []
        for s in cmd.series:
            floats = [
                (i * cmd.interval_ms, v)
                for i, v in enumerate(s.values)
                if v is not None and not isinstance(v, HistogramLiteral)
            ]
            if not floats:
                continue
            k = len(labels)
            labels.append(validate_labels(s.labels))
            for t, v in floats:
                index.append(k)
                ts.append(t)
                bits.append(STALE_NAN_BITS if is_stale_nan(v) else _float_bits(v))
        if not ts:
            return
        values = np.array(bits, dtype=np.uint64).view(np.float64)
        batch = SampleBatch(labels, np.array(index, np.int64), np.array(ts, np.int64), values)
        self._db.append(batch)

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            shutil.rmtree(self._db.path, ignore_errors=True)
            self._db = None

    def close(self) -> None:
        self._close_db()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> _Session:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _float_bits(value: float) -> int:
    return int(np.array([value], dtype=np.float64).view(np.uint64)[0])


def _crash_text(exc: Exception) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _failed(ev: Eval, reason: str, mismatch: Mismatch | str, seconds: float) -> EvalOutcome:
    if isinstance(mismatch, str):
        mismatch = Mismatch(mismatch, expected_lines(ev), [])
    return EvalOutcome(
        ev.line,
        ev.expr,
        "failed",
        reason,
        mismatch.message,
        mismatch.expected,
        mismatch.got,
        seconds=seconds,
    )


def _range_mode(engine: QueryEngine, ev: Eval, instant_value: object) -> Mismatch | str | None:
    """Upstream's cross-check: the instant result equals step t of a t-1m..t+1m range query."""
    t = ev.eval_ms
    try:
        result = engine.range_query(ev.expr, t - 60_000, t + 60_000, 60_000)
    except Exception as exc:  # the engine under test may raise anything
        return f"range query failed: {_crash_text(exc)}"
    if not isinstance(result.value, Matrix):
        return f"range query returned {type(result.value).__name__}, not a matrix"
    labels, values = [], []
    for s in result.value.series:
        at_t = np.flatnonzero(s.timestamps_ms == t)
        if len(at_t):
            labels.append(s.labels)
            values.append(float(s.values[at_t[0]]))
    if isinstance(instant_value, Scalar):
        if not values:
            return "range query has no point at t for a scalar result"
        return compare_value(ev, Scalar(t, values[0]), t, t, 0)
    vec = Vector(t, labels, np.array(values, dtype=np.float64))
    mismatch = compare_value(ev, vec, t, t, 0)
    if mismatch is None:
        return None
    return Mismatch(f"in range mode: {mismatch.message}", mismatch.expected, mismatch.got)


def run_eval(engine: QueryEngine, ev: Eval, options: RunOptions) -> EvalOutcome:
    """Run one eval. Python warnings the engine emits (numpy's RuntimeWarning on NaN, ...) are
    recorded on the outcome, not raised: the counts must not depend on pytest's ``-W error``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = _run_eval(engine, ev, options)
    if not caught:
        return outcome
    texts = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return dataclasses.replace(outcome, python_warnings=texts)


def _run_eval(engine: QueryEngine, ev: Eval, options: RunOptions) -> EvalOutcome:
    started = time.perf_counter()
    try:
        if ev.instant:
            result = engine.instant_query(ev.expr, ev.eval_ms)
        else:
            result = engine.range_query(ev.expr, ev.start_ms, ev.end_ms, ev.step_ms)
    except QueryError as exc:
        seconds = time.perf_counter() - started
        text = str(exc)
        if ev.fail is None:
            return _failed(ev, QUERY_ERROR, f"{type(exc).__name__}: {text}", seconds)
        mismatch = check_failure(ev, text)
        if mismatch is not None:
            return _failed(ev, WRONG_ERROR, mismatch, seconds)
        return EvalOutcome(ev.line, ev.expr, "passed", seconds=seconds)
    except Exception as exc:  # the engine under test may raise anything; report, go on
        return _failed(ev, ENGINE_CRASH, _crash_text(exc), time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if ev.range_vector is not None:
        start_ms, end_ms, step_ms = ev.range_vector
    else:
        start_ms, end_ms, step_ms = ev.start_ms, ev.end_ms, ev.step_ms
    grid = range(start_ms, end_ms + 1, step_ms) if step_ms else None
    if ev.fail is not None:
        got = value_lines(result.value, grid)
        return _failed(ev, NO_ERROR, Mismatch("the query succeeded", ["an error"], got), seconds)
    mismatch = check_annotations(ev, result.warnings, result.infos)
    if mismatch is not None:
        return _failed(ev, WRONG_ANNOTATIONS, mismatch, seconds)
    mismatch = compare_value(ev, result.value, start_ms, end_ms, step_ms)
    if mismatch is not None:
        return _failed(ev, WRONG_RESULT, mismatch, seconds)
    if (
        options.range_mode_check
        and ev.instant
        and not (ev.ordered or ev.string is not None or ev.range_vector is not None)
        and not _QUERY_CONTEXT_FUNCS.search(ev.expr)
    ):
        problem = _range_mode(engine, ev, result.value)
        if problem is not None:
            return _failed(ev, RANGE_MODE, problem, time.perf_counter() - started)
    return EvalOutcome(ev.line, ev.expr, "passed", seconds=seconds)


def _skipped(ev: Eval, c: Classification) -> EvalOutcome:
    assert c.skip is not None
    return EvalOutcome(ev.line, ev.expr, "skipped", c.skip, c.detail, experimental=c.experimental)


def run_test(
    test: TestFile, options: RunOptions | None = None, engine: EngineFactory = obskit_engine
) -> FileOutcome:
    """Run every command of a parsed file; evals that cannot run here are reported skipped.
    ``engine`` builds the engine under test over each new store."""
    options = options or RunOptions()
    classes = classify_file(test, options.experimental)
    outcomes: list[EvalOutcome] = []
    with _Session(engine) as session:
        for cmd in test.commands:
            if isinstance(cmd, Load):
                session.load(cmd)
            elif isinstance(cmd, Eval):
                c = classes[cmd.line]
                if not c.runs:
                    outcomes.append(_skipped(cmd, c))
                    continue
                outcome = run_eval(session.engine, cmd, options)
                if c.experimental:
                    outcome = dataclasses.replace(outcome, experimental=c.experimental)
                outcomes.append(outcome)
            else:
                session.clear()
    return FileOutcome(test.name, outcomes)


def run_file(
    path: Path, options: RunOptions | None = None, engine: EngineFactory = obskit_engine
) -> FileOutcome:
    return run_test(read_test_file(path), options, engine)
