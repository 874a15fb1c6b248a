"""The all-steps histogram_quantile path gives the per-step function's answers bit for bit."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit.promql.functions import _bucket_quantile, _bucket_quantile_steps, histogram_quantile
from obskit.promql.steps import StepVector

bounds_st = st.lists(
    st.sampled_from([-math.inf, -1.0, 0.0, 0.005, 0.1, 0.1, 0.5, 1.0, 2.5, 10.0, math.inf]),
    min_size=1,
    max_size=8,
)
count_st = st.one_of(
    st.floats(0, 1e6, allow_nan=False),
    st.sampled_from([0.0, 1.0, 1.0 + 1e-13, 3.0, math.nan, math.inf, -2.0]),
)
q_st = st.sampled_from([0.0, 0.25, 0.5, 0.9, 0.99, 1.0, -0.5, 1.5, math.nan])


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=200)
@given(
    bounds=bounds_st,
    data=st.data(),
    k=st.integers(1, 6),
)
def test_steps_match_per_step(bounds: list[float], data: st.DataObject, k: int) -> None:
    b = np.array(sorted(bounds))
    counts = np.array(
        [[data.draw(count_st) for _ in range(k)] for _ in range(len(b))], dtype=np.float64
    )
    # mostly cumulative columns, sometimes not (monotonicity fixes)
    if data.draw(st.booleans()):
        counts = np.cumsum(np.abs(np.nan_to_num(counts, nan=1.0, posinf=5.0)), axis=0)
    q = np.array([data.draw(q_st) for _ in range(k)])
    values, forced, handled = _bucket_quantile_steps(q, b, counts)
    for j in range(k):
        if not handled[j]:
            continue
        with np.errstate(all="ignore"):  # the reference multiplies numpy scalars (0 * inf)
            want, want_forced = _bucket_quantile(float(q[j]), b, counts[:, j].copy())
        assert _same(float(values[j]), want), (j, values[j], want)
        assert bool(forced[j]) == want_forced


def test_histogram_quantile_mixed_presence() -> None:
    """Steps with a missing bucket still go through the per-step path."""
    labels = [(("__name__", "h_bucket"), ("le", le)) for le in ("0.1", "1", "+Inf")]
    values = np.array([[1.0, 2.0, 5.0], [3.0, 2.0, 6.0], [4.0, 9.0, 5.5]])
    present = np.array([[True, False, True], [True, True, True], [True, True, True]])
    vec = StepVector(labels, values, present, np.ones(3, np.bool_))
    out, notes = histogram_quantile(np.full(3, 0.5), vec)
    want = [
        _bucket_quantile(0.5, np.array([0.1, 1.0, math.inf]), values[:, 0].copy())[0],
        _bucket_quantile(0.5, np.array([1.0, math.inf]), values[1:, 1].copy())[0],
        _bucket_quantile(0.5, np.array([0.1, 1.0, math.inf]), values[:, 2].copy())[0],
    ]
    assert out.values[0].tolist() == want
    assert any("monotonicity" in text for _, text in notes)  # step 2: 6 > 5.5
