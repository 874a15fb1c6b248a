"""Prometheus' PromQL acceptance scripts against obskit's engine, one test per ``.test`` file.

A file's test fails when an eval recorded as passing in ``baseline.json`` no longer passes
(so the pass count per file never drops); evals that pass and are not recorded yet are only
mentioned: record them with ``python -m conformance.report --update-baseline``. Skips, with a
message, when ``../shared/conformance/promql-testdata`` is not next to the repository.
"""

from __future__ import annotations

from collections import Counter

import pytest

from conformance.classify import classify_file
from conformance.report import TESTDATA, find_test_files, load_baseline, regressions
from conformance.runner import EvalOutcome, run_file
from conformance.testfile import Clear, Eval, Load, read_test_file

BASELINE = load_baseline()
NO_TESTDATA = f"PromQL conformance scripts not found at {TESTDATA} (../shared is absent)"


def _require_testdata() -> None:
    if not TESTDATA.is_dir():
        pytest.skip(NO_TESTDATA)


def _describe(o: EvalOutcome) -> str:
    lines = [f"line {o.line}: {o.expr}", f"    {o.reason}: {o.detail}"]
    lines += [f"    - {x}" for x in o.expected[:6]] + [f"    + {x}" for x in o.got[:6]]
    return "\n".join(lines)


@pytest.mark.parametrize("name", sorted(BASELINE))
def test_no_regression(name: str) -> None:
    _require_testdata()
    path = TESTDATA / name
    if not path.exists():
        pytest.fail(f"{name} is in baseline.json but not in {TESTDATA}")
    outcome = run_file(path)
    recorded = BASELINE[name]
    regressed = regressions(outcome, recorded)
    run = outcome.count("passed") + outcome.count("failed")
    rate = outcome.count("passed") / run if run else 1.0
    floor = len(recorded) / run if run else 1.0
    assert not regressed, (
        f"{name}: {len(regressed)} eval(s) that passed no longer pass "
        f"(pass rate {rate:.1%}, recorded {floor:.1%}):\n"
        + "\n".join(_describe(o) for o in regressed[:10])
    )
    assert rate >= floor


def test_baseline_covers_every_file() -> None:
    _require_testdata()
    names = {p.name for p in find_test_files()}
    assert names == set(BASELINE), (
        "baseline.json and the .test files differ; run "
        "`python -m conformance.report --update-baseline`"
    )


def test_every_eval_parses_and_is_classified() -> None:
    """All 2,214 evals of the pinned scripts parse (counts from FORMAT.md §7), and each gets a
    decision; the skipped share stays what it was when the runner was written."""
    _require_testdata()
    kinds = Counter[str]()
    decisions = Counter[str]()
    for path in find_test_files():
        test = read_test_file(path)
        classes = classify_file(test)
        for cmd in test.commands:
            if isinstance(cmd, Eval):
                kinds["instant" if cmd.instant else "range"] += 1
                decisions["runs" if classes[cmd.line].runs else "skipped"] += 1
            elif isinstance(cmd, Load):
                kinds["load"] += 1
            elif isinstance(cmd, Clear):
                kinds["clear"] += 1
    assert kinds == {"instant": 1885, "range": 329, "load": 310, "clear": 231}
    assert decisions["runs"] + decisions["skipped"] == 2214
    assert decisions["runs"] >= 900, decisions
