"""Version 2 page body: timestamp columns + the value columns of a page, rANS-coded together.

Value columns are not byte-addressable any more: a page holds the transform parameters of all its
columns (``obskit.encoding.residuals``) and their residuals as lanes of one entropy stream
(``obskit.encoding.rans``). Decoding yields the same layout a reader of v1 pages gets, with the
values as ``raw`` columns: ``ts col 0 | ... | ts col k-1 | raw values 0 | ... | raw values k-1``.
The body (after the page header of ``obskit.encoding.pages``)::

    ┌───────────────┬──────────────────────┬───────────────────────┬──────────────────────────┐
    │ meta_zlen u32 │ zstd(meta)           │ words: u16 x n_words  │ raw bits (raw_bytes)     │
    └───────────────┴──────────────────────┴───────────────────────┴──────────────────────────┘
    meta (little-endian; N = value columns, n = segments, L = lanes = non-const segments,
    E = exceptions, C = used contexts = popcount(ctx_mask)):
      u32 N | u32 seg_len | u32 n | u32 L | u32 n_words | u32 raw_bytes | u32 ts_bytes
      | u32 ctx_mask | u32 E
      ts columns (ts_bytes: obskit.encoding.timestamps codecs, concatenated)
      u32 col_count[N]
      u8  kind[n] exp[n] xpred[n] ref1[n] ref2[n] sh1[n] sh2[n] ma[n]    (one per segment)
      u32 count[n] n_exc[n]
      i64 first[n] gcd[n] lat[n] c[n] a1[n] a2[n]
      u32 exc_pos[E] (position inside its segment) | u64 exc_bits[E]
      u16 freq[C][136] (11-bit rANS frequencies, each used row sums to 2048)
      u32 state[L] | u32 lane_words[L] | u32 lane_raw_bytes[L]
    words and raw bits hold each lane's streams one after the other (raw bits of a lane start on
    a byte boundary). Columns are coded as segments of at most seg_len samples, segment-major
    (``segment_layout``): a segment's references are the same time range of earlier columns.

Structure-of-arrays + zstd keeps the per-column headers small (most fields are 0 or repeat).
The numpy reference parses them with ``np.frombuffer`` (``_parse_meta``); the native decoder
parses, checks and decodes a whole page in one C call (``native/value_meta.c`` makes the same
checks; when it rejects a meta, ``_parse_meta`` says why). Any inconsistency is a
``CorruptDataError``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import cramjam
import numpy as np
import numpy.typing as npt

from obskit import kernels
from obskit.encoding import rans
from obskit.encoding._header import put_uvarint
from obskit.encoding.codecs import Codec
from obskit.encoding.residuals import (
    I64_FIELDS,
    KIND_CONST,
    KIND_DECIMAL,
    KIND_FLOAT,
    U8_FIELDS,
    X_FSCALED,
    X_LIN2,
    X_NEGSUM,
    ColumnDamage,
    ColumnParams,
    analyse_columns,
    columns_from_residuals,
    ma_inverse,
    unzigzag,
)
from obskit.errors import CorruptDataError

__all__ = ["decode_value_body", "encode_value_body", "raw_column_lengths"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_META_HEAD = struct.Struct("<9I")
# Columns are coded in segments of at most this many samples (6 h at 15 s): the per-segment
# predictor choice follows the diurnal cycle, which measured best on node_exporter-like data
# (REPORT §3: 0.980 B/sample at 1,440 vs 1.003 at 5,760), whatever the block's length.
SEGMENT_SAMPLES = 1440
_U32 = struct.Struct("<I")
# zstd level of the meta blob (headers, tables, ts columns): 15 costs 2.5 ms per 260k-sample page
# against 11 ms at 19, for 0.0004 B/sample more (shared medium data, 2026-11).
_META_ZSTD_LEVEL = 15
_PAD = bytes(16)


def segment_layout(counts: I64, seg_len: int) -> tuple[I64, I64, I64]:
    """(column, first sample, length) of each segment, segment-major: segment 0 of every column
    in page order, then segment 1 of the columns that have one, ... (so the columns a segment may
    reference are the same time range of the neighbouring series)."""
    n_seg = (counts + seg_len - 1) // seg_len
    s_idx, c_idx = np.nonzero(np.arange(int(n_seg.max(initial=0)))[:, None] < n_seg[None, :])
    start = s_idx.astype(np.int64) * seg_len
    out: tuple[I64, I64, I64] = (
        c_idx.astype(np.int64),
        start,
        np.minimum(counts[c_idx] - start, seg_len),
    )
    return out


def encode_value_body(ts_bytes: bytes, cols: list[F64]) -> tuple[bytes, npt.NDArray[np.uint8]]:
    """The v2 body of a page holding ``ts_bytes`` and the value columns ``cols``, and each
    column's kind (the codec id of its first segment)."""
    col_counts = np.array([c.size for c in cols], np.int64)
    seg_col, seg_start, seg_n = segment_layout(col_counts, SEGMENT_SAMPLES)
    segs = [
        cols[c][s : s + n]
        for c, s, n in zip(seg_col.tolist(), seg_start.tolist(), seg_n.tolist(), strict=True)
    ]
    p, streams = analyse_columns(segs)
    lens = np.array([s.size for s in streams], np.int64)
    starts = np.cumsum(lens) - lens
    u = np.concatenate(streams) if streams else np.zeros(0, np.uint64)
    if kernels.BACKEND == "native":
        key, raw_bytes, lane_bytes = kernels.rans_lane_symbols(u, starts, lens)
    else:
        ctx, tok, raw, nbits = rans.lane_tokens(u, starts)
        key = ctx * rans.N_TOK + tok
        raw_bytes, lane_bytes = rans.pack_raw_bits(raw, nbits, starts)
    counts = np.bincount(key, minlength=rans.N_CTX * rans.N_TOK)
    counts = counts.reshape(rans.N_CTX, rans.N_TOK)
    freq = np.zeros_like(counts)
    used = np.flatnonzero(counts.sum(axis=1))
    for c in used.tolist():
        freq[c] = rans.normalise(counts[c])
    cum = np.cumsum(freq, axis=1) - freq
    sym_f = freq.ravel()[key]
    sym_c = cum.ravel()[key]
    if kernels.BACKEND == "native":
        words, lane_words, states = kernels.rans_encode_lanes(sym_f, sym_c, starts, lens)
    else:
        words, lane_words, states = rans.encode_lanes(sym_f, sym_c, starts, lens)
    ctx_mask = int(np.bitwise_or.reduce(np.left_shift(1, used))) if used.size else 0
    k = len(cols)
    head = (k, SEGMENT_SAMPLES, len(segs), lens.size, len(words) // 2, len(raw_bytes))
    meta = [
        _META_HEAD.pack(*head, len(ts_bytes), ctx_mask, p.exc_pos.size),
        ts_bytes,
        col_counts.astype("<u4").tobytes(),
    ]
    meta += [getattr(p, name).tobytes() for name in U8_FIELDS]
    meta += [p.count.astype("<u4").tobytes(), p.n_exc.astype("<u4").tobytes()]
    meta += [getattr(p, name).astype("<i8").tobytes() for name in I64_FIELDS]
    meta += [p.exc_pos.astype("<u4").tobytes(), p.exc_bits.astype("<u8").tobytes()]
    meta += [freq[used].astype("<u2").tobytes(), states]
    meta += [lane_words.astype("<u4").tobytes(), lane_bytes.astype("<u4").tobytes()]
    packed = bytes(cramjam.zstd.compress(b"".join(meta), _META_ZSTD_LEVEL))
    return b"".join((_U32.pack(len(packed)), packed, words, raw_bytes)), p.kind[:k]


def _corrupt(why: str) -> CorruptDataError:
    return CorruptDataError(f"cannot decode page: {why}")


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, dtype: str, count: int) -> npt.NDArray[np.generic]:
        size = np.dtype(dtype).itemsize * count
        if self.pos + size > len(self.buf):
            raise _corrupt("meta ends early")
        out = np.frombuffer(self.buf, dtype, count, self.pos)
        self.pos += size
        return out


