"""ctypes wrapper around rans.c: page-level static rANS coding of residual streams, real bytes."""
import ctypes, time, numpy as np, cramjam
lib = ctypes.CDLL("/work/scratch_compress/rans.so")
P = ctypes.c_void_p; I64 = ctypes.c_int64
lib.histo.argtypes = [P, P, ctypes.c_int, P]
lib.encode.restype = I64
lib.encode.argtypes = [P, P, ctypes.c_int, P, P, P, I64, P, P, P, P, P]
lib.build_sym.argtypes = [P, P, P]
lib.decode.argtypes = [P, P, P, ctypes.c_int, P, P, P, P]
lib.decode2.argtypes = [P, P, P, ctypes.c_int, P, P]
lib.build_packed.argtypes = [P, P, P, P]
NTOK, NCTX, SCALE = 136, 65, 2048

def normalize(cnt):
    """counts (NCTX, NTOK) -> freqs summing to 4096 per used context, >=1 for used symbols"""
    f = np.zeros_like(cnt, dtype=np.int64)
    for c in range(cnt.shape[0]):
        row = cnt[c].astype(np.int64); tot = row.sum()
        if tot == 0: continue
        fr = np.maximum((row * SCALE) // tot, (row > 0).astype(np.int64))
        while fr.sum() > SCALE:
            j = np.argmax(fr); fr[j] -= fr.sum() - SCALE if fr[j] - (fr.sum() - SCALE) >= 1 else fr[j] - 1
        fr[np.argmax(row)] += SCALE - fr.sum()
        f[c] = fr
    return f

def table_bytes(f):
    """serialized tables: bitmap of used contexts (9 B), per ctx: uvarint count, then (token gap, freq) varints; zstd'ed"""
    out = bytearray(9)
    for c in range(f.shape[0]):
        nz = np.flatnonzero(f[c])
        if nz.size == 0: continue
        out.append(nz.size); prev = -1
        for t in nz:
            out.append(int(t - prev - 1)); prev = t
            v = int(f[c, t]) - 1; out += bytes([v & 127 | 128, v >> 7]) if v >= 128 else bytes([v])
    return min(len(out), len(cramjam.zstd.compress(bytes(out), 19)))

def code_page(us, check=True, timing=False):
    lens = np.array([x.size for x in us], np.int64); cs = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    u = np.ascontiguousarray(np.concatenate(us) if us else np.zeros(0, np.uint64), dtype=np.uint64)
    n = u.size
    if n == 0: return 0, 0.0
    cnt = np.zeros(NCTX * NTOK, np.uint32)
    lib.histo(u.ctypes.data, cs.ctypes.data, len(us), cnt.ctypes.data)
    f = normalize(cnt.reshape(NCTX, NTOK)); freq = f.astype(np.uint32).ravel()
    cum = np.concatenate([np.zeros((NCTX, 1), np.int64), np.cumsum(f, axis=1)[:, :-1]], axis=1).astype(np.uint32).ravel()
    cap = 16 * n + 64; rbuf = np.zeros(cap, np.uint8); bbuf = np.zeros(8 * n + 16, np.uint8)
    rb = np.zeros(1, np.int64); nb = np.zeros(1, np.int64); cb = np.zeros(n, np.int32); tb = np.zeros(n, np.int32)
    nr = lib.encode(u.ctypes.data, cs.ctypes.data, len(us), freq.ctypes.data, cum.ctypes.data, rbuf.ctypes.data, cap,
                    rb.ctypes.data, bbuf.ctypes.data, nb.ctypes.data, cb.ctypes.data, tb.ctypes.data)
    total = int(nr) + int(nb[0]) + table_bytes(f) + 4
    dt = 0.0
    if check or timing:
        used = (f.sum(axis=1) > 0).astype(np.uint8); tab = np.zeros(NCTX * SCALE, np.uint32)
        rans = np.ascontiguousarray(rbuf[rb[0]:]); out = np.zeros(n, np.uint64)
        reps = 5 if timing else 1
        t = time.perf_counter()
        for _ in range(reps):
            lib.build_packed(freq.ctypes.data, cum.ctypes.data, tab.ctypes.data, used.ctypes.data)
            lib.decode2(rans.ctypes.data, bbuf.ctypes.data, cs.ctypes.data, len(us), tab.ctypes.data, out.ctypes.data)
        dt = (time.perf_counter() - t) / reps
        assert np.array_equal(out, u), "rANS round trip failed"
    return total, dt
