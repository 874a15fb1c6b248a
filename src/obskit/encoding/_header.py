"""Little helpers to write and read the small header fields of encoded columns.

Integers in headers are LEB128 varints (``uvarint``) or zigzag + LEB128 (``svarint``, any int64);
both are at most 10 bytes. Reading past the end, or a varint longer than 10 bytes, is a
``CorruptDataError``. Sample data never goes through here: it is packed by ``obskit.kernels``.
"""

from __future__ import annotations

from obskit.errors import CorruptDataError

_MASK64 = (1 << 64) - 1


def put_uvarint(out: bytearray, value: int) -> None:
    """Append ``value`` (0 <= value < 2**64) as a LEB128 varint."""
    if not 0 <= value <= _MASK64:
        raise AssertionError(f"BUG: uvarint out of range: {value}")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def put_svarint(out: bytearray, value: int) -> None:
    """Append an int64 (taken modulo 2**64, as two's complement) zigzagged as a varint."""
    value = to_int64(value)
    put_uvarint(out, ((value << 1) ^ (value >> 63)) & _MASK64)


def to_int64(value: int) -> int:
    """``value`` modulo 2**64 as a signed int64."""
    value &= _MASK64
    return value - (1 << 64) if value >> 63 else value


class Reader:
    """Cursor over an encoded column; every read checks the remaining length."""

    __slots__ = ("buf", "pos", "what")

    def __init__(self, buf: bytes | memoryview, what: str) -> None:
        self.buf = memoryview(buf).cast("B") if isinstance(buf, memoryview) else buf
        self.pos = 0
        self.what = what

    def corrupt(self, why: str) -> CorruptDataError:
        return CorruptDataError(f"cannot decode {self.what}: {why}")

    def u8(self) -> int:
        if self.pos >= len(self.buf):
            raise self.corrupt("truncated header")
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def uvarint(self) -> int:
        buf, pos = self.buf, self.pos
        if pos < len(buf) and buf[pos] < 0x80:  # fast path: one byte
            self.pos = pos + 1
            return int(buf[pos])
        value = 0
        for shift in range(0, 70, 7):
            if pos >= len(buf):
                raise self.corrupt("truncated header")
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if value > _MASK64:
                    raise self.corrupt("varint overflows 64 bits")
                self.pos = pos
                return value
        raise self.corrupt("varint longer than 10 bytes")

    def svarint(self) -> int:
        u = self.uvarint()
        return (u >> 1) ^ -(u & 1)

    def take(self, n: int) -> bytes | memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise self.corrupt(f"needs {n} more bytes, {len(self.buf) - self.pos} left")
        chunk = self.buf[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def rest(self, n: int) -> bytes | memoryview:
        """The last ``n`` bytes, which must be exactly what is left."""
        left = len(self.buf) - self.pos
        if left != n:
            raise self.corrupt(f"body holds {left} bytes, expected {n}")
        return self.take(n)