class _Meta(NamedTuple):
    params: ColumnParams  # per segment
    ts: bytes
    col_counts: I64
    seg_at: I64  # where each segment's samples go in the page's values
    freq: I64
    states: npt.NDArray[np.uint32]
    lanes: tuple[I64, I64]  # words, raw bytes per lane


def _parse_meta(meta: bytes) -> _Meta:
    if len(meta) < _META_HEAD.size:
        raise _corrupt("meta shorter than its header")
    n_cols, seg_len, k, n_lanes, n_words, raw_len, ts_len, ctx_mask, n_exc = _META_HEAD.unpack_from(
        meta
    )
    r = _Reader(meta)
    r.pos = _META_HEAD.size
    ts = bytes(r.take("u1", ts_len))
    col_counts = r.take("<u4", n_cols).astype(np.int64)
    if seg_len < 1 or np.any(col_counts < 1):
        raise _corrupt("bad segment length or column count")
    seg_col, seg_start, seg_n = segment_layout(col_counts, seg_len)
    fields: dict[str, npt.NDArray[np.generic]] = {}
    for name in U8_FIELDS:
        fields[name] = r.take("u1", k)
    fields["count"] = r.take("<u4", k).astype(np.uint32)
    fields["n_exc"] = r.take("<u4", k).astype(np.uint32)
    for name in I64_FIELDS:
        fields[name] = r.take("<i8", k).astype(np.int64)
    fields["exc_pos"] = r.take("<u4", n_exc).astype(np.uint32)
    fields["exc_bits"] = r.take("<u8", n_exc).astype(np.uint64)
    if ctx_mask >> rans.N_CTX:
        raise _corrupt(f"bad context mask {ctx_mask:#x}")
    used = [c for c in range(rans.N_CTX) if ctx_mask >> c & 1]
    freq = np.zeros((rans.N_CTX, rans.N_TOK), np.int64)
    freq[used] = r.take("<u2", len(used) * rans.N_TOK).reshape(len(used), rans.N_TOK)
    states = r.take("<u4", n_lanes).astype(np.uint32)
    lane_words = r.take("<u4", n_lanes).astype(np.int64)
    lane_bytes = r.take("<u4", n_lanes).astype(np.int64)
    if int(lane_words.sum()) != n_words or int(lane_bytes.sum()) != raw_len:
        raise _corrupt("lane stream lengths differ from the page")
    if r.pos != len(meta):
        raise _corrupt("meta has trailing bytes")
    p = ColumnParams(**fields)  # type: ignore[arg-type]
    if seg_n.size != k or np.any(p.count != seg_n):
        raise _corrupt("segment counts differ from the column counts")
    _validate(p, freq, used, states, n_lanes)
    col_at = np.cumsum(col_counts) - col_counts
    return _Meta(
        p, ts, col_counts, col_at[seg_col] + seg_start, freq, states, (lane_words, lane_bytes)
    )


