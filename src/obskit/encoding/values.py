"""Value column codecs (float64, bit-exact: NaN payloads, ±inf, -0.0 and denormals round-trip).

Every encoded column starts with its codec id and sample count; the body depends on the codec::

    ┌──────────┬───────────────┬─────────────────────────────────────────────────────────┐
    │ codec u8 │ count uvarint │ body                                                    │
    └──────────┴───────────────┴─────────────────────────────────────────────────────────┘
    0x00 raw            count x float64 little-endian
    0x01 const          float64 little-endian (every sample has these bits)
    0x02 decimal-delta  ┌────────┬───────────────┬─────────────────────┬──────────────┬───────────┐
    0x03 decimal-dod    │ exp u8 │ n_exc uvarint │ exception positions │ exception    │ int stream│
                        │        │               │ uvarint gaps        │ bits 8*n_exc │ order 1|2 │
                        └────────┴───────────────┴─────────────────────┴──────────────┴───────────┘
                        v[i] = m[i] / 10**exp (float64 division), m the int stream (_intstream);
                        samples that are not such decimals (NaN staleness markers, -0.0, ...)
                        are exceptions: their raw bits are patched in, m holds its neighbour.
    0x04 xor            ┌──────────────┬───────┬───────┬────────────────────────────────────┐
                        │ first u64 LE │ lo u8 │ hi u8 │ bytes lo..hi-1 of bits[i]^bits[i-1]│
                        └──────────────┴───────┴───────┴────────────────────────────────────┘
                        as byte planes, i = 1..count-1 (the other bytes are zero)
    0x05 float-delta    int stream of order 1 over the float64 bit patterns read as int64
    0x06 float-dod      int stream of order 2 over the same (smooth positive series, _sum)

``encode_values`` tries the codecs that apply and keeps the smallest: const, then decimal (the
smallest exponent that makes all but a few samples exact), else the float codecs compared by
their zstd-compressed size (they are the expensive ones, so it pays to measure).
"""

from __future__ import annotations

import cramjam
import numpy as np
import numpy.typing as npt

from obskit import kernels
from obskit.encoding._header import Reader, put_uvarint
from obskit.encoding._intstream import (
    IntStream,
    encode_int_stream,
    read_int_header,
    write_int_header,
)
from obskit.encoding.codecs import VALUE_CODECS, Codec
from obskit.errors import CorruptDataError

__all__ = ["decode_values", "encode_values"]

MAX_COUNT = 1 << 40  # bounds allocations made from a damaged header
# At most 1 in 64 samples may be exceptions of a decimal column (8+ bytes each); beyond that a
# larger exponent or a float codec is cheaper.
_EXCEPTION_RATIO = 64
# The exponent search first looks at about this many samples, so float columns fail fast.
_PROBE_SAMPLES = 256
# zstd level used only to compare float codec candidates (fast, ranks like the page levels).
_PROBE_ZSTD_LEVEL = 1


