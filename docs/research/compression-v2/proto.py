"""Prototype transform stage (numpy) + entropy cost model. See REPORT.md."""
import sys, numpy as np
sys.path.insert(0, "/work/main/src")
from obskit.encoding.values import _find_decimal

U64 = np.uint64
MA_KS = (0, 1, 2, 4, 8, 16, 32)      # 0 = constant offset c; k = floor(mean of last k)

def zz(r):
    r = r.astype(np.int64, copy=False)
    return ((r << 1) ^ (r >> 63)).view(U64)

def bitlen(u):
    """exact bit length of uint64 array"""
    u = u.astype(U64, copy=False)
    hi = (u >> U64(32)).astype(np.float64); lo = (u & U64(0xFFFFFFFF)).astype(np.float64)
    bh = np.frexp(hi)[1]; bl = np.frexp(lo)[1]
    return np.where(hi > 0, bh + 32, bl).astype(np.int64)

def wdiff(x):
    return np.diff(x.view(U64)).view(np.int64)

def ma_pred(e, k, c):
    """prediction for e[t] from e[t-k..t-1], history initialised with c; floor division."""
    n = e.size
    if k == 0:
        return np.full(n, c, np.int64)
    ext = np.concatenate([np.full(k, c, np.int64), e])
    cs = np.concatenate([[0], np.cumsum(ext)])      # int64, caller keeps |e| < 2^56
    s = cs[k:k + n] - cs[0:n]
    return s >> int(np.log2(k)) if k & (k - 1) == 0 else s // k

def cost_proxy(r):
    """bits estimate used for choosing transforms: n*log2(mean|r|+1)+n*1.5 ~ Laplace/Golomb code length"""
    a = np.abs(r.astype(np.float64))
    return r.size * (np.log2(a.mean() + 1.0) + 1.5)

def best_temporal(e):
    """choose (k, c) minimising proxy; returns (k, c, r)"""
    if np.abs(e).max(initial=0) >= 2**55:
        return 0, 0, e
    c = int(np.median(e)) if e.size else 0
    best = None
    for k in MA_KS:
        r = e - ma_pred(e, k, c)
        cst = cost_proxy(r)
        if best is None or cst < best[0]:
            best = (cst, k, c, r)
    return best[1], best[2], best[3]

def gcd_of(e):
    if e.size == 0 or np.abs(e).max() >= 2**60: return 1
    g = int(np.gcd.reduce(e))
    return max(g, 1)

def uvlen(x):
    x = int(x); n = 1
    while x >= 128: x >>= 7; n += 1
    return n
def svlen(x):
    x = int(x); return uvlen((x << 1) if x >= 0 else ((-x) << 1) - 1)

def temporal_all(E, c):
    """E (m, n) int64 candidate streams, c (m,) offsets -> (cost (m,len(MA_KS)), R list per k)"""
    m, n = E.shape
    out_cost = np.empty((m, len(MA_KS))); Rs = []
    for j, k in enumerate(MA_KS):
        if k == 0:
            P = np.broadcast_to(c[:, None], E.shape)
        else:
            ext = np.concatenate([np.repeat(c[:, None], k, axis=1), E], axis=1)
            cs = np.concatenate([np.zeros((m, 1), np.int64), np.cumsum(ext, axis=1)], axis=1)
            s = cs[:, k:k + n] - cs[:, 0:n]
            P = s >> int(np.log2(k))
        R = E - P
        a = np.abs(R.astype(np.float64)).mean(axis=1)
        out_cost[:, j] = n * (np.log2(a + 1.0) + 1.5)
        Rs.append(R)
    return out_cost, Rs

class Col:
    __slots__ = ("kind", "hdr", "u", "desc", "d", "exp", "bits", "first", "exc")

