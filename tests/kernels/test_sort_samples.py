"""The merge kernel: native sort_samples equals the numpy reference (counting and radix paths)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit import kernels
from obskit.kernels import _numpy

native = pytest.mark.skipif(
    kernels.BACKEND != "native",
    reason="obskit._native is not built (or OBSKIT_PURE_PYTHON=1): no C kernels to compare",
)


def same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return all(
        x.dtype == y.dtype and len(x) == len(y) and (x.view(np.uint64) == y.view(np.uint64)).all()
        for x, y in zip(a, b, strict=True)
    )


@native
@given(
    st.lists(
        st.tuples(
            st.one_of(st.integers(0, 5), st.integers(-(2**62), 2**62)),
            st.one_of(st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1)),
            st.integers(0, 2**64 - 1),
        ),
        max_size=80,
    )
)
@settings(max_examples=400)
def test_native_sort_samples_matches_numpy(rows: list[tuple[int, int, int]]) -> None:
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    ts = np.array([r[1] for r in rows], dtype=np.int64)
    values = np.array([r[2] for r in rows], dtype=np.uint64).view(np.float64)
    assert same(
        kernels.NATIVE_KERNELS["sort_samples"](ids, ts, values),  # type: ignore[operator]
        _numpy.sort_samples(ids, ts, values),
    )


@native
@pytest.mark.parametrize("id_range", [100, 10**9])
def test_large_batches_match(id_range: int) -> None:
    rng = np.random.default_rng(id_range)
    n = 200_000
    ids = rng.integers(0, id_range, n)
    ts = rng.integers(0, 1000, n) * 15_000
    values = rng.normal(size=n)
    assert same(
        kernels.NATIVE_KERNELS["sort_samples"](ids, ts, values),  # type: ignore[operator]
        _numpy.sort_samples(ids, ts, values),
    )


@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(-5, 5), st.floats()), max_size=40),
    st.lists(st.tuples(st.integers(0, 4), st.integers(-5, 5), st.floats()), max_size=40),
)
def test_merge_samples_equals_sorting_the_concatenation(
    a_rows: list[tuple[int, int, float]], b_rows: list[tuple[int, int, float]]
) -> None:
    def run(rows: list[tuple[int, int, float]]) -> tuple[np.ndarray, ...]:
        return _numpy.sort_samples(
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows], dtype=np.int64),
            np.array([r[2] for r in rows], dtype=np.float64),
        )

    a, b = run(a_rows), run(b_rows)
    want = _numpy.sort_samples(*(np.concatenate((x, y)) for x, y in zip(a, b, strict=True)))
    assert same(kernels.merge_samples(a, b), want)
    assert same(_numpy.merge_samples(a, b), want)


@native
@given(st.lists(st.lists(st.integers(-5, 5), max_size=12), min_size=1, max_size=4), st.data())
def test_native_concat_runs_matches_numpy(sources: list[list[int]], data: st.DataObject) -> None:
    ts_sources = [np.array(s, np.int64) for s in sources]
    value_sources = [t.astype(np.float64) * 0.5 for t in ts_sources]
    runs = data.draw(st.lists(st.integers(0, len(sources) - 1), max_size=10))
    src, start, count = [], [], []
    for k in runs:
        n = len(sources[k])
        a = data.draw(st.integers(0, n))
        src.append(k)
        start.append(a)
        count.append(data.draw(st.integers(0, n - a)))
    args = (np.array(src, np.int64), np.array(start, np.int64), np.array(count, np.int64))
    want = _numpy.concat_runs(ts_sources, value_sources, *args)
    got = kernels.NATIVE_KERNELS["concat_runs"](ts_sources, value_sources, *args)  # type: ignore[operator]
    assert same(tuple(got), tuple(want))
