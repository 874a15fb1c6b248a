"""Payloads of the store's two logs: sample batches (WAL) and new series (series log).

The framing (length, CRC, type) is ``obskit.disk.wal``'s; this module draws only payloads::

    SAMPLES (type 1), little endian, n samples
    ┌──────────┬─────────────────┬─────────────────┬──────────────────┐
    │ u32 n    │ u32 id x n      │ i64 ts_ms x n   │ f64 value x n    │  (values bit-exact)
    └──────────┴─────────────────┴─────────────────┴──────────────────┘

    SERIES (type 2), k series with consecutive ids first_id .. first_id+k-1
    ┌──────────────┬───────┬──────────────────────────────────────────────────────────┐
    │ u64 first_id │ u32 k │ k x ( u16 pairs, pairs x (u32 len, name, u32 len, value) )│
    └──────────────┴───────┴──────────────────────────────────────────────────────────┘
    names and values are UTF-8.

    SERIES_SNAPSHOT (type 3): every series of the store, ids 0..k-1, as a SERIES payload with
    first_id 0, compressed as one ``obskit.encoding`` page (zstd + CRC). It replaces everything
    before it in the series log: the log is checkpointed by writing one and deleting older
    segments.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from obskit import encoding
from obskit.errors import CorruptDataError
from obskit.model.labels import Labels

__all__ = [
    "RECORD_SAMPLES",
    "RECORD_SERIES",
    "RECORD_SERIES_SNAPSHOT",
    "decode_samples",
    "decode_series",
    "decode_series_snapshot",
    "encode_samples",
    "encode_series",
    "encode_series_snapshot",
]

RECORD_SAMPLES = 1
RECORD_SERIES = 2
RECORD_SERIES_SNAPSHOT = 3

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_SERIES_HEAD = struct.Struct("<QI")


class RecordError(ValueError):
    """A payload whose lengths do not add up (the caller names the file)."""


def encode_samples(
    ids: npt.NDArray[np.int64], ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> bytes:
    return b"".join(
        (
            _U32.pack(len(ids)),
            ids.astype("<u4").tobytes(),
            ts.astype("<i8", copy=False).tobytes(),
            values.astype("<f8", copy=False).tobytes(),
        )
    )


def decode_samples(
    buf: bytes | memoryview,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    if len(buf) < 4:
        raise RecordError("samples record shorter than its header")
    (n,) = _U32.unpack_from(buf, 0)
    if len(buf) != 4 + 20 * n:
        raise RecordError(f"samples record of {len(buf)} bytes cannot hold {n} samples")
    ids = np.frombuffer(buf, "<u4", n, 4).astype(np.int64)
    ts = np.frombuffer(buf, "<i8", n, 4 + 4 * n).astype(np.int64)
    values = np.frombuffer(buf, "<f8", n, 4 + 12 * n).astype(np.float64)
    return ids, ts, values


def encode_series(first_id: int, labels: Sequence[Labels]) -> bytes:
    # Appended to one buffer: a list of the pieces (4 small bytes objects per label) made the
    # series snapshot of 9,700 node_exporter-like series a ~40 MiB transient.
    out = bytearray(_SERIES_HEAD.pack(first_id, len(labels)))
    for ls in labels:
        out += _U16.pack(len(ls))
        for name, value in ls:
            for text in (name, value):
                raw = text.encode("utf-8")
                out += _U32.pack(len(raw))
                out += raw
    return bytes(out)


def decode_series(buf: bytes | memoryview) -> tuple[int, list[Labels]]:
    data = bytes(buf)
    try:
        first_id, k = _SERIES_HEAD.unpack_from(data, 0)
        pos = _SERIES_HEAD.size
        out: list[Labels] = []
        for _ in range(k):
            (npairs,) = struct.unpack_from("<H", data, pos)
            pos += 2
            pairs = []
            for _ in range(npairs):
                (ln,) = _U32.unpack_from(data, pos)
                name = data[pos + 4 : pos + 4 + ln].decode("utf-8")
                pos += 4 + ln
                (lv,) = _U32.unpack_from(data, pos)
                value = data[pos + 4 : pos + 4 + lv].decode("utf-8")
                pos += 4 + lv
                pairs.append((name, value))
            out.append(tuple(pairs))
    except (struct.error, UnicodeDecodeError) as exc:
        raise RecordError(f"series record cannot be decoded: {exc}") from None
    if pos != len(data):
        raise RecordError(f"series record has {len(data) - pos} trailing bytes")
    return first_id, out


def encode_series_snapshot(labels: Sequence[Labels]) -> bytes:
    return encoding.encode_page([encode_series(0, labels)], level=3)


def decode_series_snapshot(buf: bytes | memoryview) -> list[Labels]:
    try:
        raw = encoding.decode_page(buf)
    except CorruptDataError as exc:
        raise RecordError(f"series snapshot cannot be decompressed: {exc}") from None
    first_id, labels = decode_series(raw)
    if first_id != 0:
        raise RecordError(f"series snapshot starts at id {first_id}, not 0")
    return labels