def _validate(
    p: ColumnParams, freq: I64, used: list[int], states: npt.NDArray[np.uint32], n_lanes: int
) -> None:
    """Every check the decoders rely on (the C decoder validates nothing of this again)."""
    if np.any(freq[used].sum(axis=1) != rans.PROB_SCALE):
        raise _corrupt("frequency table does not sum to the probability scale")
    kind, count = p.kind, p.count.astype(np.int64)
    if np.any((kind != KIND_CONST) & (kind != KIND_DECIMAL) & (kind != KIND_FLOAT)):
        raise _corrupt("unknown column kind")
    if np.any(count < 1) or np.any((kind != KIND_CONST) & (count < 2)):
        raise _corrupt("implausible sample count")
    if int(np.count_nonzero(kind != KIND_CONST)) != n_lanes:
        raise _corrupt("lane count differs from the columns")
    if np.any(states < rans.RANS_LOW):
        raise _corrupt("rans state out of range")
    if np.any(p.exp > kernels.MAX_DECIMAL_EXP) or np.any(p.ma >= 7) or np.any(p.xpred > X_FSCALED):
        raise _corrupt("header field out of range")
    if np.any((p.sh1 > 32) | (p.sh2 > 32)) or np.any(p.gcd < 1) or np.any(p.lat < 1):
        raise _corrupt("header field out of range")
    if np.any((p.n_exc > 0) & (kind != KIND_DECIMAL)) or np.any(p.n_exc > p.count):
        raise _corrupt("exceptions in a column that cannot have them")
    if int(p.n_exc.sum(dtype=np.int64)) != p.exc_pos.size:
        raise _corrupt("exception count mismatch")
    owner = np.repeat(np.arange(kind.size), p.n_exc.astype(np.int64))
    if np.any(p.exc_pos.astype(np.int64) >= count[owner]):
        raise _corrupt("exception position beyond its column")
    idx = np.arange(kind.size)
    live = kind != KIND_CONST
    xp = np.where(live, p.xpred, 0)
    fs = xp == X_FSCALED
    if np.any(fs & ((kind != KIND_FLOAT) | (p.gcd != 1))):
        raise _corrupt("fscaled predictor on a decimal column")
    if np.any((xp != 0) & ~fs & (kind != KIND_DECIMAL)):
        raise _corrupt("integer predictor on a float column")
    reach = np.where(xp == X_NEGSUM, p.ref1, np.maximum(p.ref1, np.where(xp == X_LIN2, p.ref2, 0)))
    if np.any((xp != 0) & ((p.ref1 < 1) | (reach > idx))) or np.any((xp == X_LIN2) & (p.ref2 < 1)):
        raise _corrupt("reference outside the page")
    for i in np.flatnonzero(fs).tolist():
        j = i - int(p.ref1[i])
        if kind[j] == KIND_CONST or (kind[j] == KIND_FLOAT and p.xpred[j] == X_FSCALED):
            raise _corrupt(f"column {i}: fscaled reference {j} is const or fscaled")
        if count[j] != count[i]:
            raise _corrupt(f"column {i}: reference {j} has another count")
    # Integer predictors read the d of decimal columns of the same length (negsum: and exponent).
    xi = (xp != 0) & ~fs
    n_refs = np.where(xp == X_NEGSUM, p.ref1, np.where(xp == X_LIN2, 2, 1)) * xi
    col = np.repeat(idx, n_refs)
    nth = np.arange(col.size) - np.repeat(np.cumsum(n_refs) - n_refs, n_refs)
    negsum = xp[col] == X_NEGSUM
    back = np.where(negsum, nth + 1, np.where(nth == 0, p.ref1[col], p.ref2[col]))
    ref = col - back.astype(np.int64)
    same_exp = ~negsum | (p.exp[ref] == p.exp[col])
    bad = (kind[ref] != KIND_DECIMAL) | (count[ref] != count[col]) | ~same_exp
    if np.any(bad):
        i = int(col[np.argmax(bad)])
        raise _corrupt(f"column {i}: a reference is not a decimal column of its length")


