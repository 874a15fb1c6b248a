"""Entropy coder of v2 value pages: static-table rANS over context-modelled hybrid tokens.

Each non-const column segment is one *lane* (its zigzagged residuals ``u``) with its own rANS
state, word stream and raw-bit stream, so lanes decode independently: numpy steps all lanes of a
page at once (step t = sample t of every lane still running), C decodes two lanes at a time.
Per sample, with ``u1, u2`` the lane's previous two values (0 at its start)::

    s   = (u1 >> 1) + (u2 >> 1) + (u1 & u2 & 1)      cb = bitlen(s)
    ctx = min(cb, 16)    sh = max(cb - 16, 0)           q = u >> sh   ("hyb16": 17 contexts)
    token = q                          if q < 16
            16 + 2*(n - 5) + bit n-2 of q  else, n = bitlen(q)      (136 tokens)
    raw   = (low n-2 bits of q) << sh | (low sh bits of u),  n-2+sh bits (0 for q < 16; <= 62)

Tokens are rANS-coded with one table of 11-bit frequencies per context per page (shared by the
lanes): 32-bit states in [2**16, 2**32), 16-bit words in the order the decoder reads them. A
lane's raw bits are LSB-first from a byte boundary. This module is the numpy reference;
``native/value_pages.c`` encodes (``rans_encode_lanes``) and decodes the same in C.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "N_CTX",
    "N_TOK",
    "PROB_BITS",
    "decode_lanes",
    "encode_lanes",
    "lane_tokens",
    "normalise",
    "pack_raw_bits",
]

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

N_CTX = 17
N_TOK = 136
# 11-bit probabilities: decode tables of 17 contexts x 2048 slots x 4 B stay in L2 (139 KiB), and
# finer precision measured no gain on 136-token alphabets (REPORT §5.3).
PROB_BITS = 11
PROB_SCALE = 1 << PROB_BITS
RANS_LOW = 1 << 16
_ONE = np.uint64(1)


def bitlen(u: U64) -> I64:
    """Exact bit length of each uint64 (0 for 0)."""
    hi = (u >> np.uint64(32)).astype(np.float64)
    lo = (u & np.uint64(0xFFFFFFFF)).astype(np.float64)
    out: I64 = np.where(hi > 0, np.frexp(hi)[1] + 32, np.frexp(lo)[1]).astype(np.int64)
    return out


def context_of(u1: U64, u2: U64) -> tuple[I64, I64]:
    """(ctx, sh) of the next sample of lanes whose previous two values are u1, u2."""
    s = (u1 >> _ONE) + (u2 >> _ONE) + (u1 & u2 & _ONE)
    cb = bitlen(s)
    return np.minimum(cb, N_CTX - 1), np.maximum(cb - (N_CTX - 1), 0)


def lane_tokens(u: U64, starts: I64) -> tuple[I64, I64, U64, I64]:
    """(ctx, token, raw, raw bit count) of every sample of lanes starting at ``starts`` in ``u``."""
    lens = np.diff(np.append(starts, u.size))
    pos = np.arange(u.size) - np.repeat(starts, lens)
    idx = np.arange(u.size)
    u1 = np.where(pos >= 1, u[np.maximum(idx - 1, 0)], np.uint64(0))
    u2 = np.where(pos >= 2, u[np.maximum(idx - 2, 0)], np.uint64(0))
    ctx, sh = context_of(u1, u2)
    shu = sh.astype(np.uint64)
    q = u >> shu
    n = bitlen(q)
    small = q < np.uint64(16)
    nq = np.maximum(n - 2, 0)
    top = ((q >> nq.astype(np.uint64)) & _ONE).astype(np.int64)
    tok = np.where(small, q.astype(np.int64) & 15, 16 + 2 * (n - 5) + top)
    qbits = np.where(small, 0, nq)
    low = u & ((_ONE << shu) - _ONE)
    ext = q & ((_ONE << qbits.astype(np.uint64)) - _ONE)
    raw = (ext << shu) | low
    return ctx, tok, raw, qbits + sh


def normalise(counts: I64) -> I64:
    """Frequencies summing to ``PROB_SCALE`` (>= 1 for every seen token) for one count row."""
    total = int(counts.sum())
    f = np.where(counts > 0, np.maximum((counts * PROB_SCALE) // max(total, 1), 1), 0)
    diff = PROB_SCALE - int(f.sum())
    if diff > 0:
        f[int(np.argmax(counts))] += diff
    while diff < 0:
        j = int(np.argmax(f))
        take = min(-diff, int(f[j]) - 1)
        f[j] -= take
        diff += take
    out: I64 = f.astype(np.int64)
    return out


def pack_raw_bits(raw: U64, nbits: I64, starts: I64) -> tuple[bytes, I64]:
    """Each lane's raw fields (low ``nbits[i]`` bits of ``raw[i]``, LSB first) from a byte
    boundary on; returns (bytes, bytes per lane)."""
    lens = np.diff(np.append(starts, raw.size))
    lane = np.repeat(np.arange(starts.size), lens)
    lane_bits = np.bincount(lane, weights=nbits, minlength=starts.size).astype(np.int64)
    lane_bytes = (lane_bits + 7) >> 3
    total = int(nbits.sum())
    if total == 0:
        return b"", lane_bytes
    lane_at = 8 * (np.cumsum(lane_bytes) - lane_bytes)
    within = np.cumsum(nbits) - nbits
    within -= (np.cumsum(lane_bits) - lane_bits)[lane]
    field_at = lane_at[lane] + within
    field = np.repeat(np.arange(raw.size), nbits)
    bit_in_field = np.arange(total) - (np.cumsum(nbits) - nbits)[field]
    bits = np.zeros(8 * int(lane_bytes.sum()), np.uint8)
    bits[field_at[field] + bit_in_field] = (raw[field] >> bit_in_field.astype(np.uint64)) & _ONE
    return np.packbits(bits, bitorder="little").tobytes(), lane_bytes


def encode_lanes(freq: I64, cum: I64, starts: I64, lens: I64) -> tuple[bytes, I64, bytes]:
    """rANS-encode each lane (symbols with ``freq``/``cum``) into its own word stream, all lanes
    stepped at once; returns (words u16 LE, words per lane, final states u32 LE)."""
    n_lanes = starts.size
    x = np.full(n_lanes, RANS_LOW, np.uint64)
    lanes = np.arange(n_lanes)
    emit_lane: list[I64] = []
    emit_t: list[I64] = []
    emit_word: list[U64] = []
    xmax_unit = np.uint64((RANS_LOW >> PROB_BITS) << 16)
    for t in range(int(lens.max(initial=0)) - 1, -1, -1):
        act = lanes[lens > t]
        at = starts[act] + t
        f = freq[at].astype(np.uint64)
        xs = x[act]
        emit = xs >= xmax_unit * f
        emit_lane.append(act[emit])
        emit_t.append(np.full(int(emit.sum()), t, np.int64))
        emit_word.append(xs[emit] & np.uint64(0xFFFF))
        xs = np.where(emit, xs >> np.uint64(16), xs)
        x[act] = ((xs // f) << np.uint64(PROB_BITS)) + (xs % f) + cum[at].astype(np.uint64)
    if not emit_lane:
        return b"", np.zeros(n_lanes, np.int64), x.astype("<u4").tobytes()
    el, et, ew = np.concatenate(emit_lane), np.concatenate(emit_t), np.concatenate(emit_word)
    order = np.lexsort((et, el))  # per lane, in the order the decoder reads them
    counts = np.bincount(el, minlength=n_lanes).astype(np.int64)
    return ew[order].astype("<u2").tobytes(), counts, x.astype("<u4").tobytes()


def decode_lanes(
    freq: I64,
    words: npt.NDArray[np.uint16],
    lane_words: I64,
    raw: npt.NDArray[np.uint8],
    lane_bytes: I64,
    states: npt.NDArray[np.uint32],
    lens: I64,
) -> U64:
    """Inverse of the lane coding: ``u`` of every lane, concatenated; ValueError when a lane's
    stream runs short or long. ``freq`` is (N_CTX, N_TOK); ``words`` and ``raw`` end with 16 zero
    bytes of padding."""
    cum = np.cumsum(freq, axis=1) - freq
    slot_tok = np.zeros((N_CTX, PROB_SCALE), np.int64)
    for c in range(N_CTX):
        if int(freq[c].sum()):
            slot_tok[c] = np.repeat(np.arange(N_TOK), freq[c])
    starts = np.cumsum(lens) - lens
    u = np.zeros(int(lens.sum()), np.uint64)
    x = states.astype(np.uint64)
    u1 = np.zeros(lens.size, np.uint64)
    u2 = np.zeros(lens.size, np.uint64)
    w = words.astype(np.uint64)
    wpos = np.cumsum(lane_words) - lane_words
    wend = wpos + lane_words
    bpos = 8 * (np.cumsum(lane_bytes) - lane_bytes)
    bend = bpos + 8 * lane_bytes
    lanes = np.arange(lens.size)
    rawu = raw.astype(np.uint64)
    nine = np.arange(9)
    shifts = (np.arange(8) * 8).astype(np.uint64)
    mask11 = np.uint64(PROB_SCALE - 1)
    unused = freq.sum(axis=1) == 0
    for t in range(int(lens.max(initial=0))):
        act = lanes[lens > t]
        ctx, sh = context_of(u1[act], u2[act])
        if np.any(unused[ctx]):  # a valid encoder codes no symbol in a context it left out
            raise ValueError("symbol in an unused context")
        xs = x[act]
        slot = xs & mask11
        tok = slot_tok[ctx, slot.astype(np.intp)]
        f = freq[ctx, tok].astype(np.uint64)
        xs = f * (xs >> np.uint64(PROB_BITS)) + slot - cum[ctx, tok].astype(np.uint64)
        need = xs < np.uint64(RANS_LOW)
        wp = wpos[act]
        if np.any(need & (wp >= wend[act])):
            raise ValueError("rans word stream ends early")
        xs = np.where(need, (xs << np.uint64(16)) | w[np.minimum(wp, w.size - 1)], xs)
        wpos[act] = wp + need
        x[act] = xs
        small = tok < 16
        n = (tok - 16) // 2 + 5
        qbits = np.where(small, 0, n - 2)
        nb = qbits + sh
        if int(nb.max()) > 62:
            raise ValueError("raw field longer than 62 bits")
        off = bpos[act]
        if np.any(off + nb > bend[act]):
            raise ValueError("raw bit stream ends early")
        bpos[act] = off + nb
        byte = rawu[(off >> 3)[:, None] + nine]
        lo = (byte[:, :8] << shifts).sum(axis=1, dtype=np.uint64)
        bsh = (off & 7).astype(np.uint64)
        hi = np.where(bsh > 0, byte[:, 8] << ((np.uint64(64) - bsh) & np.uint64(63)), 0)
        val = ((lo >> bsh) | hi) & ((_ONE << nb.astype(np.uint64)) - _ONE)
        shu = sh.astype(np.uint64)
        ext = val >> shu
        lead = np.where(small, 0, _ONE << np.maximum(n - 1, 0).astype(np.uint64))
        second = np.where(small, 0, ((tok - 16) & 1).astype(np.uint64) << qbits.astype(np.uint64))
        q = np.where(small, tok.astype(np.uint64), lead | second | ext)
        ut = (q << shu) | (val & ((_ONE << shu) - _ONE))
        u[starts[act] + t] = ut
        u2[act] = u1[act]
        u1[act] = ut
    if np.any(wpos != wend):
        raise ValueError("rans word stream has trailing words")
    return u
