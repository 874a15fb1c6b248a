"""The comparator must be able to fail: each rule of FORMAT.md §6 with a passing and a
failing case."""

from __future__ import annotations

import math

import numpy as np

from conformance.compare import check_annotations, check_failure, compare_value, float_equal
from conformance.seriesdesc import STALE_NAN, SeriesLabels
from conformance.testfile import Eval, parse_test_file
from obskit.model.series import Series
from obskit.promql.value import Matrix, Scalar, String, Vector


def _eval(text: str) -> Eval:
    (ev,) = parse_test_file(text).commands
    assert isinstance(ev, Eval)
    return ev


def _vector(*pairs: tuple[SeriesLabels, float]) -> Vector:
    return Vector(0, [p[0] for p in pairs], np.array([p[1] for p in pairs], dtype=np.float64))


def _series(labels: SeriesLabels, points: list[tuple[int, float]]) -> Series:
    ts = np.array([p[0] for p in points], dtype=np.int64)
    return Series(labels, ts, np.array([p[1] for p in points], dtype=np.float64))


A: SeriesLabels = (("__name__", "m"), ("a", "1"))
B: SeriesLabels = (("__name__", "m"), ("a", "2"))
A_NO_NAME: SeriesLabels = (("a", "1"),)


def test_float_equal() -> None:
    assert float_equal(1.0, 1.0 + 1e-9)  # relative difference below 1e-6
    assert not float_equal(1.0, 1.0 + 1e-5)
    assert float_equal(1e300, 1e300 * (1 + 1e-7))
    assert not float_equal(0.0, 1e-12)  # against zero: effectively exact
    assert float_equal(0.0, -0.0)
    assert float_equal(math.nan, math.nan)
    assert float_equal(STALE_NAN, STALE_NAN)
    assert not float_equal(STALE_NAN, math.nan) and not float_equal(math.nan, STALE_NAN)
    assert float_equal(math.inf, math.inf) and not float_equal(math.inf, -math.inf)
    assert not float_equal(1.0, math.nan)


def test_vector_values_and_labels() -> None:
    ev = _eval('eval instant at 0 m\n  m{a="1"} 1\n  m{a="2"} 2\n')
    assert compare_value(ev, _vector((B, 2.0), (A, 1.0)), 0, 0, 0) is None  # order ignored
    wrong = compare_value(ev, _vector((A, 1.0), (B, 2.5)), 0, 0, 0)
    assert wrong is not None and "expected 2, got 2.5" in wrong.message
    assert wrong.expected == ['m{a="1"} 1', 'm{a="2"} 2']
    assert wrong.got == ['m{a="1"} 1', 'm{a="2"} 2.5']
    missing = compare_value(ev, _vector((A, 1.0)), 0, 0, 0)
    assert missing is not None and "missing series" in missing.message
    extra = compare_value(ev, _vector((A, 1.0), (B, 2.0), (A_NO_NAME, 3.0)), 0, 0, 0)
    assert extra is not None and "unexpected series" in extra.message
    twice = compare_value(ev, _vector((A, 1.0), (A, 1.0), (B, 2.0)), 0, 0, 0)
    assert twice is not None and "twice" in twice.message


def test_name_label_presence_matters() -> None:
    ev = _eval('eval instant at 0 rate(m[1m])\n  {a="1"} 1\n')
    assert compare_value(ev, _vector((A_NO_NAME, 1.0)), 0, 0, 0) is None
    assert compare_value(ev, _vector((A, 1.0)), 0, 0, 0) is not None


def test_order_only_when_asked() -> None:
    ordered = _eval('eval instant at 0 sort(m)\n  expect ordered\n  m{a="1"} 1\n  m{a="2"} 2\n')
    assert compare_value(ordered, _vector((A, 1.0), (B, 2.0)), 0, 0, 0) is None
    wrong = compare_value(ordered, _vector((B, 2.0), (A, 1.0)), 0, 0, 0)
    assert wrong is not None and "position" in wrong.message
    matrix = Matrix([_series(A, [(0, 1.0)])])
    assert compare_value(ordered, matrix, 0, 0, 0) is not None


