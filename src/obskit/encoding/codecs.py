"""Codec ids: the first byte of every encoded column, and their names for ``tsdb inspect``.

Ids are part of the on-disk format: never renumber, only add. Value codecs use 0x00-0x0f and
timestamp codecs 0x10-0x1f, so ``codec_name`` can name either kind of column.
"""

from __future__ import annotations

from enum import IntEnum

from obskit.errors import CorruptDataError

__all__ = ["Codec", "codec_name"]


class Codec(IntEnum):
    """Leading byte of an encoded column."""

    RAW = 0x00  # float64 little-endian, as is
    CONST = 0x01  # one float64, repeated
    DECIMAL_DELTA = 0x02  # v = m / 10**e, deltas of m
    DECIMAL_DOD = 0x03  # v = m / 10**e, deltas of deltas of m
    XOR = 0x04  # float64 bits xor previous bits
    FLOAT_DELTA = 0x05  # float64 bits as int64, deltas
    FLOAT_DOD = 0x06  # float64 bits as int64, deltas of deltas
    DECIMAL_RES = 0x07  # v2 pages: decimal column coded as residuals (encoding.residuals)
    FLOAT_RES = 0x08  # v2 pages: float64 bits coded as residuals
    TS_RAW = 0x10  # int64 little-endian, as is
    TS_CONST_STEP = 0x11  # start + i * step
    TS_DELTA = 0x12  # deltas (divided by their gcd)
    TS_DOD = 0x13  # deltas of deltas (divided by their gcd)


_NAMES = {
    Codec.RAW: "raw",
    Codec.CONST: "const",
    Codec.DECIMAL_DELTA: "decimal-delta",
    Codec.DECIMAL_DOD: "decimal-dod",
    Codec.XOR: "xor",
    Codec.FLOAT_DELTA: "float-delta",
    Codec.FLOAT_DOD: "float-dod",
    Codec.DECIMAL_RES: "decimal-res",
    Codec.FLOAT_RES: "float-res",
    Codec.TS_RAW: "raw",
    Codec.TS_CONST_STEP: "const-step",
    Codec.TS_DELTA: "delta",
    Codec.TS_DOD: "dod",
}

VALUE_CODECS = {
    name: codec
    for codec, name in _NAMES.items()
    if codec < 0x10 and codec not in (Codec.DECIMAL_RES, Codec.FLOAT_RES)
}
"""Value codec by name, for ``encode_values(..., codec=name)``."""

TIMESTAMP_CODECS = {name: codec for codec, name in _NAMES.items() if codec >= 0x10}
"""Timestamp codec by name, for ``encode_timestamps(..., codec=name)``."""


def codec_name(buf: bytes | memoryview) -> str:
    """Name of the codec of an encoded timestamp or value column ("dod", "xor", ...)."""
    if len(buf) == 0:
        raise CorruptDataError("cannot name the codec of an empty column")
    try:
        return _NAMES[Codec(buf[0])]
    except ValueError:
        raise CorruptDataError(f"cannot name codec: unknown codec id {buf[0]:#04x}") from None
