"""Comparison of a query's outcome with an eval's expectations (FORMAT.md §6).

Each check returns None when the outcome is as expected, else a ``Mismatch`` saying what
differs, with the expected and actual results written in series notation for a diff.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from conformance.seriesdesc import (
    HistogramLiteral,
    SeriesLabels,
    Value,
    format_series_labels,
    is_stale_nan,
)
from conformance.testfile import AnnotationExpectation, Eval
from obskit.promql.value import Matrix, Scalar, String, Vector

__all__ = [
    "Mismatch",
    "check_annotations",
    "check_failure",
    "compare_value",
    "expected_lines",
    "float_equal",
    "format_value",
    "value_lines",
]

EPSILON = 1e-6  # relative tolerance of upstream's almost.Equal
MIN_NORMAL = 2.2250738585072014e-308  # smallest normal float64


@dataclass(frozen=True, slots=True)
class Mismatch:
    message: str
    expected: list[str] = field(default_factory=list)
    got: list[str] = field(default_factory=list)


def float_equal(expected: float, got: float) -> bool:
    """Upstream's ``almost.Equal(a, b, 1e-6)``: both stale markers, both NaN, equal, or a
    relative difference below 1e-6 (absolute, below 1e-6 x MIN_NORMAL, when either is 0)."""
    if is_stale_nan(expected) or is_stale_nan(got):
        return is_stale_nan(expected) and is_stale_nan(got)
    if math.isnan(expected) and math.isnan(got):
        return True
    if expected == got:
        return True
    abs_sum = abs(expected) + abs(got)
    diff = abs(expected - got)
    if expected == 0 or got == 0 or abs_sum < MIN_NORMAL:
        return diff < EPSILON * MIN_NORMAL
    return diff / min(abs_sum, 1.7976931348623157e308) < EPSILON


def format_value(value: Value) -> str:
    if value is None:
        return "_"
    if isinstance(value, HistogramLiteral):
        return value.text
    if is_stale_nan(value):
        return "stale"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def expected_lines(ev: Eval) -> list[str]:
    """The eval's expected result as the file writes it."""
    if ev.string is not None:
        return [f"string {ev.string!r}"]
    if ev.scalar is not None:
        return [f"scalar {format_value(ev.scalar)}"]
    lines = [
        f"{format_series_labels(s.labels)} {' '.join(format_value(v) for v in s.values)}"
        for s in ev.series
    ]
    return lines or ["(empty)"]


def _grid_line(labels: SeriesLabels, ts: list[int], vs: list[float], grid: range | None) -> str:
    if grid is not None and grid.step > 0 and all(t in grid for t in ts):
        slots: list[Value] = [None] * (grid.index(ts[-1]) + 1 if ts else 0)
        for t, v in zip(ts, vs, strict=True):
            slots[grid.index(t)] = v
        body = " ".join(format_value(v) for v in slots)
    else:
        body = " ".join(f"{format_value(v)}@{t}" for t, v in zip(ts, vs, strict=True))
    return f"{format_series_labels(labels)} {body}"


def value_lines(value: object, grid: range | None = None) -> list[str]:
    """A query result in the notation of the expectations (range points on ``grid`` when they
    fit it, else as ``value@timestamp_ms``)."""
    if isinstance(value, Scalar):
        return [f"scalar {format_value(value.value)}"]
    if isinstance(value, String):
        return [f"string {value.value!r}"]
    if isinstance(value, Vector):
        lines = [
            f"{format_series_labels(labels)} {format_value(float(v))}"
            for labels, v in zip(value.labels, value.values.tolist(), strict=True)
        ]
        return lines or ["(empty)"]
    if isinstance(value, Matrix):
        lines = [
            _grid_line(s.labels, s.timestamps_ms.tolist(), s.values.tolist(), grid)
            for s in value.series
        ]
        return lines or ["(empty)"]
    return [f"(not a query value: {type(value).__name__})"]


def check_failure(ev: Eval, error_text: str) -> Mismatch | None:
    """The query failed as ``expect fail`` asks (exact message / RE2 regex / any)."""
    assert ev.fail is not None, "BUG: check_failure on an eval that expects success"
    if ev.fail.matches(error_text):
        return None
    return Mismatch(f"got {error_text!r}", [f"error {ev.fail.describe()}"], [error_text])


def _check_kind(
    kind: str, expected: list[AnnotationExpectation], forbidden: bool, actual: list[str]
) -> Mismatch | None:
    if forbidden and actual:
        return Mismatch(f"unexpected {kind} annotations", [f"no {kind}"], actual)
    if not expected:
        return None
    if not actual:
        return Mismatch(f"expected {kind} annotations, got none", [e.describe() for e in expected])
    for e in expected:
        if not any(e.matches(a) for a in actual):
            return Mismatch(f"no {kind} annotation matches {e.describe()}", [e.describe()], actual)
    for a in actual:
        if not any(e.matches(a) for e in expected):
            return Mismatch(
                f"unexpected {kind} annotation {a!r}", [e.describe() for e in expected], actual
            )
    return None


