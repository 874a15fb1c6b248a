"""PromQL window kernels: the C twins give exactly the numpy reference's arrays, and the
reference itself agrees with plain per-window Python definitions (Prometheus' formulas)."""

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

special = st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, 1e300, -1e300, 1e-310, math.inf, -math.inf, math.nan, 0.1, 3.0]
)
values = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), special)


@st.composite
def series_windows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    n_series = draw(st.integers(0, 4))
    ts_parts, val_parts = [], []
    for _ in range(n_series):
        n = draw(st.integers(0, 30))
        gaps = draw(st.lists(st.integers(1, 40_000), min_size=n, max_size=n))
        start = draw(st.integers(-100_000, 100_000))
        ts_parts.append(start + np.cumsum(np.asarray(gaps, np.int64)))
        val_parts.append(np.asarray(draw(st.lists(values, min_size=n, max_size=n)), np.float64))
    offsets = np.zeros(n_series + 1, np.int64)
    np.cumsum([len(t) for t in ts_parts], out=offsets[1:])
    ts = np.concatenate(ts_parts) if ts_parts else np.empty(0, np.int64)
    vals = np.concatenate(val_parts) if val_parts else np.empty(0, np.float64)
    n_steps = draw(st.integers(1, 12))
    first = draw(st.integers(-150_000, 300_000))
    step = draw(st.integers(1, 60_000))
    ends = first + step * np.arange(n_steps, dtype=np.int64)
    if draw(st.booleans()):
        ends = ends[::-1].copy()  # not monotonic: the binary-search path
    rng = draw(st.integers(1, 300_000))
    return ts.astype(np.int64), vals, offsets, ends, rng