def encode_values(values: npt.NDArray[np.float64], codec: str | None = None) -> bytes:
    """Encode a float64 column with the best codec, or the one named by ``codec``."""
    v = np.ascontiguousarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"cannot encode values of shape {v.shape}: need one dimension")
    forced = None if codec is None else VALUE_CODECS.get(codec)
    if codec is not None and forced is None:
        raise ValueError(f"cannot encode values with unknown codec {codec!r}")
    n = v.size
    bits = v.view(np.uint64)
    if n == 0 or forced == Codec.RAW:
        return bytes(_header(Codec.RAW, n) + v.astype("<f8", copy=False).tobytes())
    is_const = bool(np.all(bits == bits[0]))
    if forced == Codec.CONST or (forced is None and is_const):
        if not is_const:
            raise ValueError("cannot encode varying values with codec 'const'")
        return bytes(_header(Codec.CONST, n) + bits[:1].astype("<u8").tobytes())
    if forced in (None, Codec.DECIMAL_DELTA, Codec.DECIMAL_DOD):
        found = _find_decimal(v, n // _EXCEPTION_RATIO)
        if found is None and forced is not None:
            found = _find_decimal(v, n)  # forced: every sample may be an exception
        if found is not None:
            orders = {Codec.DECIMAL_DELTA: (1,), Codec.DECIMAL_DOD: (2,)}.get(forced, (1, 2))  # type: ignore[arg-type]
            return _encode_decimal(v, *found, orders)
        if forced is not None:
            raise AssertionError("BUG: every column is a decimal when exceptions are unlimited")
    candidates = []
    if forced in (None, Codec.XOR):
        candidates.append(_encode_xor(bits))
    if forced in (None, Codec.FLOAT_DELTA, Codec.FLOAT_DOD):
        orders = {Codec.FLOAT_DELTA: (1,), Codec.FLOAT_DOD: (2,)}.get(forced, (1, 2))  # type: ignore[arg-type]
        s = encode_int_stream(bits.view(np.int64), orders, find_divisor=False)
        out = _header(Codec.FLOAT_DELTA if s.order == 1 else Codec.FLOAT_DOD, n)
        write_int_header(out, s)
        candidates.append(out + s.planes)
    if forced is None:
        candidates.append(_header(Codec.RAW, n) + v.astype("<f8", copy=False).tobytes())
    if len(candidates) == 1:
        return bytes(candidates[0])
    return bytes(candidates[smallest_compressed(candidates)])


def smallest_compressed(candidates: list[bytearray] | list[memoryview]) -> int:
    """Index of the candidate zstd shrinks most (the first of equals): how float codecs compete."""
    sizes = [len(cramjam.zstd.compress(bytes(c), _PROBE_ZSTD_LEVEL)) for c in candidates]
    return sizes.index(min(sizes))


def _header(codec: Codec, n: int) -> bytearray:
    out = bytearray([codec])
    put_uvarint(out, n)
    return out


def _find_decimal(
    v: npt.NDArray[np.float64], limit: int
) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.bool_]] | None:
    """Smallest exponent with at most ``limit`` exceptions: ``(exp, m, exception mask)``."""
    probe = np.ascontiguousarray(v[:: max(1, v.size // _PROBE_SAMPLES)])
    probe_limit = probe.size * limit // v.size
    for exp in range(kernels.MAX_DECIMAL_EXP + 1):
        if kernels.decimal_scale(probe, exp)[1] > probe_limit:
            continue
        m, bad = kernels.decimal_scale(v, exp)
        if bad <= limit:
            mask = np.zeros(v.size, dtype=np.bool_)
            if bad:
                with np.errstate(invalid="ignore"):
                    back = m.astype(np.float64) / 10.0**exp
                mask = back.view(np.uint64) != v.view(np.uint64)
            return exp, m, mask
    return None


def _encode_decimal(
    v: npt.NDArray[np.float64],
    exp: int,
    m: npt.NDArray[np.int64],
    mask: npt.NDArray[np.bool_],
    orders: tuple[int, ...],
) -> bytes:
    n = v.size
    positions = np.flatnonzero(mask)
    if positions.size == n:
        m = np.zeros(n, dtype=np.int64)
    elif positions.size:
        # Exceptions repeat their neighbour's m, so they cost nothing in the int stream.
        idx = np.where(mask, 0, np.arange(n))
        idx[: int(np.argmin(mask))] = int(np.argmin(mask))
        m = m[np.maximum.accumulate(idx)]
    s: IntStream = encode_int_stream(m, orders, find_divisor=True)
    out = _header(Codec.DECIMAL_DELTA if s.order == 1 else Codec.DECIMAL_DOD, n)
    out.append(exp)
    put_uvarint(out, positions.size)
    prev = -1
    for p in positions.tolist():  # exceptions are rare (at most n/64 unless forced)
        put_uvarint(out, p - prev - 1)
        prev = p
    out += v.view(np.uint64)[positions].astype("<u8").tobytes()
    write_int_header(out, s)
    return bytes(out + s.planes)


def _encode_xor(bits: npt.NDArray[np.uint64]) -> bytearray:
    x = kernels.xor_residuals(bits)
    used = int(np.bitwise_or.reduce(x)) if x.size else 0
    lo = hi = 0
    if used:
        lo = ((used & -used).bit_length() - 1) // 8
        hi = (used.bit_length() + 7) // 8
    out = _header(Codec.XOR, bits.size)
    out += bits[:1].astype("<u8").tobytes()
    out += bytes([lo, hi])
    return out + kernels.pack_planes(x, lo, hi)


def decode_values(buf: bytes | memoryview) -> npt.NDArray[np.float64]:
    """Decode a column written by ``encode_values``; damage raises ``CorruptDataError``."""
    r = Reader(buf, "value column")
    codec = r.u8()
    n = r.uvarint()
    if n > MAX_COUNT:
        raise r.corrupt(f"implausible sample count {n}")
    if codec == Codec.RAW:
        return np.frombuffer(r.rest(8 * n), dtype="<f8").astype(np.float64)
    if n == 0:
        raise r.corrupt(f"codec {codec:#04x} with 0 samples")
    try:
        if codec == Codec.CONST:
            bits = np.frombuffer(r.rest(8), dtype="<u8").astype(np.uint64)
            return np.repeat(bits, n).view(np.float64)
        if codec in (Codec.DECIMAL_DELTA, Codec.DECIMAL_DOD):
            return _decode_decimal(r, n, 1 if codec == Codec.DECIMAL_DELTA else 2)
        if codec in (Codec.FLOAT_DELTA, Codec.FLOAT_DOD):
            order = 1 if codec == Codec.FLOAT_DELTA else 2
            if n <= order and order == 2:
                raise r.corrupt(f"dod column of {n} samples")
            first, first_delta, divisor, offset, width = read_int_header(r, order)
            planes = r.rest(width * max(n - order, 0))
            ints = kernels.decode_ints(planes, n, order, divisor, width, offset, first, first_delta)
            return ints.view(np.float64)
        if codec == Codec.XOR:
            first = int(np.frombuffer(r.take(8), dtype="<u8")[0])
            lo, hi = r.u8(), r.u8()
            if not lo <= hi <= 8:
                raise r.corrupt(f"bad xor byte range {lo}..{hi}")
            planes = r.rest((hi - lo) * (n - 1))
            return kernels.decode_xor(planes, n, lo, hi, first).view(np.float64)
    except ValueError as exc:
        if isinstance(exc, CorruptDataError):
            raise
        raise CorruptDataError(f"cannot decode value column: {exc}") from exc
    raise r.corrupt(f"unknown value codec {codec:#04x}")


def _decode_decimal(r: Reader, n: int, order: int) -> npt.NDArray[np.float64]:
    if n <= order and order == 2:
        raise r.corrupt(f"dod column of {n} samples")
    exp = r.u8()
    if exp > kernels.MAX_DECIMAL_EXP:
        raise r.corrupt(f"decimal exponent {exp} out of range")
    n_exc = r.uvarint()
    if n_exc > n:
        raise r.corrupt(f"{n_exc} exceptions in {n} samples")
    if n_exc:
        gaps = [r.uvarint() for _ in range(n_exc)]
        positions = np.cumsum(np.asarray(gaps, dtype=np.uint64) + np.uint64(1)) - np.uint64(1)
        if int(positions.max()) >= n:  # not only the last: huge gaps wrap around 2**64
            raise r.corrupt(f"exception position {int(positions.max())} beyond {n} samples")
        exc_bits = np.frombuffer(r.take(8 * n_exc), dtype="<u8")
    first, first_delta, divisor, offset, width = read_int_header(r, order)
    planes = r.rest(width * max(n - order, 0))
    v = kernels.decode_decimal(planes, n, order, divisor, width, offset, first, first_delta, exp)
    if n_exc:
        v.view(np.uint64)[positions.astype(np.intp)] = exc_bits
    return v
