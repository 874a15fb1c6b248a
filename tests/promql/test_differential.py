"""obskit's PromQL engine against Prometheus' own (``tests/reference/promref``) on the same data.

Each dataset seed loads ``data.dataset(seed)`` into an obskit store and into the reference
(Prometheus' XOR chunks, checked against its TSDB by ``promref_test.go``); ``queries.cases``
draws expressions from every query family with instant and range evaluations.
Every case is one test: it fails with the query, its time, and where the answers differ. Both
engines run with the upstream test engine's settings: lookback 5m, 1m default subquery step.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import obskit.tsdb as tsdb
from obskit.errors import QueryError
from obskit.promql import Engine, EngineOptions, QueryResult

from .compare import diff, from_obskit, from_reference
from .data import dataset, sample_batch
from .known_failures import KNOWN_FAILURES
from .queries import Case, cases
from .reference import BUILD_TIMEOUT_S, ReferenceUnavailable, RefQuery, RefSeries, evaluate

# OBSKIT_PROMQL_DIFF_SEEDS=1-20 runs more datasets (known_failures.py covers seeds 1 to 3 only)
_SEED_RANGE = os.environ.get("OBSKIT_PROMQL_DIFF_SEEDS", "1-3").split("-")
SEEDS = tuple(range(int(_SEED_RANGE[0]), int(_SEED_RANGE[-1]) + 1))
PER_FAMILY = 10  # expressions drawn per family and dataset, each run 3 times (2 instant, 1 range)
MAX_SAMPLES = 50_000_000  # far above what these queries load: limits are not under test here


CASES = [
    (seed, case)
    for seed in SEEDS
    for case in cases(
        seed, PER_FAMILY, sorted({int(t) for s in dataset(seed) for t in s.timestamps_ms})
    )
]


def _param(seed: int, case: Case) -> object:
    test_id = f"s{seed}:{case.id}"
    reason = KNOWN_FAILURES.get(test_id)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(seed, case, id=test_id, marks=marks)


def _ref_query(case: Case) -> RefQuery:
    if case.time_ms is not None:
        return RefQuery(case.expr, time_ms=case.time_ms)
    return RefQuery(case.expr, start_ms=case.start_ms, end_ms=case.end_ms, step_ms=case.step_ms)


@pytest.fixture(scope="module")
def reference() -> dict[tuple[int, str], dict[str, object]]:
    """The reference's answer to every case, from one promref run per dataset."""
    out: dict[tuple[int, str], dict[str, object]] = {}
    for seed in SEEDS:
        series = [RefSeries(s.labels, s.timestamps_ms, s.values) for s in dataset(seed)]
        seed_cases = [case for s, case in CASES if s == seed]
        try:
            results = evaluate(series, [_ref_query(c) for c in seed_cases], max_samples=MAX_SAMPLES)
        except ReferenceUnavailable as exc:
            pytest.skip(f"no reference Prometheus engine: {exc}")
        out.update(((seed, c.id), r) for c, r in zip(seed_cases, results, strict=True))
    return out


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Engine]]:
    dbs = []
    out = {}
    for seed in SEEDS:
        db = tsdb.open(Path(tmp_path_factory.mktemp(f"promql-diff-{seed}")))
        dbs.append(db)
        db.append(sample_batch(seed))
        out[seed] = Engine(db, EngineOptions(lookback_delta_ms=300_000, max_samples=MAX_SAMPLES))
    yield out
    for db in dbs:
        db.close()


def _run(engine: Engine, case: Case) -> QueryResult | QueryError:
    try:
        if case.time_ms is not None:
            return engine.instant_query(case.expr, case.time_ms)
        return engine.range_query(case.expr, case.start_ms, case.end_ms, case.step_ms)
    except QueryError as exc:
        return exc


# the first case may build the reference (minutes when the Go caches are cold)
@pytest.mark.timeout(BUILD_TIMEOUT_S + 300)
@pytest.mark.parametrize(("seed", "case"), [_param(s, c) for s, c in CASES])
def test_matches_prometheus(
    seed: int,
    case: Case,
    reference: dict[tuple[int, str], dict[str, object]],
    engines: dict[int, Engine],
) -> None:
    want = from_reference(reference[seed, case.id])
    got = from_obskit(_run(engines[seed], case))
    problem = diff(case.expr, want, got)
    if problem:
        when = (
            f"instant at {case.time_ms}"
            if case.time_ms is not None
            else f"range {case.start_ms}..{case.end_ms} step {case.step_ms}"
        )
        pytest.fail(
            f"[{case.family}] {case.expr}  ({when}, data seed {seed})\n{problem}", pytrace=False
        )
