"""Hypothesis strategies shared by the test suite: float and timestamp columns.

Import from test packages directly under ``tests/`` (``from strategies import float_columns``);
pytest puts ``tests/`` on ``sys.path`` for them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

STALE_NAN_BITS = 0x7FF0000000000002  # Prometheus' staleness marker
SPECIAL_FLOATS = np.array(
    [
        0.0,
        -0.0,
        np.inf,
        -np.inf,
        np.nan,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
    ],
    dtype=np.float64,
)
STALE_NAN = np.array([STALE_NAN_BITS], dtype=np.uint64).view(np.float64)[0]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@st.composite
def random_bit_floats(draw: st.DrawFn, min_size: int = 1, max_size: int = 200) -> F64:
    """Any float64 bit patterns (NaN payloads, denormals...), from random bytes."""
    n = draw(st.integers(min_size, max_size))
    raw = draw(st.binary(min_size=8 * n, max_size=8 * n))
    return np.frombuffer(raw, dtype=np.float64).copy()


@st.composite
def decimal_floats(draw: st.DrawFn, min_size: int = 1, max_size: int = 200) -> F64:
    """Counters and gauges with ``decimals`` digits: integer walks divided by 10**decimals."""
    n = draw(st.integers(min_size, max_size))
    decimals = draw(st.integers(0, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    start = draw(st.integers(-(10**12), 10**12))
    step_scale = draw(st.sampled_from([0, 1, 3, 512, 10**4, 10**8]))
    kind = draw(st.sampled_from(["counter", "walk", "noise"]))
    inc = rng.integers(0, step_scale + 1, n) if step_scale else np.zeros(n, dtype=np.int64)
    if kind == "walk":
        inc = inc - step_scale // 2
    m = start + np.cumsum(inc) if kind != "noise" else start + inc
    return m.astype(np.float64) / 10.0**decimals


@st.composite
def full_precision_floats(draw: st.DrawFn, min_size: int = 1, max_size: int = 200) -> F64:
    """Noisy gauges (temperatures), float cumulative sums, and huge or tiny magnitudes."""
    n = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.integers(-300, 300))
    kind = draw(st.sampled_from(["gauge", "sum", "sign_flips"]))
    if kind == "gauge":
        v = 40 + rng.normal(0, 0.3, n).cumsum()
    elif kind == "sum":
        v = rng.lognormal(0, 1, n).cumsum()
    else:
        v = rng.normal(0, 1, n)
    return np.asarray(v * scale, dtype=np.float64)


@st.composite
def with_specials(draw: st.DrawFn, base: st.SearchStrategy[F64]) -> F64:
    """``base`` with a few samples replaced by NaN/staleness/inf/-0.0/denormals."""
    v = draw(base).copy()
    k = draw(st.integers(0, min(4, v.size)))
    for _ in range(k):
        i = draw(st.integers(0, v.size - 1))
        v[i] = draw(st.sampled_from([*SPECIAL_FLOATS.tolist(), float(STALE_NAN)]))
        if draw(st.booleans()):
            v.view(np.uint64)[i] = STALE_NAN_BITS
    return v


def float_columns(min_size: int = 1, max_size: int = 200) -> st.SearchStrategy[F64]:
    """Every kind of value column the codecs must round-trip bit for bit."""
    plain = st.one_of(
        random_bit_floats(min_size, max_size),
        decimal_floats(min_size, max_size),
        full_precision_floats(min_size, max_size),
        st.builds(
            lambda x, n: np.full(n, x, dtype=np.float64),
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(min_size, max_size),
        ),
    )
    return st.one_of(plain, with_specials(plain))


@st.composite
def timestamp_columns(draw: st.DrawFn, min_size: int = 1, max_size: int = 200) -> I64:
    """Regular, jittered, irregular, duplicate and arbitrary int64 millisecond timestamps."""
    n = draw(st.integers(min_size, max_size))
    kind = draw(st.sampled_from(["regular", "jitter", "irregular", "duplicates", "any"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    start = draw(st.integers(-(2**62), 2**62))
    if kind == "any":
        raw = draw(st.binary(min_size=8 * n, max_size=8 * n))
        return np.frombuffer(raw, dtype=np.int64).copy()
    step = draw(st.sampled_from([1, 1000, 15_000, 60_000, 2**40]))
    ts = start + step * np.arange(n, dtype=np.int64)
    if kind == "jitter":
        ts += rng.integers(-step // 3, step // 3 + 1, n)
    elif kind == "irregular":
        ts = start + np.cumsum(rng.integers(0, 3 * step, n))
    elif kind == "duplicates":
        ts = np.repeat(ts, 2)[:n]
    return ts.astype(np.int64)


@st.composite
def related_columns(draw: st.DrawFn, max_size: int = 300) -> list[F64]:
    """The columns of one v2 page: mostly one count, many derived from earlier columns (what the
    encoder's cross-series predictors look for: copies, scalings, sums, float multiples), mixed
    with constants, decimals with exceptions, huge steps and arbitrary columns."""
    n = draw(st.integers(2, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cols: list[F64] = []
    kinds = ["any", "counter", "scaled", "lin2", "sum", "float", "const", "huge", "other_n"]
    with np.errstate(all="ignore"):  # derived from columns holding inf/NaN: fine, just odd
        for _ in range(draw(st.integers(1, 12))):
            kind = draw(st.sampled_from(kinds))
            last = cols[-1] if cols and cols[-1].size == n else None
            if kind == "counter" or (last is None and kind in ("scaled", "lin2", "sum", "float")):
                step = draw(st.sampled_from([1, 7, 4096, 10**6, 2**40]))
                g = draw(st.sampled_from([1, 1, 3, 1024]))
                m = rng.integers(0, step + 1, n).cumsum() * g + int(rng.integers(0, 10**9))
                c = m / 10.0 ** draw(st.integers(0, 3))
            elif kind == "scaled" and last is not None:
                a = draw(st.sampled_from([0.5, 3.0, 1 / 1500, 1e-9, -2.0, 7e8, 1.0]))
                c = np.round(last * a) + rng.integers(-2, 3, n)
            elif kind == "lin2" and last is not None and len(cols) >= 2 and cols[-2].size == n:
                c = np.round(last * 2 - cols[-2] * 0.25) + rng.integers(0, 2, n)
            elif kind == "sum" and last is not None and len(cols) >= 2 and cols[-2].size == n:
                c = -(last + cols[-2]) + draw(st.sampled_from([0.0, 1e9]))
            elif kind == "float" and last is not None:
                base = last if np.all(np.isfinite(last)) else rng.normal(0, 1, n)
                c = base * draw(st.sampled_from([1.25, -3e-5])) + rng.normal(0, 1e-3, n)
            elif kind == "const":
                c = np.full(n, draw(st.sampled_from([0.0, -0.0, 1.5, np.nan, STALE_NAN])))
            elif kind == "huge":  # steps at the limits of the temporal and gcd predictors
                lim = draw(st.sampled_from([2**55, 2**62]))
                g = draw(st.sampled_from([1, 2**10]))
                over = [lim, -lim] if draw(st.booleans()) else []  # just inside, or beyond
                steps = rng.choice(np.array([lim - g, g - lim, g, 0, *over]), n)
                m = np.cumsum(steps.astype(np.uint64)).view(np.int64)  # wraps
                c = m.view(np.float64)
            elif kind == "other_n":
                c = draw(float_columns(min_size=1, max_size=50))
            else:
                c = draw(float_columns(min_size=n, max_size=n))
            c = np.array(c, dtype=np.float64)
            for _ in range(draw(st.integers(0, 3))):  # exceptions: staleness markers, specials
                at = draw(st.integers(0, c.size - 1))
                c[at] = draw(st.sampled_from(SPECIAL_FLOATS.tolist()))
                if draw(st.booleans()):
                    c.view(np.uint64)[at] = STALE_NAN_BITS
            cols.append(c)
    return cols