def test_empty_expectation() -> None:
    ev = _eval("eval instant at 0 m\n")
    assert compare_value(ev, _vector(), 0, 0, 0) is None
    assert compare_value(ev, _vector((A, 1.0)), 0, 0, 0) is not None
    assert compare_value(ev, Scalar(0, 1.0), 0, 0, 0) is not None


def test_scalar_and_string() -> None:
    ev = _eval("eval instant at 0 1+1\n  2\n")
    assert compare_value(ev, Scalar(0, 2.0), 0, 0, 0) is None
    assert compare_value(ev, Scalar(0, 3.0), 0, 0, 0) is not None
    assert compare_value(ev, _vector(((("a", "1"),), 2.0)), 0, 0, 0) is not None
    text = _eval('eval instant at 0 "a"\n  expect string "a"\n')
    assert compare_value(text, String(0, "a"), 0, 0, 0) is None
    assert compare_value(text, String(0, "a "), 0, 0, 0) is not None
    assert compare_value(text, _vector(), 0, 0, 0) is not None


def test_range_points_timestamps_and_counts() -> None:
    ev = _eval('eval range from 0 to 2m step 1m m\n  m{a="1"} 1 _ 3\n  m{a="2"} 5\n')
    good = Matrix([_series(A, [(0, 1.0), (120_000, 3.0)]), _series(B, [(0, 5.0)])])
    assert compare_value(ev, good, 0, 120_000, 60_000) is None
    extra_point = Matrix([_series(A, [(0, 1.0), (60_000, 2.0), (120_000, 3.0)]), good.series[1]])
    problem = compare_value(ev, extra_point, 0, 120_000, 60_000)
    assert problem is not None and "expected 2 points, got 3" in problem.message
    assert problem.got[0] == 'm{a="1"} 1 2 3'
    shifted = Matrix([_series(A, [(0, 1.0), (119_000, 3.0)]), good.series[1]])
    assert compare_value(ev, shifted, 0, 120_000, 60_000) is not None
    unsorted = Matrix([good.series[1], good.series[0]])
    problem = compare_value(ev, unsorted, 0, 120_000, 60_000)
    assert problem is not None and "not sorted" in problem.message


def test_range_expectation_longer_than_the_range() -> None:
    ev = _eval('eval range from 0 to 1m step 1m m\n  m{a="1"} 1 2 3\n')
    matrix = Matrix([_series(A, [(0, 1.0), (60_000, 2.0)])])
    problem = compare_value(ev, matrix, 0, 60_000, 60_000)
    assert problem is not None and "more than the range has" in problem.message


def test_annotations() -> None:
    ev = _eval(
        "eval instant at 0 m\n"
        "  expect warn msg: PromQL warning: a (1:1)\n"
        "  expect warn regex: PromQL warning: b.*\n"
        "  expect no_info\n"
    )
    assert (
        check_annotations(ev, ["PromQL warning: a (1:1)", "PromQL warning: bc (1:1)"], []) is None
    )
    assert check_annotations(ev, [], []) is not None  # expected warnings, none came
    assert check_annotations(ev, ["PromQL warning: a (1:1)"], []) is not None  # regex unmatched
    # every warning must match some expectation
    both = ["PromQL warning: a (1:1)", "PromQL warning: bc", "PromQL warning: z"]
    assert check_annotations(ev, both, []) is not None
    assert check_annotations(ev, both[:2], ["PromQL info: x"]) is not None  # no_info
    unchecked = _eval("eval instant at 0 m\n")
    assert check_annotations(unchecked, ["PromQL warning: any"], ["PromQL info: any"]) is None
    position = _eval("eval instant at 0 m\n  expect warn msg: PromQL warning: a (1:1)\n")
    assert check_annotations(position, ["PromQL warning: a"], []) is not None


def test_expected_failures() -> None:
    exact = _eval("eval instant at 0 m\n  expect fail msg: many-to-many matching not allowed\n")
    assert check_failure(exact, "many-to-many matching not allowed") is None
    assert check_failure(exact, "many-to-many matching not allowed!") is not None
    regex = _eval("eval instant at 0 m\n  expect fail regex: conflicting label\n")
    assert check_failure(regex, "error: conflicting label: x") is None  # unanchored
    assert check_failure(regex, "label conflict") is not None
    anything = _eval("eval instant at 0 m\n  expect fail\n")
    assert check_failure(anything, "whatever") is None