def analyse_page(cols, opts):
    """cols: list of float64 arrays (same length). returns list of Col with residual streams u."""
    K = opts.get("K", 12)
    out = []
    for i, v in enumerate(cols):
        c = Col(); bits = v.view(np.uint64); c.bits = bits; n = v.size; c.d = None; c.exp = None; c.exc = None
        if np.all(bits == bits[0]):
            c.kind = "const"; c.hdr = 1 + uvlen(n) + 8; c.u = np.zeros(0, U64); c.desc = (("const",), 1, 0, 0)
            out.append(c); continue
        found = _find_decimal(v, n // 64) if opts.get("decimal", True) else None
        if found is not None:
            exp, m, mask = found
            exc_hdr = 1
            if mask.any():   # like today: exceptions repeat their neighbour's m, raw bits patched in
                pos = np.flatnonzero(mask)
                idx = np.where(mask, 0, np.arange(n)); idx[: int(np.argmin(mask))] = int(np.argmin(mask))
                m = m[np.maximum.accumulate(idx)]
                c.exc = pos
                exc_hdr = uvlen(pos.size) + sum(uvlen(g) for g in np.diff(pos, prepend=-1) - 1) + 8 * pos.size
            c.kind = "dec"; c.exp = exp; m = m.astype(np.int64); c.first = int(m[0])
            d = wdiff(m); c.d = d
            hdr = 1 + uvlen(n) + 1 + exc_hdr + svlen(m[0])        # codec, count, exp, exceptions, first
        else:
            c.kind = "flt"; m = bits.view(np.int64); d = wdiff(m); c.d = None; c.first = int(m[0])
            hdr = 1 + uvlen(n) + 8
        # ---- candidates for the delta stream: own, and cross-series ones
        cands = [(("own",), d)]
        go = gcd_of(d) if c.kind == "dec" else 1
        if c.kind == "dec" and opts.get("cross", True):
            prev = [j for j in range(max(0, i - K), i) if out[j].kind == "dec" and out[j].exp == exp]
            for j in prev:
                dx = out[j].d
                cands.append((("diff", i - j), d - dx))
                if opts.get("scaled", True):
                    den = float(np.dot(dx.astype(np.float64), dx))
                    if den > 0 and np.abs(dx).max() < 2**52:
                        a = float(np.float32(np.dot(dx.astype(np.float64), d) / den))
                        if a != 0 and a != 1:
                            cands.append((("scaled", i - j, a, go), d - (np.rint(a * dx / go) * go).astype(np.int64)))
            if opts.get("lin2", True):
                near = prev[-4:]
                for p1 in range(len(near)):
                    for p2 in range(p1 + 1, len(near)):
                        j1, j2 = near[p1], near[p2]
                        A = np.stack([out[j1].d, out[j2].d], 1).astype(np.float64)
                        if np.abs(A).max() >= 2**52: continue
                        coef, *_ = np.linalg.lstsq(A, d.astype(np.float64), rcond=None)
                        a1, a2 = (float(np.float32(x)) for x in coef)
                        X = (np.rint((a1 * A[:, 0] + a2 * A[:, 1]) / go) * go).astype(np.int64)
                        cands.append((("lin2", i - j1, i - j2, a1, a2, go), d - X))
            if opts.get("negsum", True):
                run = []
                for j in range(i - 1, max(-1, i - 9), -1):
                    if out[j].kind == "dec" and out[j].exp == exp: run.append(j)
                    else: break
                acc = d.copy()
                for t, j in enumerate(run):
                    acc = acc + out[j].d
                    if t >= 1: cands.append((("negsum", t + 1), acc.copy()))
        if c.kind == "flt" and opts.get("fcross", True):
            # float-domain predictor from an earlier float column: v_hat = v[t-1] + a*(x[t]-x[t-1])
            for j in range(max(0, i - K), i):
                if out[j].kind == "const": continue
                x = cols[j]; dx = np.diff(x); dv = np.diff(v)
                den = float(np.dot(dx, dx))
                if not np.isfinite(den) or den <= 0: continue
                a = float(np.float32(np.dot(dx, dv) / den))
                pred = v[:-1] + a * dx
                r = bits[1:].view(np.int64) - pred.view(np.int64)
                cands.append((("fscaled", i - j, a), r))
        # gcd per candidate (decimal only)
        E = np.stack([e for _, e in cands]); descs = [dsc for dsc, _ in cands]
        gs = np.ones(len(cands), np.int64)
        if c.kind == "dec":
            for q in range(len(cands)):
                g = gcd_of(E[q])
                if g > 1: E[q] //= g; gs[q] = g
        big = np.abs(E).max(axis=1) >= 2**55
        cmed = np.median(E, axis=1).astype(np.int64); cmed[big] = 0
        with np.errstate(over="ignore"):
            cost, Rs = temporal_all(E, cmed)
        cost[big, 1:] = np.inf
        extra = np.array([(0 if dsc[0] == "own" else 1 + (4 if dsc[0] in ("scaled", "fscaled") else 0) + (9 if dsc[0] == "lin2" else 0)) for dsc in descs]) * 8
        tot = cost + extra[:, None] + np.array([svlen(x) * 8 for x in cmed])[:, None]
        q, kj = np.unravel_index(np.argmin(tot), tot.shape)
        r = Rs[kj][q]
        c.u = zz(r); c.desc = (descs[q], int(gs[q]), MA_KS[kj], int(cmed[q]))
        c.hdr = hdr + uvlen(gs[q]) + 1 + svlen(cmed[q]) + (extra[q] // 8)
        out.append(c)
    return out

# ---------------- entropy cost models over a page ----------------
def hybrid_token(q):
    """q uint64 -> (token int64, n_extra_bits int64): values <16 literal, else (bitlen, 1 msb bit)"""
    n = bitlen(q)
    small = q < U64(16)
    second = ((q >> np.maximum(n - 2, 0).astype(U64)) & U64(1)).astype(np.int64)
    tok = np.where(small, q.astype(np.int64, copy=False) if False else np.minimum(q, U64(15)).astype(np.int64), 16 + (n - 5) * 2 + second)
    extra = np.where(small, 0, n - 2)
    return tok, extra

def ctx_stream(u, mode, nctx):
    """context for each u[t] from u[t-1], u[t-2] of the same column (0 for the first ones)."""
    u1 = np.concatenate([[U64(0)], u[:-1]]); u2 = np.concatenate([[U64(0), U64(0)], u[:-2]])[:u.size]
    s = (u1 >> U64(1)) + (u2 >> U64(1)) + (u1 & u2 & U64(1))
    return bitlen(s)

def table_bits(counts):
    """rough serialized size of one normalized frequency table"""
    m = int((counts > 0).sum())
    return 0 if m == 0 else 8 + 7 * m

def entropy_bits(counts):
    n = counts.sum()
    if n == 0: return 0.0
    p = counts[counts > 0] / n
    return float(-(counts[counts > 0] * np.log2(p)).sum())

def page_cost(us, mode="shift", shift_keep=2, nctx=6):
    """bits to code all residual streams of a page. modes:
       'tok'   : one static hybrid-token table per page, no context
       'ctxabs': context = bitlen of mean(|u1|,|u2|) (one table per context)
       'shift' : LOCO-I-like: k = max(0, ctxbits - shift_keep) low bits raw, q=u>>k hybrid-token
                 coded with context min(ctxbits, nctx-1)  (scale-invariant tables)"""
    if not us: return 0.0
    u = np.concatenate(us)
    if u.size == 0: return 0.0
    if mode == "tok":
        tok, ex = hybrid_token(u); ctx = np.zeros_like(tok)
    else:
        cb = np.concatenate([ctx_stream(x, mode, nctx) for x in us if x.size])
        if mode.startswith("hyb"):
            C = int(mode[3:]); k = np.maximum(0, cb - C)
            tok, ex = hybrid_token(u >> k.astype(U64)); ex = ex + k; ctx = np.minimum(cb, C)
        elif mode == "ctxabs":
            tok, ex = hybrid_token(u); ctx = cb
        else:
            k = np.maximum(0, cb - shift_keep)
            tok, ex = hybrid_token(u >> k.astype(U64)); ex = ex + k; ctx = np.minimum(cb, nctx - 1)
    key = ctx * 256 + tok
    cnt = np.bincount(key, minlength=256 * (ctx.max() + 1)).reshape(-1, 256)
    bits = float(ex.sum())
    for row in cnt:
        bits += entropy_bits(row) + table_bits(row)
    return bits
