"""topk/bottomk over all steps at once equal Prometheus' per-step bounded heap (filled with the
group's series in label order), also with ties, -0/+0, +-Inf and NaN values, absent series,
fewer series than k and k varying per step. The heap (``_go_heap_select``) follows Go's
container/heap; the vectorized selection only defers to it where the k-th and (k+1)-th tie."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit.model.labels import make_labels
from obskit.promql.aggregate import _go_heap_select, aggregate
from obskit.promql.steps import StepVector

VALUES = [-math.inf, -2.0, -0.0, 0.0, 1.0, 1.0, 2.0, math.inf, math.nan]


@st.composite
def cases(draw: st.DrawFn) -> tuple[StepVector, np.ndarray, str, bool]:
    n_series = draw(st.integers(1, 9))
    n_steps = draw(st.integers(1, 5))
    vals = np.array(
        draw(
            st.lists(
                st.sampled_from(VALUES), min_size=n_series * n_steps, max_size=n_series * n_steps
            )
        ),
        np.float64,
    ).reshape(n_series, n_steps)
    present = np.array(
        draw(st.lists(st.booleans(), min_size=n_series * n_steps, max_size=n_series * n_steps))
    ).reshape(n_series, n_steps)
    # label order differs from row order
    names = draw(st.permutations([f"s{i}" for i in range(n_series)]))
    labels = [make_labels("m", i=name, g="ab"[j % 2]) for j, name in enumerate(names)]
    if draw(st.booleans()):
        k = np.full(n_steps, float(draw(st.integers(-1, n_series + 1))))
    else:
        k = np.array(
            draw(st.lists(st.integers(0, n_series + 1), min_size=n_steps, max_size=n_steps)), float
        )
    vec = StepVector(labels, vals, present, np.zeros(n_series, np.bool_))
    return vec, k, draw(st.sampled_from(["topk", "bottomk"])), draw(st.booleans())


@settings(max_examples=400, deadline=None)
@given(cases())
def test_topk_bottomk_equal_the_heap_at_every_step(
    case: tuple[StepVector, np.ndarray, str, bool],
) -> None:
    vec, k, op, by_group = case
    got, _ = aggregate(op, vec, ["g"] if by_group else [], False, k)
    chosen = {
        (lab, s)
        for lab, row in zip(got.labels, got.present, strict=True)
        for s in np.flatnonzero(row)
    }
    want = set()
    groups = sorted({dict(lab)["g"] if by_group else "" for lab in vec.labels})
    for grp in groups:
        members = sorted(
            (lab, i) for i, lab in enumerate(vec.labels) if not by_group or dict(lab)["g"] == grp
        )
        for s in range(vec.values.shape[1]):
            rows = [i for _, i in members if vec.present[i, s]]
            kk = int(k[s])
            if kk <= 0 or not rows:
                continue
            picked = _go_heap_select(vec.values[rows, s], kk, op)
            want |= {(vec.labels[rows[j]], s) for j in picked}
    assert chosen == want
