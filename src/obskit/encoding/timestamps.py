"""Timestamp column codecs (int64 milliseconds, any values: negative, irregular, duplicate).

Every encoded column starts with its codec id and sample count; the body depends on the codec::

    ┌──────────┬───────────────┬─────────────────────────────────────────────────────────┐
    │ codec u8 │ count uvarint │ body                                                    │
    └──────────┴───────────────┴─────────────────────────────────────────────────────────┘
    0x10 raw         count x int64 little-endian
    0x11 const-step  first svarint │ step svarint            t[i] = first + i * step
    0x12 delta       int stream of order 1 (see _intstream)  jittered or irregular scrapes
    0x13 dod         int stream of order 2 (see _intstream)  drifting scrape intervals

Arithmetic wraps modulo 2**64, so any int64 column round-trips. The encoder tries delta and dod
and keeps the one whose residuals have the fewest bits; a regular scrape costs a few bytes per
column whatever its length.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from obskit import kernels
from obskit.encoding._header import Reader, put_svarint, put_uvarint, to_int64
from obskit.encoding._intstream import encode_int_stream, read_int_header, write_int_header
from obskit.encoding.codecs import TIMESTAMP_CODECS, Codec
from obskit.errors import CorruptDataError

__all__ = ["decode_timestamps", "encode_timestamps"]

# Longest column a header may announce; bounds allocations made from a damaged header.
MAX_COUNT = 1 << 40


def encode_timestamps(ts: npt.NDArray[np.int64], codec: str | None = None) -> bytes:
    """Encode an int64 timestamp column; ``codec`` forces one by name ("dod", "raw", ...)."""
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    if ts.ndim != 1:
        raise ValueError(f"cannot encode timestamps of shape {ts.shape}: need one dimension")
    n = ts.size
    forced = None if codec is None else TIMESTAMP_CODECS.get(codec)
    if codec is not None and forced is None:
        raise ValueError(f"cannot encode timestamps with unknown codec {codec!r}")
    if n == 0 and forced not in (None, Codec.TS_RAW):
        raise ValueError(f"cannot encode 0 timestamps with codec {codec!r}")
    out = bytearray()
    if n == 0 or forced == Codec.TS_RAW:
        return _raw(out, ts)
    if forced in (None, Codec.TS_CONST_STEP):
        step = to_int64(int(ts[1]) - int(ts[0])) if n > 1 else 0
        if n <= 2 or not np.any(kernels.int_residuals(ts, 2, 1, 0)):
            out.append(Codec.TS_CONST_STEP)
            put_uvarint(out, n)
            put_svarint(out, int(ts[0]))
            put_svarint(out, step)
            return bytes(out)
        if forced is not None:
            raise ValueError("cannot encode irregular timestamps with codec 'const-step'")
    orders = {Codec.TS_DELTA: (1,), Codec.TS_DOD: (2,)}.get(forced, (1, 2))  # type: ignore[arg-type]
    s = encode_int_stream(ts, orders, find_divisor=True)
    if forced == Codec.TS_DOD and s.order != 2:
        s = encode_int_stream(ts, (1,), find_divisor=True)  # 2 values: dod degenerates to delta
    out.append(Codec.TS_DELTA if s.order == 1 else Codec.TS_DOD)
    put_uvarint(out, n)
    write_int_header(out, s)
    out += s.planes
    if forced is None and len(out) > 1 + 10 + 8 * n:
        return _raw(bytearray(), ts)
    return bytes(out)


def _raw(out: bytearray, ts: npt.NDArray[np.int64]) -> bytes:
    out.append(Codec.TS_RAW)
    put_uvarint(out, ts.size)
    out += ts.astype("<i8", copy=False).tobytes()
    return bytes(out)


def decode_timestamps(buf: bytes | memoryview) -> npt.NDArray[np.int64]:
    """Decode a column written by ``encode_timestamps``; damage raises ``CorruptDataError``."""
    r = Reader(buf, "timestamp column")
    codec = r.u8()
    n = r.uvarint()
    if n > MAX_COUNT:
        raise r.corrupt(f"implausible sample count {n}")
    if codec == Codec.TS_RAW:
        return np.frombuffer(r.rest(8 * n), dtype="<i8").astype(np.int64)
    if n == 0:
        raise r.corrupt(f"codec {codec:#04x} with 0 samples")
    if codec == Codec.TS_CONST_STEP:
        first, step = r.svarint(), r.svarint()
        r.rest(0)
        if abs(step) * n < 2**62 and abs(first) < 2**62:  # cannot wrap: plain int64 ramp
            ramp = np.arange(n, dtype=np.int64)
            ramp *= step
            ramp += first
            return ramp
        steps = np.arange(n, dtype=np.uint64) * np.uint64(step & 0xFFFF_FFFF_FFFF_FFFF)
        return (steps + np.uint64(first & 0xFFFF_FFFF_FFFF_FFFF)).view(np.int64)
    if codec in (Codec.TS_DELTA, Codec.TS_DOD):
        order = 1 if codec == Codec.TS_DELTA else 2
        if n <= order and order == 2:
            raise r.corrupt(f"dod column of {n} samples")
        first, first_delta, divisor, offset, width = read_int_header(r, order)
        planes = r.rest(width * max(n - order, 0))
        try:
            return kernels.decode_ints(planes, n, order, divisor, width, offset, first, first_delta)
        except ValueError as exc:
            raise CorruptDataError(f"cannot decode timestamp column: {exc}") from exc
    raise r.corrupt(f"unknown timestamp codec {codec:#04x}")
