"""The C kernels produce exactly the bytes and arrays of the numpy reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from obskit import kernels
from obskit.kernels import _numpy
from strategies import float_columns, timestamp_columns

pytestmark = pytest.mark.skipif(
    kernels.BACKEND != "native",
    reason="obskit._native is not built (or OBSKIT_PURE_PYTHON=1): no C kernels to compare",
)
NATIVE: dict[str, Any] = kernels.NATIVE_KERNELS


def same(a: Any, b: Any) -> None:
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        assert a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    else:
        assert a == b


def both(name: str, *args: Any) -> Any:
    """Run the numpy and C versions of a kernel: same result or the same error type."""
    try:
        want = getattr(_numpy, name)(*args)
    except ValueError:
        with pytest.raises(ValueError):
            NATIVE[name](*args)
        return None
    got = NATIVE[name](*args)
    same(want, got)
    return want


@given(timestamp_columns(min_size=3), st.integers(1, 2), st.integers(-(2**63), 2**63 - 1))
def test_int_residuals_and_decode_ints(x: np.ndarray, order: int, offset: int) -> None:
    r = both("int_residuals", x, order, 1, offset)
    width = 8
    planes = both("pack_planes", r, 0, width)
    first_delta = (int(x[1]) - int(x[0])) % 2**64
    first_delta -= (first_delta >> 63) << 64
    got = both("decode_ints", planes, x.size, order, 1, width, offset, int(x[0]), first_delta)
    assert np.array_equal(got, x)


@given(st.lists(st.integers(-1000, 1000), min_size=2, max_size=100), st.integers(1, 4096))
def test_divisor(steps: list[int], divisor: int) -> None:
    x = np.cumsum(np.asarray(steps, dtype=np.int64) * divisor)
    r = both("int_residuals", x, 1, divisor, 0)
    planes = both("pack_planes", r, 0, 2)
    got = both("decode_ints", planes, x.size, 1, divisor, 2, 0, int(x[0]), 0)
    assert np.array_equal(got, x)


@given(float_columns(), st.integers(0, kernels.MAX_DECIMAL_EXP))
def test_decimal_scale(v: np.ndarray, exp: int) -> None:
    both("decimal_scale", v, exp)


@given(float_columns(min_size=2))
def test_xor(v: np.ndarray) -> None:
    bits = v.view(np.uint64)
    x = both("xor_residuals", bits)
    for lo, hi in ((0, 8), (2, 7), (3, 3)):
        both("pack_planes", x, lo, hi)
    planes = both("pack_planes", x, 0, 8)
    got = both("decode_xor", planes, v.size, 0, 8, int(bits[0]))
    assert np.array_equal(got, bits)


@given(
    st.binary(max_size=64),
    st.integers(-2, 40),
    st.integers(0, 3),
    st.integers(0, 9),
    st.integers(-3, kernels.MAX_DECIMAL_EXP + 2),
)
def test_bad_arguments_fail_alike(buf: bytes, n: int, order: int, width: int, exp: int) -> None:
    both("decode_ints", buf, n, order, 1, width, 0, 0, 0)
    both("decode_decimal", buf, n, order, 3, width, -5, 7, 0, exp)
    both("decode_xor", buf, n, width % 9, 8, 0)


@given(st.lists(st.integers(-(10**15), 10**15), min_size=2, max_size=100), st.integers(0, 6))
def test_decode_decimal(m: list[int], exp: int) -> None:
    x = np.asarray(m, dtype=np.int64)
    r = both("int_residuals", x, 2, 1, 0)
    planes = both("pack_planes", r, 0, 8)
    got = both("decode_decimal", planes, x.size, 2, 1, 8, 0, int(x[0]), int(x[1] - x[0]), exp)
    assert np.array_equal(got, x.astype(np.float64) / 10.0**exp)
