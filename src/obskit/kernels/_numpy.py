"""Readable numpy reference of the column kernels used by ``obskit.encoding``.

Every function here has a twin of the same name and signature in the compiled ``obskit._native``
(``native/obskit_native.c``, wrapped by ``kernels/__init__.py``); a parity test checks that both
produce identical bytes and arrays. Codec choice, headers and validation of header fields live in
``obskit.encoding``; these kernels only transform whole columns, with no Python loop per sample.

Shared vocabulary:

* **wrapping arithmetic**: differences and prefix sums are taken modulo 2**64 (done on ``uint64``
  views), so any int64 column round-trips, even when neighbouring values are 2**63 apart.
* **zigzag**: ``zz(d) = (d << 1) ^ (d >> 63)`` maps small signed integers to small unsigned ones.
* **residuals of order k**: ``zz(diff(x, k) // divisor - offset)``; the caller guarantees the
  division is exact and keeps the first ``k`` values (``x[0]``, and ``x[1] - x[0]`` for k=2)
  apart. ``offset`` (frame of reference, e.g. the median increment of a counter) centres the
  residuals on 0 so they fit in fewer bytes.
* **byte planes**: bytes ``lo .. hi-1`` of ``n`` uint64 words written plane by plane (all byte
  ``lo``, then all byte ``lo+1`` ...). zstd then sees long runs of similar bytes.

Invalid input is a ``ValueError`` (``kernels/__init__.py`` documents which arguments are checked).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "decimal_scale",
    "decode_decimal",
    "decode_ints",
    "decode_xor",
    "int_residuals",
    "pack_planes",
    "xor_residuals",
]

_U64 = np.uint64
# Powers of ten are exact in float64 up to 10**22; the decimal codec stays far below that.
MAX_DECIMAL_EXP = 18
_POW10 = 10.0 ** np.arange(MAX_DECIMAL_EXP + 1, dtype=np.float64)
# Scaled values at or beyond 2**53 would not convert to int64 and back exactly.
_MAX_EXACT = float(2**53)


def _zigzag(d: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    signed = d.view(np.int64)
    return ((d << _U64(1)) ^ (signed >> np.int64(63)).view(np.uint64)).astype(np.uint64)


def _unzigzag(u: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    return (u >> _U64(1)) ^ (_U64(0) - (u & _U64(1)))


def int_residuals(
    x: npt.NDArray[np.int64], order: int, divisor: int, offset: int
) -> npt.NDArray[np.uint64]:
    """``zz(diff(x, order) // divisor - offset)``, ``len(x) - order`` words."""
    if order not in (1, 2) or x.size < order or divisor < 1:
        raise ValueError(f"cannot take order-{order} residuals of {x.size} values")
    d = x.view(np.uint64)
    for _ in range(order):
        d = d[1:] - d[:-1]
    if divisor != 1:
        d = (d.view(np.int64) // np.int64(divisor)).view(np.uint64)
    return _zigzag(d - _U64(offset & 0xFFFF_FFFF_FFFF_FFFF))


def xor_residuals(bits: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """``bits[i] ^ bits[i - 1]`` for i >= 1; ``len(bits) - 1`` words."""
    if bits.size < 1:
        raise ValueError("cannot take xor residuals of 0 values")
    return np.bitwise_xor(bits[1:], bits[:-1])


def pack_planes(u: npt.NDArray[np.uint64], lo: int, hi: int) -> bytes:
    """Bytes ``lo .. hi-1`` of every little-endian word of ``u``, one plane after another."""
    if not 0 <= lo <= hi <= 8:
        raise ValueError(f"cannot pack bytes {lo}..{hi} of 8-byte words")
    as_bytes = u.astype("<u8", copy=False).view(np.uint8).reshape(-1, 8)
    return np.ascontiguousarray(as_bytes[:, lo:hi].T).tobytes()


def _unpack_planes(buf: bytes | memoryview, n: int, lo: int, hi: int) -> npt.NDArray[np.uint64]:
    width = hi - lo
    if len(buf) != n * width:
        raise ValueError(f"byte planes hold {len(buf)} bytes, expected {n * width}")
    words = np.zeros((n, 8), dtype=np.uint8)
    words[:, lo:hi] = np.frombuffer(buf, dtype=np.uint8).reshape(width, n).T
    return words.view("<u8").reshape(n).astype(np.uint64, copy=False)


def decode_ints(
    buf: bytes | memoryview,
    n: int,
    order: int,
    divisor: int,
    width: int,
    offset: int,
    first: int,
    first_delta: int,
) -> npt.NDArray[np.int64]:
    """Inverse of ``int_residuals`` + ``pack_planes(.., 0, width)``; ``n`` values."""
    if n < 1 or order not in (1, 2) or not 0 <= width <= 8:
        raise ValueError(f"cannot decode {n} values of order {order}, width {width}")
    k = max(n - order, 0)
    d = _unzigzag(_unpack_planes(buf, k, 0, width)) + _U64(offset & 0xFFFF_FFFF_FFFF_FFFF)
    d *= _U64(divisor & 0xFFFF_FFFF_FFFF_FFFF)
    out = np.empty(n, dtype=np.uint64)
    out[0] = _U64(first & 0xFFFF_FFFF_FFFF_FFFF)
    if order == 2 and n >= 2:
        deltas = np.empty(n - 1, dtype=np.uint64)
        deltas[0] = _U64(first_delta & 0xFFFF_FFFF_FFFF_FFFF)
        np.cumsum(d, out=deltas[1:])
        deltas[1:] += deltas[0]
        d = deltas
    if n >= 2:
        np.cumsum(d, out=out[1:])
        out[1:] += out[0]
    return out.view(np.int64)


def decimal_scale(values: npt.NDArray[np.float64], exp: int) -> tuple[npt.NDArray[np.int64], int]:
    """``m = round(v * 10**exp)`` and how many ``m / 10**exp`` differ from ``v`` bit for bit.

    Rounding is half-to-even. ``m`` is 0 where ``v * 10**exp`` is not finite or not below 2**53
    in magnitude (such values always count as mismatches).
    """
    if not 0 <= exp <= MAX_DECIMAL_EXP:
        raise ValueError(f"decimal exponent {exp} out of range")
    with np.errstate(over="ignore", invalid="ignore"):  # huge and non-finite values just mismatch
        scaled = np.round(values * _POW10[exp])
    ok = np.abs(scaled) < _MAX_EXACT  # False for NaN and inf
    m = np.where(ok, scaled, 0.0).astype(np.int64)
    back = m.astype(np.float64) / _POW10[exp]
    same = (back.view(np.uint64) == values.view(np.uint64)) & ok
    return m, int(m.size - np.count_nonzero(same))


def decode_decimal(
    buf: bytes | memoryview,
    n: int,
    order: int,
    divisor: int,
    width: int,
    offset: int,
    first: int,
    first_delta: int,
    exp: int,
) -> npt.NDArray[np.float64]:
    """``decode_ints(...) / 10**exp`` as float64."""
    if not 0 <= exp <= MAX_DECIMAL_EXP:
        raise ValueError(f"decimal exponent {exp} out of range")
    m = decode_ints(buf, n, order, divisor, width, offset, first, first_delta)
    out: npt.NDArray[np.float64] = m.astype(np.float64) / _POW10[exp]
    return out


def decode_xor(
    buf: bytes | memoryview, n: int, lo: int, hi: int, first: int
) -> npt.NDArray[np.uint64]:
    """Inverse of ``xor_residuals`` + ``pack_planes(.., lo, hi)`` with ``first`` = bits[0]."""
    if n < 1 or not 0 <= lo <= hi <= 8:
        raise ValueError(f"cannot decode {n} xor values of bytes {lo}..{hi}")
    x = _unpack_planes(buf, n - 1, lo, hi)
    out = np.empty(n, dtype=np.uint64)
    out[0] = _U64(first)
    if n >= 2:
        out[1:] = np.bitwise_xor.accumulate(x)
        out[1:] ^= out[0]
    return out


def sort_samples(
    ids: npt.NDArray[np.int64], ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Sort samples by (id, ts), stably, keeping only the last of equal (id, ts).

    The store's merge kernel: "last write wins". When ids and the timestamp span fit in one int64
    the pair is packed into a single key (runs already in order merge in linear time); otherwise
    ``np.lexsort`` does the same more slowly.
    """
    n = len(ids)
    if n >= 2:
        # Compared pairwise, not by np.diff: a difference of extreme timestamps would wrap.
        same_id = ids[1:] == ids[:-1]
        in_order = not (ids[1:] < ids[:-1]).any() and not (same_id & (ts[1:] < ts[:-1])).any()
        if not in_order:
            ts_min = int(ts.min())
            bits = max((int(ts.max()) - ts_min).bit_length(), 1)
            if int(ids.min()) >= 0 and int(ids.max()).bit_length() + bits <= 62:
                order = np.argsort((ids << bits) | (ts - ts_min), kind="stable")
            else:
                order = np.lexsort((ts, ids))
            ids, ts, values = ids[order], ts[order], values[order]
    if n < 2:
        return ids.copy(), ts.copy(), values.copy()
    last = np.empty(n, dtype=bool)
    np.not_equal(ids[1:], ids[:-1], out=last[:-1])
    last[:-1] |= ts[1:] != ts[:-1]
    last[-1] = True
    return ids[last], ts[last], values[last]


def merge_samples(
    a: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]],
    b: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Merge two runs each sorted and unique by (id, ts); ``b`` wins on equal (id, ts)."""
    return sort_samples(
        np.concatenate((a[0], b[0])), np.concatenate((a[1], b[1])), np.concatenate((a[2], b[2]))
    )


def concat_runs(
    ts_sources: Sequence[npt.NDArray[np.int64]],
    value_sources: Sequence[npt.NDArray[np.float64]],
    run_src: npt.NDArray[np.int64],
    run_start: npt.NDArray[np.int64],
    run_count: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Lay run ``r`` = ``[run_start[r], +run_count[r])`` of source ``run_src[r]`` end to end."""
    bases = np.cumsum([0] + [len(t) for t in ts_sources])[:-1].astype(np.int64)
    total = int(run_count.sum())
    starts = bases[run_src] + run_start if len(run_src) else run_start
    out_starts = np.cumsum(run_count) - run_count
    idx = np.repeat(starts - out_starts, run_count) + np.arange(total, dtype=np.int64)
    ts = np.concatenate(ts_sources) if ts_sources else np.empty(0, np.int64)
    values = np.concatenate(value_sources) if value_sources else np.empty(0, np.float64)
    return ts[idx], values[idx]
