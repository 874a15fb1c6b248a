"""Transform stage of v2 value pages: float64 columns of one page <-> small integer residuals.

Per column (all int64 arithmetic wraps modulo 2**64): class (const | decimal ``m / 10**exp`` |
float bits) → deltas ``d`` of ``m`` → cross-series prediction ``X`` from an earlier column of the
same page (``e = (d - X) / gcd``) → temporal prediction ``P`` (``r = e - P``) → zigzag. The encoder
picks every option per column by a cheap cost proxy (``n * (log2(mean|r| + 1) + 1.5)`` bits). The
header fields are the arrays of ``ColumnParams``; ``obskit.encoding.valuepages`` draws the format.
Decoding (``columns_from_residuals``) is the numpy reference of ``native/value_pages.c``.

Cross predictors (X for t = 1..n-1; refs are earlier columns of the page with the same count):

    1 diff     X = d_ref                                   (ref decimal, same exp)
    2 scaled   X = rdiv(S(d_ref, m1, s1), lat) * lat       (ref decimal)
    3 lin2     X = rdiv(S(d_ref1, m1, s1) + S(d_ref2, m2, s2), lat) * lat
    4 negsum   X = -(d_{i-1} + ... + d_{i-k}), k = ref1  (the k previous columns, decimal, same exp)
    5 fscaled  p = v[t-1] + a * (x[t] - x[t-1]) in IEEE double (a = the bits in a1, x = ref's
               values); p = v[t-1] when p is not finite; bits(v[t]) = bits(p) + e[t]
               (float columns; the ref is not itself fscaled)

``S(d, m, s)`` = round-half-up(m * d / 2**s) computed exactly in integers (|m| < 2**31, s <= 32,
wrapping only when the true product leaves int64), ``rdiv(q, g) = floor((q + g // 2) / g)``.
Temporal predictors: ``ma`` index 0 → P = c; index j ≥ 1 → P = floor((e[t-1] + ... + e[t-k]) / k)
with k = 2**(j-1) and e[<0] = c.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from obskit import kernels
from obskit.encoding.values import _find_decimal

__all__ = ["ColumnParams", "analyse_columns", "columns_from_residuals"]

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]

KIND_CONST = 0x01
KIND_DECIMAL = 0x07
KIND_FLOAT = 0x08
X_NONE, X_DIFF, X_SCALED, X_LIN2, X_NEGSUM, X_FSCALED = range(6)
MA_KS = (0, 1, 2, 4, 8, 16, 32)
# Refs reach this many columns back: most of the gain comes from the 1-3 nearest (REPORT §5.3),
# and every ref costs a candidate stream per column at encode time.
MAX_REF = 4
LIN2_REFS = 3  # lin2 tries pairs among the nearest 3 eligible refs
NEGSUM_MAX = 8
# Residuals at or beyond this magnitude get no temporal predictor: window sums of 32 of them
# must stay inside int64.
_BIG = 1 << 55
_GCD_PROBE = 32
_ROUGH_MA = 16
_FINALISTS = 3  # candidates costed with every temporal predictor (see _choose)
_EXCEPTION_RATIO = 64  # at most 1 in 64 samples of a decimal column may be an exception
_MASK32 = np.int64(0xFFFFFFFF)
_EMPTY_I64 = np.zeros(0, np.int64)
_EMPTY_F64 = np.zeros(0, np.float64)
_POW10 = 10.0 ** np.arange(kernels.MAX_DECIMAL_EXP + 1, dtype=np.float64)


@dataclass(slots=True)
class ColumnParams:
    """Header fields of the columns of one page, one array entry per column (SoA)."""

    kind: npt.NDArray[np.uint8]
    count: npt.NDArray[np.uint32]
    exp: npt.NDArray[np.uint8]
    xpred: npt.NDArray[np.uint8]
    ref1: npt.NDArray[np.uint8]
    ref2: npt.NDArray[np.uint8]
    sh1: npt.NDArray[np.uint8]
    sh2: npt.NDArray[np.uint8]
    ma: npt.NDArray[np.uint8]
    first: I64
    gcd: I64
    lat: I64
    c: I64
    a1: I64
    a2: I64
    n_exc: npt.NDArray[np.uint32]
    exc_pos: npt.NDArray[np.uint32]
    exc_bits: U64


U8_FIELDS = ("kind", "exp", "xpred", "ref1", "ref2", "sh1", "sh2", "ma")
I64_FIELDS = ("first", "gcd", "lat", "c", "a1", "a2")


def _wdiff(m: I64) -> I64:
    return np.diff(m.view(np.uint64)).view(np.int64)


def _fixed_scale(d: I64, m: int, s: int) -> I64:
    """round-half-up(m * d / 2**s), exact for |m| < 2**31, s <= 32 (d split in 32-bit halves)."""
    hi = d >> np.int64(32)
    lo = (d & _MASK32) * np.int64(m)
    if s:
        lo = lo + np.int64(1 << (s - 1))
    out: I64 = ((hi * np.int64(m)) << np.int64(32 - s)) + (lo >> np.int64(s))
    return out


def _rdiv_lattice(q: I64, g: int) -> I64:
    if g == 1:
        return q
    out: I64 = ((q + np.int64(g >> 1)) // np.int64(g)) * np.int64(g)
    return out


def _gcd_rows(e: I64) -> I64:
    """``_gcd`` of every row."""
    g = np.gcd.reduce(e[:, :_GCD_PROBE], axis=1)
    out = np.ones(e.shape[0], np.int64)
    for r in np.flatnonzero(g != 1).tolist():
        out[r] = _gcd(e[r])
    return out


def _gcd(e: I64) -> int:
    if e.size == 0:
        return 1
    # Most streams have gcd 1, which their first samples usually show already (np.gcd is slow).
    if int(np.gcd.reduce(e[:_GCD_PROBE])) == 1:
        return 1
    lo, hi = int(e.min()), int(e.max())
    if lo <= -(1 << 62) or hi >= 1 << 62:
        return 1
    return max(int(np.gcd.reduce(e)), 1)


def _ma_predictions(e: I64, c: I64) -> list[I64]:
    """P for every MA_KS entry, for a stack of candidate streams e (m, n) with offsets c (m,)."""
    m, n = e.shape
    out = [np.broadcast_to(c[:, None], e.shape)]
    ext_max = MA_KS[-1]
    ext = np.concatenate([np.repeat(c[:, None], ext_max, axis=1), e], axis=1)
    cs = np.zeros((m, n + ext_max + 1), np.int64)
    np.cumsum(ext, axis=1, out=cs[:, 1:])
    for k in MA_KS[1:]:
        s = cs[:, ext_max : ext_max + n] - cs[:, ext_max - k : ext_max - k + n]
        out.append(s >> np.int64(k.bit_length() - 1))
    return out


# log2(1 + y) on [0, 1) to 1.5e-5 (least squares, Chebyshev nodes), Horner from the highest
# power: the cost proxy uses only IEEE +, *, / and frexp, so the C twin computes it bit for bit.
_LOG2_POLY = (0.0439291, -0.18983443, 0.41156415, -0.7072549, 1.44159239, 1.44e-05)


def _log2(x: F64) -> F64:
    """log2(x) for x >= 1 within 1.5e-5, bit-identical in ``native/value_pages_enc.c``."""
    mant, ex = np.frexp(x)
    y = mant * 2.0 - 1.0
    poly = np.full_like(y, _LOG2_POLY[0])
    for coef in _LOG2_POLY[1:]:
        poly = poly * y + coef
    out: F64 = (ex - 1).astype(np.float64) + poly
    return out


def _abs_sums(r: I64) -> F64:
    """sum(|r|) per row, summed exactly as ``hi * 2**32 + lo`` (``lo < 2**32``) and then
    rounded once to float64 (``hi`` < 2**53 below 2**22 samples per row)."""
    u = np.abs(r).view(np.uint64)  # |INT64_MIN| reads as 2**63
    mask = np.uint64(0xFFFFFFFF)
    n = max(r.shape[-1], 1)
    if u.size and int(u.max()) > (2**64 - 1) // n:  # the sums may not fit in 64 bits
        hi = (u >> np.uint64(32)).sum(axis=-1, dtype=np.uint64)
        lo = (u & mask).sum(axis=-1, dtype=np.uint64)
        hi += lo >> np.uint64(32)
    else:
        lo = u.sum(axis=-1, dtype=np.uint64)
        hi = lo >> np.uint64(32)
    out: F64 = hi.astype(np.float64) * 4294967296.0 + (lo & mask).astype(np.float64)
    return out


def _cost(r: I64) -> F64:
    """The cost proxy ``n * (log2(mean|r| + 1) + 1.5)`` bits of each row (of n residuals)."""
    n = float(r.shape[-1])
    cost: F64 = n * (_log2(_abs_sums(r) / n + 1.0) + 1.5)
    return cost


def _dot_rows(a: F64, b: F64) -> F64:
    """sum(a * b) per row, added in sample order (as the C twin does; numpy's pairwise sums and
    BLAS would round differently)."""
    if a.shape[-1] == 0:
        return np.zeros(a.shape[:-1], np.float64)
    out: F64 = np.cumsum(a * b, axis=-1)[..., -1]
    return out


@dataclass(slots=True)
class _Col:
    kind: int
    n: int
    v: F64
    exp: int = 0
    d: I64 = field(default_factory=lambda: _EMPTY_I64)
    df: F64 = field(default_factory=lambda: _EMPTY_F64)
    fscaled: bool = False


def _wsub(a: I64, b: I64) -> I64:
    out: I64 = (a.view(np.uint64) - b.view(np.uint64)).view(np.int64)
    return out


def _fixed_vec(a: F64) -> tuple[I64, I64, npt.NDArray[np.bool_]]:
    """(m, s, usable) with m / 2**s ~ a, |m| < 2**31, 0 <= s <= 32, for many coefficients."""
    with np.errstate(all="ignore"):
        ok = np.isfinite(a) & (a != 0.0) & (np.abs(a) < 2.0**30)
        lg = np.frexp(np.where(ok, a, 1.0))[1].astype(np.int64) - 1  # floor(log2|a|), exact
        s = np.clip(29 - lg, 0, 32)
        m = np.rint(np.ldexp(np.where(ok, a, 0.0), s.astype(np.int32)))
    ok &= (m != 0) & (np.abs(m) < 2.0**31)
    return np.where(ok, m, 0).astype(np.int64), s, ok


def _fixed_scale_rows(d: I64, m: I64, s: I64) -> I64:
    """``_fixed_scale`` of rows ``d`` (r, n) with per-row ``m``, ``s`` (r,)."""
    mm, ss = m[:, None], s[:, None]
    hi = d >> np.int64(32)
    lo = (d & _MASK32) * mm + np.where(ss > 0, np.int64(1) << np.maximum(ss - 1, 0), 0)
    out: I64 = ((hi * mm) << (np.int64(32) - ss)) + (lo >> ss)
    return out


# Descriptor columns of a candidate (one row per candidate stream).
_D_XPRED, _D_REF1, _D_REF2, _D_M1, _D_S1, _D_M2, _D_S2, _D_LAT, _D_BITS = range(9)


def _rows(xpred: int, k: int, bits: int) -> I64:
    out = np.zeros((k, 9), np.int64)
    out[:, _D_XPRED] = xpred
    out[:, _D_LAT] = 1
    out[:, _D_BITS] = bits
    return out


def _candidates(i: int, v: F64, d: I64, kind: int, exp: int, cols: list[_Col]) -> tuple[I64, I64]:
    """Candidate e streams (m, n-1) of column i and their descriptors (m, 9), own first."""
    n = v.size
    streams = [d[None, :]]
    descs = [_rows(X_NONE, 1, 0)]
    window = range(max(0, i - MAX_REF), i)
    if kind == KIND_FLOAT:
        refs = [j for j in window if cols[j].kind != KIND_CONST and cols[j].n == n]
        refs = [j for j in refs if not cols[j].fscaled]
        if refs:
            x = np.stack([cols[j].v for j in refs])
            dx = np.diff(x, axis=1)
            dv = np.diff(v)
            ok = np.isfinite(dx) & np.isfinite(dv)[None, :]
            dxz, dvz = np.where(ok, dx, 0.0), np.where(ok, dv[None, :], 0.0)
            den = _dot_rows(dxz, dxz)
            a = np.where(den > 0, _dot_rows(dxz, dvz) / np.where(den > 0, den, 1.0), 0.0)
            a = a.astype(np.float32).astype(np.float64)
            use = np.isfinite(a) & (a != 0.0)
            if use.any():
                a, dx = a[use], dx[use]
                pred = v[None, :-1] + a[:, None] * dx
                pred = np.where(np.isfinite(pred), pred, v[None, :-1])
                streams.append(_wsub(v[None, 1:].view(np.int64), pred.view(np.int64)))
                desc = _rows(X_FSCALED, int(use.sum()), 72)
                desc[:, _D_REF1] = i - np.array(refs)[use]
                desc[:, _D_M1] = a.view(np.int64)
                descs.append(desc)
    elif kind == KIND_DECIMAL:
        refs = [j for j in window if cols[j].kind == KIND_DECIMAL and cols[j].n == n]
        if refs:
            own_g = _gcd(d)
            dr = np.stack([cols[j].d for j in refs])
            drf = np.stack([cols[j].df for j in refs])
            back = i - np.array(refs)
            same = np.array([cols[j].exp == exp for j in refs])
            if same.any():
                streams.append(d[None, :] - dr[same])
                desc = _rows(X_DIFF, int(same.sum()), 8)
                desc[:, _D_REF1] = back[same]
                descs.append(desc)
            ddf = d.astype(np.float64)
            gram = _dot_rows(drf[:, None, :], drf[None, :, :])
            proj = _dot_rows(drf, ddf[None, :])
            diag = np.diag(gram)
            m, sh, ok = _fixed_vec(np.where(diag > 0, proj / np.where(diag > 0, diag, 1.0), 0.0))
            ok &= ~((m == 1) & (sh == 0))
            if ok.any():
                lattice = _rdiv_lattice(_fixed_scale_rows(dr[ok], m[ok], sh[ok]), own_g)
                streams.append(d[None, :] - lattice)
                desc = _rows(X_SCALED, int(ok.sum()), 56)
                desc[:, _D_REF1], desc[:, _D_M1], desc[:, _D_S1] = back[ok], m[ok], sh[ok]
                desc[:, _D_LAT] = own_g
                descs.append(desc)
            near = list(range(max(0, len(refs) - LIN2_REFS), len(refs)))
            pairs = [(p1, p2) for x1, p1 in enumerate(near) for p2 in near[x1 + 1 :]]
            if pairs:
                p1s, p2s = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
                s11, s22, s12 = diag[p1s], diag[p2s], gram[p1s, p2s]
                b1, b2 = proj[p1s], proj[p2s]
                det = s11 * s22 - s12 * s12
                good = np.isfinite(det) & (det > 1e-9 * np.maximum(s11 * s22, 1.0))
                det = np.where(good, det, 1.0)
                m1, sh1, ok1 = _fixed_vec((b1 * s22 - b2 * s12) / det)
                m2, sh2, ok2 = _fixed_vec((b2 * s11 - b1 * s12) / det)
                good &= ok1 & ok2
                if good.any():
                    q = _fixed_scale_rows(dr[p1s[good]], m1[good], sh1[good])
                    q = q + _fixed_scale_rows(dr[p2s[good]], m2[good], sh2[good])
                    streams.append(d[None, :] - _rdiv_lattice(q, own_g))
                    desc = _rows(X_LIN2, int(good.sum()), 112)
                    desc[:, _D_REF1], desc[:, _D_REF2] = back[p1s[good]], back[p2s[good]]
                    desc[:, _D_M1], desc[:, _D_S1] = m1[good], sh1[good]
                    desc[:, _D_M2], desc[:, _D_S2] = m2[good], sh2[good]
                    desc[:, _D_LAT] = own_g
                    descs.append(desc)
        run = 0
        while run < NEGSUM_MAX and i - run - 1 >= 0:
            ref = cols[i - run - 1]
            if not (ref.kind == KIND_DECIMAL and ref.exp == exp and ref.n == n):
                break
            run += 1
        if run >= 2:
            acc = d[None, :] + np.cumsum(np.stack([cols[i - k].d for k in range(1, run + 1)]), 0)
            streams.append(acc[1:])
            desc = _rows(X_NEGSUM, run - 1, 8)
            desc[:, _D_REF1] = np.arange(2, run + 1)
            descs.append(desc)
    return np.concatenate(streams), np.concatenate(descs)


def _choose(streams: I64, desc: I64) -> tuple[int, int, int, int, I64]:
    """Best (candidate row, gcd, ma index, c, residuals r) by the cost proxy.

    Every candidate is costed with the two cheapest temporal predictors (constant median,
    previous value); only the best ``_FINALISTS`` get all of ``MA_KS`` (the ranking rarely
    changes, and this is most of the encoder's time)."""
    gs = _gcd_rows(streams)
    gs[desc[:, _D_XPRED] == X_FSCALED] = 1
    e = streams
    if np.any(gs > 1):
        e = np.where(gs[:, None] > 1, streams // gs[:, None], streams)
    n = e.shape[1]
    big = (e.max(axis=1) >= _BIG) | (e.min(axis=1) <= -_BIG)
    c = np.partition(e, n // 2, axis=1)[:, n // 2]
    c[big] = 0
    extra = desc[:, _D_BITS].astype(np.float64)
    proxies = [e - c[:, None]]
    if n > 1:
        step = np.empty_like(e)
        step[:, 0] = e[:, 0] - c
        step[:, 1:] = np.diff(e, axis=1)
        # a long moving average (counters' diurnal increments) ranks some candidates first
        safe = np.where(big[:, None], 0, e)
        k = _ROUGH_MA
        cs = np.zeros((e.shape[0], n + 1), np.int64)
        np.cumsum(safe, axis=1, out=cs[:, 1:])
        win = cs[:, 1:] - cs[:, np.maximum(np.arange(n) + 1 - k, 0)]
        lag = np.empty_like(e)
        lag[:, 0] = c
        lag[:, 1:] = win[:, :-1] // np.minimum(np.arange(1, n), k)
        proxies += [step, safe - lag]
    costs = _cost(np.stack(proxies))
    costs[1:, big] = np.inf  # big rows: only e - c (= e) is meaningful
    finalists = np.argsort(costs.min(axis=0) + extra, kind="stable")[:_FINALISTS]
    fe, fc, fbig = e[finalists], c[finalists], big[finalists]
    safe = np.where(fbig[:, None], 0, fe)
    preds = _ma_predictions(safe, fc)
    res = np.stack([fe - fc[:, None]] + [safe - pred for pred in preds[1:]])
    costs = _cost(res) + extra[finalists]
    costs[1:, fbig] = np.inf
    # the first minimum in (ma index, finalist) order
    j, q = divmod(int(np.argmin(costs)), finalists.size)
    at = int(finalists[q])
    if big[at]:
        return at, int(gs[at]), 0, 0, e[at]
    r: I64 = _wsub(fe[q], preds[j][q])
    return at, int(gs[at]), j, int(fc[q]), r


def zigzag(r: I64) -> U64:
    out: U64 = ((r << np.int64(1)) ^ (r >> np.int64(63))).view(np.uint64)
    return out


def unzigzag(u: U64) -> I64:
    out: I64 = ((u >> np.uint64(1)) ^ (np.uint64(0) - (u & np.uint64(1)))).view(np.int64)
    return out


def analyse_columns(cols: list[F64]) -> tuple[ColumnParams, list[U64]]:
    """Header fields and residual streams (zigzagged, one per non-const column) of a page.

    The numpy reference of ``kernels.analyse_value_page`` (``native/value_pages_enc.c``), which
    runs instead when the native backend is in use."""
    if kernels.BACKEND == "native":
        return _analyse_native(cols)
    k = len(cols)
    p = _empty_params(k)
    exc_pos: list[npt.NDArray[np.uint32]] = []
    exc_bits: list[U64] = []
    streams: list[U64] = []
    done: list[_Col] = []
    for i, col in enumerate(cols):
        v = np.ascontiguousarray(col, dtype=np.float64)
        n = v.size
        if n == 0:
            raise ValueError("cannot encode an empty value column")
        bits = v.view(np.uint64)
        p.count[i] = n
        if bool(np.all(bits == bits[0])):
            p.kind[i] = KIND_CONST
            p.first[i] = bits[:1].view(np.int64)[0]
            done.append(_Col(KIND_CONST, n, v))
            continue
        found = _find_decimal(v, n // _EXCEPTION_RATIO)
        if found is not None:
            exp, m, mask = found
            pos = np.flatnonzero(mask)
            if pos.size == n:
                m = np.zeros(n, np.int64)
            elif pos.size:
                idx = np.where(mask, 0, np.arange(n))
                idx[: int(np.argmin(mask))] = int(np.argmin(mask))
                m = m[np.maximum.accumulate(idx)]
            kind = KIND_DECIMAL
            p.exp[i] = exp
            p.n_exc[i] = pos.size
            exc_pos.append(pos.astype(np.uint32))
            exc_bits.append(bits[pos])
        else:
            kind, exp, m = KIND_FLOAT, 0, bits.view(np.int64)
        p.kind[i] = kind
        p.first[i] = m[0]
        d = _wdiff(m)
        with np.errstate(all="ignore"):  # inf/NaN samples only make candidates useless
            cand, desc = _candidates(i, v, d, kind, exp, done)
            at, g, ma, c, r = _choose(cand, desc)
        row = desc[at].tolist()
        p.xpred[i], p.ref1[i], p.ref2[i] = row[_D_XPRED], row[_D_REF1], row[_D_REF2]
        p.sh1[i], p.sh2[i], p.a1[i], p.a2[i] = row[_D_S1], row[_D_S2], row[_D_M1], row[_D_M2]
        p.lat[i], p.gcd[i], p.ma[i], p.c[i] = row[_D_LAT], g, ma, c
        info = _Col(kind, n, v, exp, fscaled=row[_D_XPRED] == X_FSCALED)
        if kind == KIND_DECIMAL:
            info.d, info.df = d, d.astype(np.float64)
        done.append(info)
        streams.append(zigzag(r))
    p.exc_pos = np.concatenate(exc_pos) if exc_pos else np.zeros(0, np.uint32)
    p.exc_bits = np.concatenate(exc_bits) if exc_bits else np.zeros(0, np.uint64)
    return p, streams


def _analyse_native(cols: list[F64]) -> tuple[ColumnParams, list[U64]]:
    counts = np.array([c.size for c in cols], np.int64)
    if counts.size and int(counts.min()) == 0:
        raise ValueError("cannot encode an empty value column")
    values = np.concatenate(cols).astype(np.float64, copy=False) if cols else _EMPTY_F64
    rows, resid, exc_pos, exc_bits = kernels.analyse_value_page(values, counts)
    f = rows.T
    p = ColumnParams(
        kind=f[0].astype(np.uint8),
        count=f[1].astype(np.uint32),
        exp=f[2].astype(np.uint8),
        xpred=f[3].astype(np.uint8),
        ref1=f[4].astype(np.uint8),
        ref2=f[5].astype(np.uint8),
        sh1=f[6].astype(np.uint8),
        sh2=f[7].astype(np.uint8),
        ma=f[8].astype(np.uint8),
        first=f[9].copy(),
        gcd=f[10].copy(),
        lat=f[11].copy(),
        c=f[12].copy(),
        a1=f[13].copy(),
        a2=f[14].copy(),
        n_exc=f[15].astype(np.uint32),
        exc_pos=exc_pos,
        exc_bits=exc_bits,
    )
    lens = np.where(p.kind != KIND_CONST, counts - 1, 0)
    streams = np.split(resid, np.cumsum(lens)[:-1])
    return p, [s for s, n in zip(streams, lens.tolist(), strict=True) if n]


def _empty_params(k: int) -> ColumnParams:
    u8 = {name: np.zeros(k, np.uint8) for name in U8_FIELDS}
    i64 = {name: np.zeros(k, np.int64) for name in I64_FIELDS}
    i64["gcd"][:] = 1
    i64["lat"][:] = 1
    return ColumnParams(
        count=np.zeros(k, np.uint32),
        n_exc=np.zeros(k, np.uint32),
        exc_pos=np.zeros(0, np.uint32),
        exc_bits=np.zeros(0, np.uint64),
        **u8,  # type: ignore[arg-type]
        **i64,  # type: ignore[arg-type]
    )


def ma_inverse(r: I64, starts: I64, lens: I64, ma: npt.NDArray[np.uint8], c: I64) -> I64:
    """e from r = e - P for lanes ``[starts[l], +lens[l])`` of ``r``, stepped in lock-step."""
    e = np.empty_like(r)
    k = np.array(MA_KS, np.int64)[ma.astype(np.intp)]
    sh = np.where(k > 0, np.log2(np.maximum(k, 1)).astype(np.int64), 0)
    s = c * k  # window sums, history = c
    lanes = np.arange(starts.size)
    with np.errstate(over="ignore"):
        for t in range(int(lens.max(initial=0))):
            act = lanes[lens > t]
            if act.size != lanes.size:
                lanes, s, k, sh = act, s[lens > t], k[lens > t], sh[lens > t]
                c, starts, lens = c[lens > t], starts[lens > t], lens[lens > t]
            pred = np.where(k > 0, s >> sh, c)
            at = starts + t
            et = r[at] + pred
            e[at] = et
            old = np.where(t >= k, e[np.maximum(at - k, starts)], c)
            s = s + et - old
    return e


class ColumnDamage(ValueError):
    """A header field of a v2 column contradicts the others (turned into CorruptDataError)."""


def _ref(i: int, back: int, p: ColumnParams) -> int:
    j = i - back
    if back < 1 or j < 0 or p.count[j] != p.count[i]:
        raise ColumnDamage(f"column {i}: bad reference {back}")
    return j


def columns_from_residuals(p: ColumnParams, e: I64, out: F64, col_at: I64) -> None:
    """Rebuild the page's columns from the lanes' e streams, column i into
    ``out[col_at[i] : col_at[i] + count[i]]``."""
    count = p.count.astype(np.int64)
    lane_at = 0
    exc_at = 0
    ds: dict[int, I64] = {}
    fscaled: list[tuple[int, int, int]] = []
    for i in range(count.size):
        n = int(count[i])
        at = int(col_at[i])
        kind = int(p.kind[i])
        if kind == KIND_CONST:
            out[at : at + n].view(np.int64)[:] = p.first[i]
            continue
        ei = e[lane_at : lane_at + n - 1]
        lane_at += n - 1
        xpred = int(p.xpred[i])
        if xpred == X_FSCALED:
            fscaled.append((i, at, lane_at - (n - 1)))
            continue
        g = np.int64(p.gcd[i])
        d = ei * g if g != 1 else ei.copy()
        d = d + _cross(i, xpred, p, ds)
        m = np.empty(n, np.int64)
        m[0] = p.first[i]
        m[1:] = d
        m = np.cumsum(m.view(np.uint64)).view(np.int64)
        if kind == KIND_DECIMAL:
            ds[i] = d
            vals = out[at : at + n]
            vals[:] = m.astype(np.float64) / _POW10[int(p.exp[i])]
            ne = int(p.n_exc[i])
            if ne:
                pos = p.exc_pos[exc_at : exc_at + ne].astype(np.intp)
                vals.view(np.uint64)[pos] = p.exc_bits[exc_at : exc_at + ne]
                exc_at += ne
        else:
            out[at : at + n].view(np.int64)[:] = m
    if fscaled:
        _fscaled_inverse(p, e, out, col_at, fscaled)


def _cross(i: int, xpred: int, p: ColumnParams, ds: dict[int, I64]) -> I64 | np.int64:
    if xpred == X_NONE:
        return np.int64(0)
    if xpred == X_NEGSUM:
        total: I64 | np.int64 = np.int64(0)
        for back in range(1, int(p.ref1[i]) + 1):
            j = _ref(i, back, p)
            if j not in ds or p.exp[j] != p.exp[i]:
                raise ColumnDamage(f"column {i}: negsum over a non-decimal column")
            total = total - ds[j]
        return total
    j1 = _ref(i, int(p.ref1[i]), p)
    if j1 not in ds:
        raise ColumnDamage(f"column {i}: reference {j1} is not a decimal column")
    if xpred == X_DIFF:
        return ds[j1]
    q = _fixed_scale(ds[j1], int(p.a1[i]), int(p.sh1[i]))
    if xpred == X_LIN2:
        j2 = _ref(i, int(p.ref2[i]), p)
        if j2 not in ds:
            raise ColumnDamage(f"column {i}: reference {j2} is not a decimal column")
        q = q + _fixed_scale(ds[j2], int(p.a2[i]), int(p.sh2[i]))
    return _rdiv_lattice(q, int(p.lat[i]))


def _fscaled_inverse(
    p: ColumnParams, e: I64, out: F64, col_at: I64, cols: list[tuple[int, int, int]]
) -> None:
    """bits(v[t]) = bits(p[t]) + e[t], stepped in lock-step over the page's fscaled columns."""
    idx = np.array([c[0] for c in cols], np.int64)
    at = np.array([c[1] for c in cols], np.int64)
    lane = np.array([c[2] for c in cols], np.int64)
    refs = np.array([_ref(i, int(p.ref1[i]), p) for i in idx.tolist()], np.int64)
    ref_at = col_at[refs]
    a = p.a1[idx].view(np.float64)
    n = p.count[idx].astype(np.int64)
    bits = out.view(np.int64)
    bits[at] = p.first[idx]
    with np.errstate(all="ignore"):
        for t in range(1, int(n.max())):
            live = n > t
            cur, prev = at[live] + t, at[live] + t - 1
            x1, x0 = out[ref_at[live] + t], out[ref_at[live] + t - 1]
            pred = out[prev] + a[live] * (x1 - x0)
            pred = np.where(np.isfinite(pred), pred, out[prev])
            bits[cur] = _wsub(pred.view(np.int64), -e[lane[live] + t - 1])
