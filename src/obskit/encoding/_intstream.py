"""Integer streams: the part shared by the delta/dod timestamp and decimal/float value codecs.

An int64 column ``x`` of ``n`` values is stored as its first value, (for order 2) its first
delta, a divisor (gcd of the differences: counters of 512-byte sectors), an offset (median of
the divided differences: a counter's typical increment) and the zigzagged residuals
``diff(x, order) / divisor - offset`` in ``width`` byte planes (``width`` = bytes of the largest
residual, 0 when all are zero)::

    ┌─────────┬──────────────────┬─────────────────┬────────────────┬──────────┐
    │ first   │ first_delta      │ divisor uvarint │ offset svarint │ width u8 │ ... codec fields
    │ svarint │ svarint, order 2 │                 │                │          │
    └─────────┴──────────────────┴─────────────────┴────────────────┴──────────┘
    ┌───────────────────┬───────────────────┬─────┬──────────────────────┐
    │ plane 0: byte 0 of│ plane 1: byte 1 of│ ... │ plane width-1        │  last in the column
    │ n-order residuals │ n-order residuals │     │                      │
    └───────────────────┴───────────────────┴─────┴──────────────────────┘

Byte planes let zstd (page level) see the nearly constant high bytes as long runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from obskit import kernels
from obskit.encoding._header import Reader, put_svarint, put_uvarint, to_int64

# A divisor is only looked for when every difference is far from wrapping around int64.
_SAFE_MAGNITUDE = 2**60
# The gcd is first taken over this many residuals: when that is already 1, the rest is skipped.
_GCD_PROBE = 64


@dataclass(frozen=True, slots=True)
class IntStream:
    """One encoded integer column (see the module docstring)."""

    order: int
    first: int
    first_delta: int
    divisor: int
    offset: int
    width: int
    planes: bytes


def _divisor(d: npt.NDArray[np.int64]) -> int:
    if d.size == 0:
        return 1
    g = int(np.gcd.reduce(d[:_GCD_PROBE]))
    if g > 1 and d.size > _GCD_PROBE:
        g = int(np.gcd.reduce(d))
    return max(g, 1)


def _width(r: npt.NDArray[np.uint64]) -> int:
    if r.size == 0:
        return 0
    return (int(r.max()).bit_length() + 7) // 8


def _bit_cost(r: npt.NDArray[np.uint64]) -> int:
    """Rough size of the residuals in bits: the sum of their bit lengths."""
    return int(np.frexp(r.astype(np.float64))[1].sum())


def encode_int_stream(
    x: npt.NDArray[np.int64], orders: tuple[int, ...], find_divisor: bool
) -> IntStream:
    """The cheapest of the given orders (1, 2) for ``x``; ``len(x) >= 1``."""
    n = x.size
    if find_divisor and n and int(np.abs(x).max()) >= _SAFE_MAGNITUDE:
        find_divisor = False  # also catches -2**63, whose abs() stays negative
    if find_divisor and n and int(x.min()) <= -_SAFE_MAGNITUDE:
        find_divisor = False
    best: tuple[int, int, int, int, npt.NDArray[np.uint64]] | None = None
    for order in orders:
        if n <= order and best is not None:
            break
        eff = min(order, max(n - 1, 1))
        d = np.diff(x.view(np.uint64), n=eff).view(np.int64)  # wraps, like the kernels
        divisor = _divisor(d) if find_divisor else 1
        offset = to_int64(int(np.median(d // divisor))) if d.size else 0
        r = kernels.int_residuals(x, eff, divisor, offset) if n > eff else np.zeros(0, np.uint64)
        cost = _bit_cost(r)
        if best is None or cost < best[0]:
            best = (cost, eff, divisor, offset, r)
    assert best is not None, "BUG: no order tried"
    _, order, divisor, offset, r = best
    width = _width(r)
    first_delta = 0
    if order == 2:
        first_delta = to_int64(int(x[1]) - int(x[0]))
    planes = kernels.pack_planes(r, 0, width)
    return IntStream(order, int(x[0]), first_delta, divisor, offset, width, planes)


def write_int_header(out: bytearray, s: IntStream) -> None:
    """Header fields of ``s`` (its planes go last in the column, written by the caller)."""
    put_svarint(out, s.first)
    if s.order == 2:
        put_svarint(out, s.first_delta)
    put_uvarint(out, s.divisor)
    put_svarint(out, s.offset)
    out.append(s.width)


def read_int_header(r: Reader, order: int) -> tuple[int, int, int, int, int]:
    """``(first, first_delta, divisor, offset, width)`` as written by ``write_int_header``."""
    first = r.svarint()
    first_delta = r.svarint() if order == 2 else 0
    divisor = r.uvarint()
    offset = r.svarint()
    width = r.u8()
    if divisor < 1 or width > 8:
        raise r.corrupt(f"bad divisor {divisor} or width {width}")
    return first, first_delta, divisor, offset, width