def raw_column_lengths(counts: npt.ArrayLike) -> I64:
    """Bytes of a ``raw`` value column of each count: codec byte + uvarint count + 8 * count."""
    c = np.asarray(counts, dtype=np.int64)
    varint = 1 + (c >= 1 << 7) + (c >= 1 << 14) + (c >= 1 << 21) + (c >= 1 << 28) + (c >= 1 << 35)
    out: I64 = 1 + varint + 8 * c
    return out


# What the native decoder's return codes mean (native/value_pages.h, enum VP_*).
_LANE_DAMAGE = (
    "",
    "rans word stream ends early",
    "raw bit stream ends early",
    "rans word stream has trailing words",
    "raw field longer than 62 bits",
)
_BAD_META, _BAD_STREAMS, _BAD_LENGTH, _NO_MEMORY = 5, 6, 7, 8
_STREAMS_DIFFER = "stream lengths differ from the page"
_LENGTH_DIFFERS = "decoded length differs from its header"


def decode_value_body(body: bytes | memoryview, raw_len: int) -> bytes:
    """The decoded page of a v2 page body: its timestamp columns, then each value column as a
    ``raw`` column (codec 0x00 | count uvarint | float64 x count), ``raw_len`` bytes in all."""
    if len(body) < 4:
        raise _corrupt("body shorter than its meta length")
    zlen = _U32.unpack_from(body)[0]
    if 4 + zlen > len(body):
        raise _corrupt("meta runs past the page")
    try:
        meta = bytes(cramjam.zstd.decompress(bytes(body[4 : 4 + zlen])))
    except Exception as exc:  # cramjam raises its own DecompressionError (not exported as a type)
        raise _corrupt(f"meta: {exc}") from exc
    if kernels.BACKEND == "native":
        rc, out = kernels.decode_value_page(meta, body, 4 + zlen, raw_len)
        if rc:
            raise _native_damage(rc, meta)
        return out
    return _decode_body_numpy(meta, body, 4 + zlen, raw_len)