def instant_values(
    ts: np.ndarray, vals: np.ndarray, offsets: np.ndarray, ends: np.ndarray, lookback_ms: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The definition the sampling kernels are checked against: Prometheus' instant selector
    per series s and step k: value and timestamp of the last
    sample in ``(ends[k] - lookback, ends[k]]`` and whether it exists and is not a staleness
    marker (value/timestamp of sample 0 where none exists). Needs a sample when S > 0."""
    _lo, hi = _promql.window_bounds(ts, offsets, ends, lookback_ms)
    idx = hi - 1
    has = idx >= offsets[:-1, None]
    idx = np.where(has, idx, 0)
    t_at: np.ndarray = ts[idx]
    v_at: np.ndarray = vals[idx]
    stale = v_at.view(np.uint64) == np.uint64(_promql.STALE_NAN_BITS)
    present: np.ndarray = has & (t_at > ends[None, :] - lookback_ms) & ~stale
    return v_at, t_at, present


def _same(a: np.ndarray, b: np.ndarray, zero_sign: bool = True) -> None:
    """Identical arrays; for floats every NaN matches a NaN (the sign and payload of a NaN made
    by arithmetic differ between C and numpy, and PromQL prints them all as "NaN"). Without
    ``zero_sign``, -0.0 and 0.0 match too (order statistics pick either of equal values)."""
    assert a.shape == b.shape
    if a.dtype.kind == "f" and not zero_sign:
        assert np.array_equal(a, b, equal_nan=True)
        return
    if a.dtype.kind == "f":
        nan = np.isnan(a)
        assert (nan == np.isnan(b)).all()
        a, b = np.where(nan, 0.0, a), np.where(nan, 0.0, b)
    assert a.tobytes() == b.tobytes()


@needs_native
@settings(max_examples=150, deadline=None)
@given(series_windows(), st.booleans(), st.booleans())
def test_native_matches_numpy(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], counter: bool, rate: bool
) -> None:
    assert NATIVE is not None
    ts, vals, offsets, ends, rng = case
    lo, hi = _promql.window_bounds(ts, offsets, ends, rng)
    nlo, nhi = NATIVE.window_bounds(ts, offsets, ends, rng)
    _same(lo, nlo)
    _same(hi, nhi)
    want, want_ok = _promql.window_rate(ts, vals, lo, hi, ends, rng, counter, rate)
    got, got_ok = NATIVE.window_rate(ts, vals, lo, hi, ends, rng, counter, rate)
    _same(want_ok, got_ok)
    _same(np.where(want_ok, want, 0), np.where(got_ok, got, 0))
    # windows located inside the kernel: the same arrays again
    got, got_ok = NATIVE.series_rate(ts, vals, offsets, ends, rng, counter, rate)
    _same(want_ok, got_ok)
    _same(np.where(want_ok, want, 0), np.where(got_ok, got, 0))
    ref, ref_ok = _promql.series_rate(ts, vals, offsets, ends, rng, counter, rate)
    _same(want_ok, ref_ok)
    _same(np.where(want_ok, want, 0), np.where(ref_ok, ref, 0))
    q = np.linspace(-0.5, 1.5, lo.size).reshape(lo.shape)
    for name, kind in _promql.STAT_KINDS.items():
        param = q if name == "quantile" else None
        _same(
            _promql.window_stat(kind, vals, lo, hi, param),
            NATIVE.window_stat(kind, vals, lo, hi, param),
            zero_sign=name not in ("quantile", "mad"),
        )


@st.composite
def regular_counters(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Series scraped at one steady interval (or with a millisecond of jitter) with steps a
    multiple of it: windows of every series have the same sample times relative to the window
    (the C kernel remembers the factor they give), while the first values range from 0 (the
    start is cut where the counter would be zero) to far above the increase (it is not)."""
    gap = draw(st.integers(1, 20_000))
    n = draw(st.integers(2, 60))
    n_series = draw(st.integers(1, 5))
    firsts = st.one_of(st.sampled_from([0.0, 1e-310, 0.5, 1.0, 2.0, 1e3, 1e300]), values)
    steps = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 1e-300, 1e300]), st.floats(0, 1e3))
    val_parts = []
    for _ in range(n_series):
        incs = draw(st.lists(steps, min_size=n - 1, max_size=n - 1))
        val_parts.append(draw(firsts) + np.concatenate(([0.0], np.cumsum(incs))))
    ts = np.tile(draw(st.integers(-50_000, 50_000)) + gap * np.arange(n, dtype=np.int64), n_series)
    if gap > 2 and draw(st.booleans()):
        # a millisecond of jitter: windows whose first sample sits alike but whose last does not
        bits = st.lists(st.sampled_from([0, 1]), min_size=len(ts), max_size=len(ts))
        ts += np.asarray(draw(bits), np.int64)
    offsets = np.arange(n_series + 1, dtype=np.int64) * n
    per = draw(st.integers(1, 4))
    ends = ts[0] + draw(st.integers(0, gap)) + gap * per * np.arange(n // per + 1, dtype=np.int64)
    rng = gap * draw(st.integers(1, 8)) + draw(st.sampled_from([0, 1, gap // 2]))
    return ts, np.concatenate(val_parts), offsets, ends, rng


@needs_native
@settings(max_examples=200, deadline=None)
@given(regular_counters(), st.booleans(), st.booleans())
def test_native_rate_on_regular_scrapes_matches_numpy(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], counter: bool, rate: bool
) -> None:
    assert NATIVE is not None
    ts, vals, offsets, ends, rng = case
    lo, hi = _promql.window_bounds(ts, offsets, ends, rng)
    want, want_ok = _promql.window_rate(ts, vals, lo, hi, ends, rng, counter, rate)
    for got, got_ok in (
        NATIVE.window_rate(ts, vals, lo, hi, ends, rng, counter, rate),
        NATIVE.series_rate(ts, vals, offsets, ends, rng, counter, rate),
    ):
        _same(want_ok, got_ok)
        _same(np.where(want_ok, want, 0), np.where(got_ok, got, 0))


@needs_native
@settings(max_examples=150, deadline=None)
@given(series_windows(), st.integers(1, 4))
def test_instant_sampling_matches_numpy_and_instant_values(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], sources: int
) -> None:
    """Sampling the series split into several sources (offered in order) gives what
    instant_values gives on the whole series, natively and in numpy."""
    assert NATIVE is not None
    ts, vals, offsets, ends, rng = case
    ends = np.sort(ends)
    vals = vals.copy()
    vals[::4] = np.uint64(_promql.STALE_NAN_BITS).view(np.float64)
    n_rows = len(offsets) - 1
    outs = []
    for impl in (_promql, NATIVE):
        t = np.full((n_rows, len(ends)), np.iinfo(np.int64).min, np.int64)
        v = np.full((n_rows, len(ends)), 7.0)
        for part in range(sources):  # source `part` holds every sources-th sample of a series
            pieces_t, pieces_v, offs = [], [], [0]
            for s in range(n_rows):
                a, b = int(offsets[s]), int(offsets[s + 1])
                pieces_t.append(ts[a:b][part::sources])
                pieces_v.append(vals[a:b][part::sources])
                offs.append(offs[-1] + len(pieces_t[-1]))
            impl.sample_columns(
                np.concatenate(pieces_t) if n_rows else np.empty(0, np.int64),
                np.concatenate(pieces_v) if n_rows else np.empty(0),
                np.asarray(offs, np.int64),
                np.arange(n_rows, dtype=np.int64)[::-1].copy(),  # rows in another order
                ends,
                rng,
                v,
                t,
            )
        outs.append((t.copy(), v.copy(), *impl.instant_finish(v, t, ends, rng), v))
    (t0, v0, p0, k0, n0, f0), (t1, v1, p1, k1, n1, f1) = outs
    _same(t0, t1)
    assert v0.tobytes() == v1.tobytes()
    _same(p0, p1)
    _same(k0, k1)
    assert n0 == n1
    assert f0.tobytes() == f1.tobytes()
    if len(ts):
        want_v, want_t, want_p = instant_values(ts, vals, offsets, ends, rng)
        got_p = p0[::-1]
        _same(want_p, got_p)
        assert np.where(want_p, want_v, 0).tobytes() == f0[::-1].tobytes()
        _same(np.where(want_p, want_t, 0), np.where(got_p, t0[::-1], 0))


def _kahan(xs: list[float]) -> float:
    s = c = 0.0
    for x in xs:
        t = s + x
        if math.isinf(t):
            c = 0.0
        elif abs(s) >= abs(x):
            c += (s - t) + x
        else:
            c += (x - t) + s
        s = t
    return s if math.isinf(s) else s + c


def test_window_definitions_by_hand() -> None:
    ts = np.array([0, 15_000, 30_000, 45_000, 60_000, 75_000], np.int64)
    vals = np.array([1.0, 5.0, 2.0, 8.0, 1e16, -1e16])
    offsets = np.array([0, 6], np.int64)
    ends = np.array([60_000, 75_000], np.int64)
    lo, hi = kernels.pq_window_bounds(ts, offsets, ends, 60_000)
    # (0, 60s] holds 15s..60s; (15s, 75s] holds 30s..75s: left-open windows as Prometheus 3.
    assert lo.tolist() == [[1, 2]] and hi.tolist() == [[5, 6]]
    sums = kernels.pq_window_stat(_promql.STAT_KINDS["sum"], vals, lo, hi)
    assert sums[0, 1] == _kahan([2.0, 8.0, 1e16, -1e16]) == 10.0
    # increase over (0, 60s]: 5 -> 2 is a reset: (1e16 - 5) + 5; extrapolated to the counter's
    # zero point (45 s * 5 / 1e16 before the first sample), not to the window start.
    inc, ok = kernels.pq_window_rate(ts, vals, lo, hi, ends, 60_000, True, False)
    assert ok.all()
    expected = 1e16 * ((45.0 + 45.0 * (5.0 / 1e16) + 0.0) / 45.0)
    assert inc[0, 0] == pytest.approx(expected, rel=1e-12)
    q = np.full(lo.shape, 0.5)
    med = kernels.pq_window_stat(_promql.STAT_KINDS["quantile"], vals, lo, hi, q)
    assert med[0, 0] == pytest.approx(6.5)


@needs_native
def test_native_threads_match_numpy() -> None:
    """Big enough for the C kernels to split series and windows over threads (and to skip the
    reset loop of series without resets): still exactly the numpy arrays."""
    assert NATIVE is not None
    rng = np.random.default_rng(11)
    n_series, per_series = 120, 1500
    ts = (np.arange(per_series, dtype=np.int64) * 15_000)[None, :].repeat(n_series, 0)
    ts = (ts + rng.integers(0, 3_000, ts.shape)).ravel()
    vals = np.cumsum(rng.random((n_series, per_series)), axis=1)
    vals[::7, 700:] -= 50.0  # counter resets in every 7th series
    vals = vals.ravel()
    offsets = np.arange(n_series + 1, dtype=np.int64) * per_series
    ends = np.arange(300_000, per_series * 15_000, 20_000, dtype=np.int64)
    lo, hi = _promql.window_bounds(ts, offsets, ends, 300_000)
    nlo, nhi = NATIVE.window_bounds(ts, offsets, ends, 300_000)
    _same(lo, nlo)
    _same(hi, nhi)
    for counter, rate in ((True, True), (True, False), (False, False)):
        want, want_ok = _promql.window_rate(ts, vals, lo, hi, ends, 300_000, counter, rate)
        got, got_ok = NATIVE.window_rate(ts, vals, lo, hi, ends, 300_000, counter, rate)
        _same(want_ok, got_ok)
        _same(want, got)
        got, got_ok = NATIVE.series_rate(ts, vals, offsets, ends, 300_000, counter, rate)
        _same(want_ok, got_ok)
        _same(want, got)
    q = np.full(lo.shape, 0.75)
    for name, kind in _promql.STAT_KINDS.items():
        param = q if name == "quantile" else None
        _same(
            _promql.window_stat(kind, vals, lo, hi, param),
            NATIVE.window_stat(kind, vals, lo, hi, param),
        )


def test_instant_values_by_hand() -> None:
    stale = np.uint64(_promql.STALE_NAN_BITS).view(np.float64)
    ts = np.array([0, 15_000, 30_000, 100_000, 200_000], np.int64)
    vals = np.array([1.0, 2.0, stale, 4.0, 5.0])
    offsets = np.array([0, 3, 5], np.int64)
    ends = np.array([20_000, 40_000, 120_000, 500_000], np.int64)
    v, t, present = instant_values(ts, vals, offsets, ends, 60_000)
    # series 0: 15s at 20s; the marker at 30s hides it at 40s; nothing within 60s at 120s
    assert present[0].tolist() == [True, False, False, False]
    assert v[0, 0] == 2.0 and t[0, 0] == 15_000
    # series 1: nothing before 100s; 100s at 120s; 200s is 300s old at 500s
    assert present[1].tolist() == [False, False, True, False]
    assert v[1, 2] == 4.0 and t[1, 2] == 100_000


@needs_native
@pytest.mark.parametrize("offsets", [[0, 5, 3], [-1, 2], [0, 9]])
def test_native_refuses_offsets_outside_the_samples(offsets: list[int]) -> None:
    assert NATIVE is not None
    ts = np.arange(4, dtype=np.int64) * 1000
    vals = np.ones(4)
    off = np.array(offsets, np.int64)
    ends = np.array([3000], np.int64)
    with pytest.raises(ValueError, match="offsets out of range"):
        NATIVE.series_rate(ts, vals, off, ends, 5000, True, True)
    with pytest.raises(ValueError, match="offsets out of range"):
        NATIVE.window_bounds(ts, off, ends, 5000)
