"""Batch column codecs: the timestamp and value columns of many series in one call.

``encode_columns`` writes exactly the bytes of ``encode_timestamps`` + ``encode_values`` per series,
concatenated (ts 0, values 0, ts 1, values 1, ...) as the store lays out a page; ``decode_columns``
reads such column pairs back out of a decoded page into two flat arrays. The per-column codecs are
the definition (and the numpy backend just loops over them); the native backend does header
parsing, codec choice and all sample loops in one C call per batch.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from obskit import kernels
from obskit.encoding.codecs import codec_name
from obskit.encoding.timestamps import decode_timestamps, encode_timestamps
from obskit.encoding.values import decode_values, encode_values, smallest_compressed
from obskit.errors import CorruptDataError

__all__ = [
    "codec_names",
    "decode_columns",
    "decode_pages_into",
    "encode_columns",
    "sample_pages_into",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# Why the C decoder refused a column, by the code it returns (enum damage in
# native/decode_columns.c; keep both in step). Phrased like the per-column decoders' messages.
_DAMAGE = (
    "",
    "column bytes lie outside the page",
    "truncated header",
    "varint overflows 64 bits",
    "varint longer than 10 bytes",
    "implausible sample count",
    "sample count differs from the index",
    "body holds the wrong number of bytes",
    "codec with 0 samples",
    "unknown codec",
    "dod column of fewer than 3 samples",
    "bad divisor or width",
    "decimal exponent out of range",
    "more exceptions than samples",
    "exception position beyond the samples",
    "bad xor byte range",
    "body shorter than its fixed fields",
)
_PART = ("timestamp column", "value column")
_FLOAT_CANDIDATES = 0xFF  # value codec id the C encoder gives float columns (see encode_columns)


def _column_error(column: int, why: str) -> CorruptDataError:
    return CorruptDataError(f"cannot decode column {column}: {why}", column=column)


def _index_array(a: npt.ArrayLike, name: str) -> I64:
    arr = np.ascontiguousarray(a, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"cannot decode columns: {name} has shape {arr.shape}, need 1 dimension")
    return arr


def decode_columns(
    page: bytes | memoryview,
    ts_offsets: npt.ArrayLike,
    ts_lengths: npt.ArrayLike,
    val_offsets: npt.ArrayLike,
    val_lengths: npt.ArrayLike,
    counts: npt.ArrayLike,
    out: tuple[I64, F64] | None = None,
    out_offsets: npt.ArrayLike | None = None,
) -> tuple[I64, F64]:
    """Decode k (timestamp, value) column pairs at the given byte ranges of a decoded page.

    Column ``i`` fills ``[cum[i-1], cum[i])`` of both results, ``cum = cumsum(counts)``. A damaged
    column (including a sample count other than ``counts[i]``) raises ``CorruptDataError`` naming
    it and carrying its 0-based index as ``column``; badly shaped arguments raise ``ValueError``.
    ``out`` (two contiguous arrays of exactly ``sum(counts)`` items, e.g. slices of one larger
    buffer) receives the samples instead of new arrays, so a caller decoding many pages into one
    result copies nothing. With ``out_offsets`` column ``i`` goes to ``[out_offsets[i],
    +counts[i])`` of ``out`` instead (columns of one series from several blocks laid out in their
    final places); ``out`` may then be larger than ``sum(counts)``.
    """
    names = ("ts_offsets", "ts_lengths", "val_offsets", "val_lengths", "counts")
    index = tuple(
        _index_array(a, name)
        for a, name in zip(
            (ts_offsets, ts_lengths, val_offsets, val_lengths, counts), names, strict=True
        )
    )
    k = index[0].size
    if any(a.size != k for a in index):
        raise ValueError("cannot decode columns: index arrays differ in length")
    n = index[4]
    if k and int(n.min()) < 0:
        raise ValueError("cannot decode columns: negative sample count")
    total = int(n.sum())
    offsets = None
    if out_offsets is not None:
        offsets = _index_array(out_offsets, "out_offsets")
        if out is None or offsets.size != k:
            raise ValueError("cannot decode columns: out_offsets needs out and one offset each")
        room = out[0].shape[0] if out[0].shape == out[1].shape else -1
        if k and (int(offsets.min()) < 0 or int((offsets + n).max()) > room):
            raise ValueError("cannot decode columns: out_offsets place columns outside out")
        total = room
    if out is None:
        out = (np.empty(total, dtype=np.int64), np.empty(total, dtype=np.float64))
    elif not (
        out[0].dtype == np.int64
        and out[1].dtype == np.float64
        and out[0].shape == out[1].shape == (total,)
        and out[0].flags.c_contiguous
        and out[1].flags.c_contiguous
    ):
        raise ValueError(f"cannot decode columns: out must be two contiguous arrays of {total}")
    if kernels.BACKEND == "native":
        return _decode_native(page, index, out, offsets)
    return _decode_numpy(page, index, out, offsets)


def decode_pages_into(
    pages: Sequence[bytes | memoryview],
    starts: I64,
    index: tuple[I64, ...],
    out: tuple[I64, F64],
    out_offsets: I64,
) -> bool:
    """Decode the columns of several pages, column ``i`` into ``[out_offsets[i], +counts[i])``
    of ``out``: page ``p`` holds the columns ``[starts[p], starts[p + 1])`` of ``index`` =
    (ts_offsets, ts_lengths, val_offsets, val_lengths, counts). For a caller that built these
    itself (a block decoding the pages of its own index), so they are not checked again: index
    arrays and ``out_offsets`` contiguous int64 of one length, counts >= 0, ``out`` two
    contiguous int64 / float64 arrays of one length. The pages' bytes are still checked column
    by column: damage raises ``CorruptDataError`` whose ``column`` indexes ``index``, and the
    native decoder refuses columns placed outside ``out`` (``ValueError``). Returns False when
    no decoded value is a staleness marker (the native decoder looks at the columns whose codec
    can hold a NaN while they are in cache), True when one may be (the numpy path does not
    look)."""
    if kernels.BACKEND == "native":
        ts_out, val_out = out
        damage, column, part, stale = kernels.decode_pages_columns_native(
            pages, starts, index, ts_out, val_out, out_offsets
        )
        if damage:
            raise _column_error(column, f"cannot decode {_PART[part]}: {_DAMAGE[damage]}")
        return stale
    for p, page in enumerate(pages):
        a, b = int(starts[p]), int(starts[p + 1])
        try:
            _decode_numpy(page, tuple(c[a:b] for c in index), out, out_offsets[a:b])
        except CorruptDataError as exc:
            if exc.column is None:
                raise
            raise _column_error(a + exc.column, str(exc).split(": ", 1)[-1]) from None
    return True


def sample_pages_into(
    pages: Sequence[bytes | memoryview],
    starts: I64,
    index: tuple[I64, ...],
    rows: I64,
    ends: I64,
    lookback_ms: int,
    out: tuple[F64, I64],
) -> None:
    """The columns of ``decode_pages_into`` read for an instant selector: column ``i`` holds
    the samples of output row ``rows[i]`` (distinct), and for each step ``k`` of ``ends``
    (ascending) its last sample with ts <= ends[k] replaces ``out = (v_out, t_out)[row, k]``
    when its ts is >= the one there (see ``kernels.pq_sample_columns``). Natively the columns
    decode into a small scratch per thread, so only the ``rows x len(ends)`` outputs are
    written. Damage raises ``CorruptDataError`` as ``decode_pages_into`` does."""
    v_out, t_out = out
    if kernels.BACKEND == "native":
        damage, column, part = kernels.sample_pages_columns_native(
            pages, starts, index, rows, ends, lookback_ms, v_out, t_out
        )
        if damage:
            raise _column_error(column, f"cannot decode {_PART[part]}: {_DAMAGE[damage]}")
        return
    for p, page in enumerate(pages):
        a, b = int(starts[p]), int(starts[p + 1])
        counts = index[4][a:b]
        offsets = np.zeros(b - a + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        cols = (np.empty(int(offsets[-1]), np.int64), np.empty(int(offsets[-1]), np.float64))
        try:
            _decode_numpy(page, tuple(c[a:b] for c in index), cols, offsets[:-1])
        except CorruptDataError as exc:
            if exc.column is None:
                raise
            raise _column_error(a + exc.column, str(exc).split(": ", 1)[-1]) from None
        kernels.pq_sample_columns(*cols, offsets, rows[a:b], ends, lookback_ms, v_out, t_out)


def _decode_native(
    page: bytes | memoryview,
    index: tuple[I64, ...],
    out: tuple[I64, F64],
    offsets: I64 | None = None,
) -> tuple[I64, F64]:
    ts_out, val_out = out
    damage, column, part = kernels.decode_columns_native(page, index, ts_out, val_out, offsets)
    if damage:
        raise _column_error(column, f"cannot decode {_PART[part]}: {_DAMAGE[damage]}")
    return ts_out, val_out


def _decode_numpy(
    page: bytes | memoryview,
    index: tuple[I64, ...],
    out: tuple[I64, F64],
    offsets: I64 | None = None,
) -> tuple[I64, F64]:
    ts_out, val_out = out
    view = memoryview(page).cast("B") if isinstance(page, memoryview) else memoryview(page)
    size = len(view)
    at = 0
    rows = zip(*(a.tolist() for a in index), strict=True)
    places = None if offsets is None else offsets.tolist()
    for column, (ts_off, ts_len, val_off, val_len, n) in enumerate(rows):
        if places is not None:
            at = places[column]
        for part, (off, length) in enumerate(((ts_off, ts_len), (val_off, val_len))):
            if off < 0 or length < 0 or off + length > size:
                raise _column_error(column, f"cannot decode {_PART[part]}: {_DAMAGE[1]}")
            chunk = view[off : off + length]
            try:
                got = decode_timestamps(chunk) if part == 0 else decode_values(chunk)
            except CorruptDataError as exc:
                raise _column_error(column, str(exc)) from exc
            if got.size != n:
                raise _column_error(column, f"cannot decode {_PART[part]}: {_DAMAGE[6]}")
            (ts_out if part == 0 else val_out)[at : at + n] = got
        at += n
    return ts_out, val_out


def encode_columns(
    ts: npt.ArrayLike, values: npt.ArrayLike, starts: npt.ArrayLike, ends: npt.ArrayLike
) -> tuple[bytes, I64, I64, npt.NDArray[np.uint8]]:
    """Encode series ``i`` = ``ts[starts[i]:ends[i]]``, ``values[starts[i]:ends[i]]``.

    Returns ``(data, ts_lens, val_lens, codecs)``: ``data`` is ts column 0, value column 0, ts
    column 1, ... (each exactly what ``encode_timestamps``/``encode_values`` return), the lengths
    are in bytes, and ``codecs[i]`` holds the (timestamp, value) codec ids of series ``i``
    (``codec_names`` names them).
    """
    t = np.ascontiguousarray(ts, dtype=np.int64)
    v = np.ascontiguousarray(values, dtype=np.float64)
    lo = np.ascontiguousarray(starts, dtype=np.int64)
    hi = np.ascontiguousarray(ends, dtype=np.int64)
    if t.ndim != 1 or v.shape != t.shape:
        raise ValueError(f"cannot encode columns of shapes {t.shape} and {v.shape}")
    if lo.ndim != 1 or lo.shape != hi.shape:
        raise ValueError(f"cannot encode columns: starts {lo.shape} and ends {hi.shape} differ")
    if lo.size and (int(lo.min()) < 0 or bool(np.any(hi < lo)) or int(hi.max()) > t.size):
        raise ValueError(f"cannot encode columns: ranges outside the {t.size} samples")
    if kernels.BACKEND == "native":
        return _encode_native(t, v, lo, hi)
    return _encode_numpy(t, v, lo, hi)


def _encode_numpy(
    t: I64, v: F64, starts: I64, ends: I64
) -> tuple[bytes, I64, I64, npt.NDArray[np.uint8]]:
    k = starts.size
    ts_lens = np.empty(k, dtype=np.int64)
    val_lens = np.empty(k, dtype=np.int64)
    codecs = np.empty((k, 2), dtype=np.uint8)
    chunks: list[bytes] = []
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        tcol, vcol = encode_timestamps(t[a:b]), encode_values(v[a:b])
        chunks += (tcol, vcol)
        ts_lens[i], val_lens[i] = len(tcol), len(vcol)
        codecs[i] = tcol[0], vcol[0]
    return b"".join(chunks), ts_lens, val_lens, codecs


def _encode_native(
    t: I64, v: F64, starts: I64, ends: I64
) -> tuple[bytes, I64, I64, npt.NDArray[np.uint8]]:
    data, ts_lens, val_lens, codecs, cand_lens = kernels.encode_columns_native(t, v, starts, ends)
    floats = np.flatnonzero(codecs[:, 1] == _FLOAT_CANDIDATES)
    if floats.size == 0:
        return data, ts_lens, val_lens, codecs
    # Float columns came back as their three candidates: keep the one zstd shrinks most.
    val_offs = (np.cumsum(ts_lens) + np.concatenate(([0], np.cumsum(val_lens)[:-1]))).tolist()
    view = memoryview(data)
    pieces: list[memoryview] = []
    done = 0
    for i in floats.tolist():
        off = val_offs[i]
        bounds = np.concatenate(([0], np.cumsum(cand_lens[i]))).tolist()
        candidates = [view[off + a : off + b] for a, b in itertools.pairwise(bounds)]
        best = candidates[smallest_compressed(candidates)]
        pieces += (view[done:off], best)
        done = off + int(val_lens[i])
        val_lens[i] = len(best)
        codecs[i, 1] = best[0]
    pieces.append(view[done:])
    return b"".join(pieces), ts_lens, val_lens, codecs


def codec_names(codecs: npt.NDArray[np.uint8]) -> list[str]:
    """Names of the codec ids returned by ``encode_columns`` ("dod", "xor", ...), in order.

    Pass ``codecs[:, 0]`` for timestamp columns and ``codecs[:, 1]`` for value columns (both
    kinds have a "raw").
    """
    return [codec_name(bytes((c,))) for c in np.asarray(codecs, dtype=np.uint8).ravel().tolist()]