def _native_damage(rc: int, meta: bytes) -> Exception:
    if rc < len(_LANE_DAMAGE):
        return _corrupt(_LANE_DAMAGE[rc])
    if rc == _BAD_META:
        _parse_meta(meta)  # raises, saying which field is wrong
        return AssertionError("BUG: the native decoder rejects a meta that _parse_meta accepts")
    if rc == _NO_MEMORY:
        return MemoryError("cannot decode page: out of memory")
    return _corrupt(_STREAMS_DIFFER if rc == _BAD_STREAMS else _LENGTH_DIFFERS)


def _decode_body_numpy(meta: bytes, body: bytes | memoryview, at: int, raw_len: int) -> bytes:
    m = _parse_meta(meta)
    p, freq, states, lanes = m.params, m.freq, m.states, m.lanes
    n_words = int(lanes[0].sum())
    if at + 2 * n_words + int(lanes[1].sum()) != len(body):
        raise _corrupt(_STREAMS_DIFFER)
    lens = raw_column_lengths(m.col_counts)
    if len(m.ts) + int(lens.sum()) != raw_len:
        raise _corrupt(_LENGTH_DIFFERS)
    words = np.frombuffer(bytes(body[at : at + 2 * n_words]) + _PAD, "<u2").astype(np.uint16)
    raw = np.frombuffer(bytes(body[at + 2 * n_words :]) + _PAD, np.uint8)
    values = np.empty(int(m.col_counts.sum()), np.float64)
    try:
        _decode_numpy(p, freq, words, raw, states, lanes, values, m.seg_at)
    except (ColumnDamage, ValueError) as exc:
        raise _corrupt(str(exc)) from exc
    out = np.empty(raw_len, dtype=np.uint8)
    out[: len(m.ts)] = np.frombuffer(m.ts, np.uint8)
    at = len(m.ts)
    src = values.view(np.uint8)
    head = bytearray()
    for n, length in zip(m.col_counts.tolist(), lens.tolist(), strict=True):
        head.clear()
        head.append(Codec.RAW)
        put_uvarint(head, n)
        h = len(head)
        out[at : at + h] = np.frombuffer(head, np.uint8)
        out[at + h : at + length] = src[: 8 * n]
        src = src[8 * n :]
        at += length
    return out.tobytes()


def _decode_numpy(
    p: ColumnParams,
    freq: I64,
    words: npt.NDArray[np.uint16],
    raw: npt.NDArray[np.uint8],
    states: npt.NDArray[np.uint32],
    lanes: tuple[I64, I64],
    out: F64,
    seg_at: I64,
) -> None:
    live = p.kind != KIND_CONST
    lens = p.count[live].astype(np.int64) - 1
    u = rans.decode_lanes(freq, words, lanes[0], raw, lanes[1], states, lens)
    starts = np.cumsum(lens) - lens
    e = ma_inverse(unzigzag(u), starts, lens, p.ma[live], p.c[live])
    columns_from_residuals(p, e, out, seg_at)