def check_annotations(ev: Eval, warnings: list[str], infos: list[str]) -> Mismatch | None:
    """``expect warn|info|no_warn|no_info``; kinds without expectations are not checked."""
    return _check_kind("warn", ev.warn, ev.no_warn, warnings) or _check_kind(
        "info", ev.info, ev.no_info, infos
    )


def _expected_by_labels(ev: Eval) -> dict[SeriesLabels, tuple[int, list[Value]]]:
    return {s.labels: (i, s.values) for i, s in enumerate(ev.series)}


def _compare_vector(ev: Eval, vec: Vector) -> str | None:
    if ev.scalar is not None:
        return "expected a scalar, got a vector"
    if ev.string is not None:
        return "expected a string, got a vector"
    expected = _expected_by_labels(ev)
    seen: set[SeriesLabels] = set()
    for pos, (labels, got) in enumerate(zip(vec.labels, vec.values.tolist(), strict=True)):
        if labels in seen:
            return f"series {format_series_labels(labels)} twice in the result"
        seen.add(labels)
        if labels not in expected:
            return f"unexpected series {format_series_labels(labels)} = {format_value(got)}"
        index, values = expected[labels]
        if ev.ordered and index != pos:
            return f"series {format_series_labels(labels)} at position {pos + 1}, not {index + 1}"
        want = values[0] if values else None
        if isinstance(want, HistogramLiteral):
            return f"expected a histogram for {format_series_labels(labels)}, got a float"
        want = 0.0 if want is None else want
        if not float_equal(want, got):
            return (
                f"{format_series_labels(labels)}: expected {format_value(want)}, "
                f"got {format_value(got)}"
            )
    missing = [lab for lab in expected if lab not in seen]
    if missing:
        return f"missing series {format_series_labels(missing[0])}"
    return None


def _compare_matrix(ev: Eval, mat: Matrix, start_ms: int, end_ms: int, step_ms: int) -> str | None:
    if ev.ordered:
        return "expected an ordered result, got a matrix"
    if ev.scalar is not None:
        return "expected a scalar, got a matrix"
    if ev.string is not None:
        return "expected a string, got a matrix"
    labels_in_order = [s.labels for s in mat.series]
    for a, b in itertools.pairwise(labels_in_order):
        if a == b:
            return f"series {format_series_labels(a)} twice in the result"
        if a > b:
            return (
                f"matrix not sorted by labels: {format_series_labels(a)} before "
                f"{format_series_labels(b)}"
            )
    expected = _expected_by_labels(ev)
    for s in mat.series:
        if s.labels not in expected:
            return f"unexpected series {format_series_labels(s.labels)}"
        _, values = expected[s.labels]
        points: list[tuple[int, float]] = []
        for i, v in enumerate(values):
            t = start_ms + i * step_ms
            if t > end_ms:
                return f"{len(values)} values expected, more than the range has steps"
            if isinstance(v, HistogramLiteral):
                return "histogram points expected"
            if v is not None:
                points.append((t, v))
        got_t = s.timestamps_ms.tolist()
        got_v = s.values.tolist()
        name = format_series_labels(s.labels)
        if len(got_t) != len(points):
            return f"{name}: expected {len(points)} points, got {len(got_t)}"
        for (want_t, want_v), t, v in zip(points, got_t, got_v, strict=True):
            if want_t != t:
                return f"{name}: expected a point at {want_t} ms, got one at {t} ms"
            if not float_equal(want_v, v):
                return f"{name} at {t} ms: expected {format_value(want_v)}, got {format_value(v)}"
    missing = [lab for lab in expected if lab not in {s.labels for s in mat.series}]
    if missing:
        return f"missing series {format_series_labels(missing[0])}"
    return None


def compare_value(
    ev: Eval, value: object, start_ms: int, end_ms: int, step_ms: int
) -> Mismatch | None:
    """Compare a result value; a matrix's expected points sit at ``start + i * step``."""
    if isinstance(value, Vector):
        problem = _compare_vector(ev, value)
    elif isinstance(value, Matrix):
        problem = _compare_matrix(ev, value, start_ms, end_ms, step_ms)
    elif isinstance(value, Scalar):
        if ev.scalar is None:
            problem = "expected a vector, matrix or string, got a scalar"
        elif not float_equal(ev.scalar, value.value):
            problem = f"expected scalar {format_value(ev.scalar)}, got {format_value(value.value)}"
        else:
            problem = None
    elif isinstance(value, String):
        want = ev.string if ev.string is not None else ""
        problem = None if value.value == want else f"expected string {want!r}, got {value.value!r}"
    else:
        problem = f"not a query value: {type(value).__name__}"
    if problem is None:
        return None
    grid = range(start_ms, end_ms + 1, step_ms) if step_ms > 0 else None
    return Mismatch(problem, expected_lines(ev), value_lines(value, grid))
