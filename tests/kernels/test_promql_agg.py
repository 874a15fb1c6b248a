"""PromQL grouped aggregation kernel: the C twin gives exactly the numpy reference's arrays, and
the reference agrees with Prometheus' per-group loops written out in plain Python."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit import kernels
from obskit.kernels import _promql

NATIVE = kernels.PROMQL_NATIVE
needs_native = pytest.mark.skipif(
    NATIVE is None, reason="obskit._native is not built (or OBSKIT_PURE_PYTHON=1)"
)
KINDS = _promql.GROUP_KINDS

special = st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, 1e308, -1e308, 1e16, 1e-310, math.inf, -math.inf, math.nan, 0.1]
)
values = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), special)


@st.composite
def grouped(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    n_series = draw(st.integers(1, 9))
    n_steps = draw(st.integers(1, 7))
    n_groups = draw(st.integers(1, n_series))
    gid = np.asarray(
        draw(st.lists(st.integers(0, n_groups - 1), min_size=n_series, max_size=n_series)),
        np.intp,
    )
    cells = n_series * n_steps
    vals = np.asarray(draw(st.lists(values, min_size=cells, max_size=cells)), np.float64)
    present = np.asarray(draw(st.lists(st.booleans(), min_size=cells, max_size=cells)))
    return vals.reshape(n_series, n_steps), present.reshape(n_series, n_steps), gid, n_groups


def _same(a: np.ndarray, b: np.ndarray) -> None:
    """Identical arrays, every NaN matching a NaN (C and numpy NaN payloads differ)."""
    assert a.shape == b.shape
    nan = np.isnan(a)
    assert (nan == np.isnan(b)).all()
    assert np.where(nan, 0.0, a).tobytes() == np.where(nan, 0.0, b).tobytes()


@needs_native
@settings(max_examples=300, deadline=None)
@given(grouped())
def test_native_matches_numpy(case: tuple[np.ndarray, np.ndarray, np.ndarray, int]) -> None:
    assert NATIVE is not None
    vals, present, gid, n_groups = case
    for kind in KINDS.values():
        want, want_count = _promql.group_reduce(kind, vals, present, gid, n_groups)
        got, got_count = NATIVE.group_reduce(kind, vals, present, gid, n_groups)
        _same(want_count, got_count)
        _same(want, got)


@needs_native
def test_native_threads_match_numpy() -> None:
    """Big enough for the C kernel to split the steps over threads: still the same arrays."""
    assert NATIVE is not None
    rng = np.random.default_rng(7)
    vals = rng.normal(0, 1e6, (300, 2000))
    vals[rng.random(vals.shape) < 0.01] = 1e308
    present = rng.random(vals.shape) < 0.9
    gid = rng.integers(0, 7, 300).astype(np.intp)
    for kind in KINDS.values():
        want, want_count = _promql.group_reduce(kind, vals, present, gid, 7)
        got, got_count = NATIVE.group_reduce(kind, vals, present, gid, 7)
        _same(want_count, got_count)
        _same(want, got)


def _kahan_inc(x: float, s: float, c: float) -> tuple[float, float]:
    t = s + x
    if math.isinf(t):
        return t, 0.0
    return t, c + ((s - t) + x if abs(s) >= abs(x) else (x - t) + s)


def _prometheus(op: str, xs: list[float]) -> float:
    """Prometheus' aggregation of one group at one step (engine.go, aggregation())."""
    if op == "count":
        return float(len(xs))
    if op == "sum":
        s, c = xs[0], 0.0
        for x in xs[1:]:
            s, c = _kahan_inc(x, s, c)
        return s if math.isinf(s) else s + c
    if op == "avg":
        s, c, mean, incremental = xs[0], 0.0, 0.0, False
        for n, x in enumerate(xs[1:], start=2):
            if not incremental:
                ns, nc = _kahan_inc(x, s, c)
                if not math.isinf(ns):
                    s, c = ns, nc
                    continue
                incremental = True
                mean, c = s / (n - 1), c / (n - 1)
            q = (n - 1) / n
            mean, c = _kahan_inc(x / n, q * mean, q * c)
        return mean + c if incremental else s / len(xs) + c / len(xs)
    count, mean, total = 0.0, 0.0, 0.0
    for x in xs:
        count += 1
        delta = x - mean
        new_mean = mean + delta / count
        total += delta * (x - new_mean)
        mean = new_mean
    var = total / count
    if op != "stddev":
        return var
    return math.nan if var < 0 or math.isnan(var) else math.sqrt(var)


@settings(max_examples=200, deadline=None)
@given(grouped())
def test_reference_is_prometheus_loop(case: tuple[np.ndarray, np.ndarray, np.ndarray, int]) -> None:
    vals, present, gid, n_groups = case
    for op, kind in KINDS.items():
        got, count = kernels.pq_group_reduce(kind, vals, present, gid, n_groups)
        for g in range(n_groups):
            for k in range(vals.shape[1]):
                xs = [float(vals[s, k]) for s in range(len(gid)) if gid[s] == g and present[s, k]]
                assert count[g, k] == len(xs)
                if xs:
                    want = _prometheus(op, xs)
                    assert (math.isnan(want) and math.isnan(got[g, k])) or (
                        np.float64(want).tobytes() == np.float64(got[g, k]).tobytes()
                    ), (op, xs, want, got[g, k])


def test_overflowing_avg_by_hand() -> None:
    """Two 1e308s overflow the Kahan sum: Prometheus switches to the incremental mean."""
    vals = np.array([[1e308], [1e308], [-1e308]])
    present = np.ones_like(vals, np.bool_)
    gid = np.zeros(3, np.intp)
    avg, count = kernels.pq_group_reduce(KINDS["avg"], vals, present, gid, 1)
    assert count.tolist() == [[3.0]]
    assert avg[0, 0] == pytest.approx(1e308 / 3, rel=1e-12)
    total, _ = kernels.pq_group_reduce(KINDS["sum"], vals, present, gid, 1)
    assert total[0, 0] == math.inf
