"""The runner end to end, with stand-in engines over the real store.

* A store-reading engine that knows only bare selectors checks the load path (timestamps,
  empty slots, staleness markers bit for bit, ``clear``) and that right answers pass.
* An oracle that answers every eval of the real scripts with its own expectation checks that
  parser and comparator agree on all of them, and that a small error in any answer fails.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from conformance.classify import classify_file
from conformance.report import TESTDATA, load_baseline, regressions
from conformance.runner import ENGINE_CRASH, NO_ERROR, QUERY_ERROR, QueryEngine, run_test
from conformance.seriesdesc import STALE_NAN_BITS, HistogramLiteral, is_stale_nan
from conformance.testfile import Eval, TestFile, parse_test_file
from obskit.errors import QueryError
from obskit.model import Matcher, MatchType
from obskit.model.protocols import Querier
from obskit.model.series import Series
from obskit.promql.value import Matrix, QueryResult, Scalar, String, Value, Vector

LOOKBACK_MS = 300_000


class SelectorEngine:
    """Answers ``name`` (instant vector, 5 m lookback, staleness) and ``name[<seconds>s]``
    (range vector) straight from the store; ``fail`` raises a QueryError; else NotImplemented."""

    def __init__(self, querier: Querier) -> None:
        self.querier = querier

    def _select(self, name: str, mint: int, maxt: int) -> list[Series]:
        return self.querier.select([Matcher(MatchType.EQ, "__name__", name)], mint, maxt)

    def instant_query(self, query: str, time_ms: int) -> QueryResult:
        if query == "fail":
            raise QueryError("vector cannot contain metrics with the same labelset")
        if query.endswith("s]"):
            name, seconds = query[:-2].split("[")
            window = int(seconds) * 1000
            out = []
            for s in self._select(name, time_ms - window + 1, time_ms):
                keep = ~np.array([is_stale_nan(v) for v in s.values.tolist()], dtype=bool)
                if keep.any():
                    out.append(Series(s.labels, s.timestamps_ms[keep], s.values[keep]))
            return QueryResult(Matrix(out))
        if not query.isidentifier():
            raise NotImplementedError(query)
        labels, values = [], []
        for s in self._select(query, time_ms - LOOKBACK_MS + 1, time_ms):
            if not is_stale_nan(float(s.values[-1])):
                labels.append(s.labels)
                values.append(float(s.values[-1]))
        return QueryResult(Vector(time_ms, labels, np.array(values, dtype=np.float64)))

    def range_query(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        points: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
        for t in range(start_ms, end_ms + 1, step_ms):
            vec = self.instant_query(query, t).value
            assert isinstance(vec, Vector)
            for labels, v in zip(vec.labels, vec.values.tolist(), strict=True):
                points.setdefault(labels, []).append((t, v))
        series = [
            Series(k, np.array([p[0] for p in v]), np.array([p[1] for p in v]))
            for k, v in sorted(points.items())
        ]
        return QueryResult(Matrix(series))


SCRIPT = textwrap.dedent(
    """\
    load 1m
      m{a="1"} 1 _ 3 stale 5
      m{a="2"} 0+10x2

    eval instant at 2m m
      m{a="1"} 3
      m{a="2"} 20

    # the staleness marker at 3m hides m{a="1"} until the sample at 4m
    eval instant at 3m30s m
      m{a="2"} 20

    eval range from 0 to 4m step 1m m
      m{a="1"} 1 1 3 _ 5
      m{a="2"} 0 10 20 20 20

    eval instant at 4m m[240s]
      expect range vector from 1m to 4m step 1m
      m{a="1"} _ 3 _ 5
      m{a="2"} 10 20

    eval instant at 2m m
      expect fail
      m{a="1"} 3

    eval instant at 0 fail
      expect fail msg: vector cannot contain metrics with the same labelset

    eval instant at 0 rate(m[1m])

    eval instant at 2m m
      m{a="1"} 3
      m{a="2"} 21

    load 1m
      m{a="3"} 7

    eval instant at 0 m
      m{a="1"} 1
      m{a="2"} 0
      m{a="3"} 7

    clear

    eval instant at 0 m

    load 1m
      h{a="1"} {{schema:0 sum:1 count:1}}

    eval instant at 0 h
      h{a="1"} {{schema:0 sum:1 count:1}}
    """
)


def test_selector_engine_over_the_store() -> None:
    outcome = run_test(parse_test_file(SCRIPT, "selftest.test"), engine=SelectorEngine)
    by_line = {o.line: o for o in outcome.outcomes}
    assert [by_line[n].status for n in (5, 10, 13, 17, 38, 45)] == ["passed"] * 6
    assert by_line[22].status == "failed" and by_line[22].reason == NO_ERROR
    assert by_line[26].status == "passed"  # the error text matches
    assert by_line[29].reason == ENGINE_CRASH and "NotImplementedError" in by_line[29].detail
    wrong = by_line[31]
    assert wrong.status == "failed" and "expected 21, got 20" in wrong.detail
    assert wrong.got == ['m{a="1"} 3', 'm{a="2"} 20']
    assert by_line[50].status == "skipped" and by_line[50].reason == "native histograms"
    assert outcome.count("passed") == 7


def test_a_recorded_pass_that_fails_is_a_regression() -> None:
    outcome = run_test(parse_test_file(SCRIPT, "selftest.test"), engine=SelectorEngine)
    assert regressions(outcome, [5, 10]) == []
    assert [o.line for o in regressions(outcome, [5, 31, 50])] == [31, 50]  # failed, skipped


def test_staleness_markers_are_stored_bit_exactly() -> None:
    seen: list[Series] = []

    class Recorder(SelectorEngine):
        def instant_query(self, query: str, time_ms: int) -> QueryResult:
            seen.extend(self.querier.select([Matcher(MatchType.EQ, "__name__", "m")], 0, 10**9))
            return QueryResult(Vector(time_ms, [], np.zeros(0)))

    run_test(parse_test_file("load 1m\n  m 1 stale NaN\n\neval instant at 0 m\n"), engine=Recorder)
    (series,) = seen
    bits = series.values.view(np.uint64).tolist()
    assert series.timestamps_ms.tolist() == [0, 60_000, 120_000]
    assert bits[1] == STALE_NAN_BITS and math.isnan(series.values[2]) and bits[2] != STALE_NAN_BITS


def test_query_errors_are_failures_unless_expected() -> None:
    text = "eval instant at 0 fail\n\neval instant at 0 fail\n  expect fail msg: other\n"
    outcome = run_test(parse_test_file(text), engine=SelectorEngine)
    assert [o.reason for o in outcome.outcomes] == [QUERY_ERROR, "wrong error message"]


# ---- the oracle ---------------------------------------------------------------------------


def _answer(ev: Eval, mutate: Callable[[float], float]) -> QueryResult:
    if ev.fail is not None:
        raise QueryError(ev.fail.message or "oracle: expected failure")
    warnings = [e.message or "PromQL warning: oracle" for e in ev.warn]
    infos = [e.message or "PromQL info: oracle" for e in ev.info]
    t = ev.eval_ms
    value: Value
    if ev.string is not None:
        value = String(t, ev.string)
    elif ev.scalar is not None:
        value = Scalar(t, mutate(ev.scalar))
    elif ev.instant and ev.range_vector is None:
        vals = [v for s in ev.series for v in s.values[:1]]
        floats = [mutate(v) if isinstance(v, float) else 0.0 for v in vals]
        value = Vector(t, [s.labels for s in ev.series], np.array(floats, dtype=np.float64))
    else:
        start, _, step = ev.range_vector or (ev.start_ms, ev.end_ms, ev.step_ms)
        series = []
        for s in sorted(ev.series, key=lambda s: s.labels):
            points = [(start + i * step, v) for i, v in enumerate(s.values) if v is not None]
            ts = np.array([p[0] for p in points], dtype=np.int64)
            vs = [mutate(p[1]) for p in points if not isinstance(p[1], HistogramLiteral)]
            series.append(Series(s.labels, ts, np.array(vs, dtype=np.float64)))
        value = Matrix(series)
    return QueryResult(value, warnings, infos)


class Oracle:
    """Answers the evals of one file, in order, with their own expectations."""

    def __init__(self, evals: list[Eval], mutate: Callable[[float], float]) -> None:
        self._next: Iterator[Eval] = iter(evals)
        self._mutate = mutate

    def _take(self, query: str) -> Eval:
        ev = next(self._next)
        assert ev.expr == query, f"BUG: runner asked for {query!r}, oracle has {ev.expr!r}"
        return ev

    def instant_query(self, query: str, time_ms: int) -> QueryResult:
        ev = self._take(query)
        assert ev.instant and time_ms == ev.eval_ms
        return _answer(ev, self._mutate)

    def range_query(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        ev = self._take(query)
        assert (start_ms, end_ms, step_ms) == (ev.start_ms, ev.end_ms, ev.step_ms)
        return _answer(ev, self._mutate)


def _oracle_factory(test: TestFile, mutate: Callable[[float], float]) -> Callable[..., object]:
    classes = classify_file(test)
    runnable = [ev for ev in test.evals if classes[ev.line].runs]
    oracle = Oracle(runnable, mutate)
    return lambda _querier: oracle  # one oracle across clears: it follows the file's order


def _uses_regex(ev: Eval) -> bool:
    return any(e.regex is not None for e in [*ev.warn, *ev.info, *([ev.fail] if ev.fail else [])])


def _perturb(value: float) -> float:
    if math.isnan(value) or math.isinf(value):
        return value
    return value * (1 + 1e-4) if value != 0 else 1e-3


@pytest.mark.slow  # two runs of every script
@pytest.mark.parametrize("name", sorted(load_baseline()))
def test_oracle_passes_and_a_perturbed_oracle_fails(name: str) -> None:
    if not (TESTDATA / name).exists():
        pytest.skip(f"PromQL conformance scripts not found at {TESTDATA} (../shared is absent)")
    test = parse_test_file((TESTDATA / name).read_text(encoding="utf-8"), name)
    by_line = {ev.line: ev for ev in test.evals}
    exact = run_test(test, engine=_oracle_factory(test, lambda v: v))  # type: ignore[arg-type]
    for o in exact.outcomes:
        if o.status == "failed":
            # the oracle cannot make up text for a regex; nothing else may fail
            assert _uses_regex(by_line[o.line]), f"{name}:{o.line} {o.reason}: {o.detail}"
    perturbed = run_test(test, engine=_oracle_factory(test, _perturb))  # type: ignore[arg-type]
    for o in perturbed.outcomes:
        ev = by_line[o.line]
        finite = [
            v
            for v in [ev.scalar] + [v for s in ev.series for v in s.values]
            if isinstance(v, float) and math.isfinite(v)
        ]
        if o.status != "skipped" and finite and ev.fail is None and not _uses_regex(ev):
            assert o.status == "failed", f"{name}:{o.line}: a wrong value passed"


def test_oracle_engine_protocol() -> None:
    engine: QueryEngine = Oracle([], lambda v: v)
    assert callable(engine.instant_query)
