"""The v2 encoder's analysis: the C twin chooses exactly the reference's parameters and residuals,
and the reference's arithmetic (cost proxy, least-squares sums) is reproducible."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obskit import kernels
from obskit.encoding import residuals
from obskit.encoding.residuals import ColumnParams, analyse_columns
from strategies import STALE_NAN_BITS, related_columns

NATIVE = kernels.BACKEND == "native"
native_only = pytest.mark.skipif(not NATIVE, reason="obskit._native is not built")


@contextmanager
def backend(name: str) -> Iterator[None]:
    old = kernels.BACKEND
    kernels.BACKEND = name
    try:
        yield
    finally:
        kernels.BACKEND = old


def assert_same_analysis(cols: list[np.ndarray]) -> None:
    with backend("numpy"):
        want_p, want_s = analyse_columns(cols)
    with backend("native"):
        got_p, got_s = analyse_columns(cols)
    for name in ColumnParams.__slots__:
        want, got = getattr(want_p, name), getattr(got_p, name)
        assert got.dtype == want.dtype, name
        assert got.tobytes() == want.tobytes(), name
    assert len(got_s) == len(want_s)
    for got, want in zip(got_s, want_s, strict=True):
        assert got.dtype == want.dtype
        assert got.tobytes() == want.tobytes()


@native_only
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(related_columns())
def test_backends_choose_the_same(cols: list[np.ndarray]) -> None:
    assert_same_analysis(cols)


def _specials_page() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    n = 1440
    counter = rng.integers(0, 5000, n).cumsum().astype(np.float64)
    exc = counter / 100
    exc.view(np.uint64)[rng.integers(0, n, 20)] = STALE_NAN_BITS  # 20 <= n // 64 exceptions
    exc[[7, 9]] = [-0.0, np.inf]
    denormal = rng.integers(1, 50, n).astype(np.float64) * 5e-324
    gauge = 40 + rng.normal(0, 0.3, n).cumsum()
    wild = np.frombuffer(rng.bytes(8 * n), np.float64).copy()
    return [
        counter,
        exc,
        np.full(n, 3.25),
        np.full(n, -0.0),
        denormal,
        gauge,
        gauge * 1.5 + 1e-6,
        wild,
        counter * 8 + 3,
        counter / 1500 + rng.integers(0, 2, n),
        -(counter + counter * 8) + 1e9,
        np.where(rng.random(n) < 0.5, np.nan, gauge),  # too many exceptions: a float column
        np.arange(n, dtype=np.float64) * 2**56,  # a step beyond the temporal predictors
        rng.integers(0, 3, n) * 1e-18,
    ]


@native_only
def test_backends_choose_the_same_on_special_columns() -> None:
    cols = _specials_page()
    assert_same_analysis(cols)
    assert_same_analysis(cols[::-1])
    assert_same_analysis([c[:700] for c in cols] + [c[700:] for c in cols])


def test_special_columns_take_the_expected_classes() -> None:
    p, streams = analyse_columns(_specials_page())
    kinds = p.kind.tolist()
    assert kinds[2] == kinds[3] == residuals.KIND_CONST
    assert kinds[1] == residuals.KIND_DECIMAL and p.n_exc[1] >= 20
    assert kinds[11] == residuals.KIND_FLOAT
    assert len(streams) == len(kinds) - 2


@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=300))
def test_abs_sums_round_the_exact_sum_once(r: list[int]) -> None:
    got = residuals._abs_sums(np.array([r], np.int64))[0]
    assert got == float(sum(abs(x) for x in r))  # Python rounds the exact integer once


@given(st.lists(st.floats(allow_nan=False, width=64), min_size=1, max_size=200))
def test_dot_rows_adds_in_sample_order(a: list[float]) -> None:
    x = np.array(a)
    want = 0.0
    for i, v in enumerate(a):
        want = v * v if i == 0 else want + v * v
    with np.errstate(all="ignore"):
        got = residuals._dot_rows(x[None, :], x[None, :])[0]
    assert got == want or (math.isnan(got) and math.isnan(want))


def test_log2_is_close_to_the_real_one() -> None:
    x = np.concatenate([1.0 + np.linspace(0, 4, 10_001), np.geomspace(1, 2.0**80, 10_001)])
    assert np.max(np.abs(residuals._log2(x) - np.log2(x))) < 2e-5
    assert residuals._log2(np.array([1.0, 2.0, 1024.0])).tolist() == pytest.approx(
        [0.0, 1.0, 10.0], abs=2e-5
    )
