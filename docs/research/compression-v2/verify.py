"""Bit-exact round trip of the transform stage: rebuild every column from (header fields, u streams)."""
import ctypes, sys, numpy as np, data, proto
lib = ctypes.CDLL("/work/scratch_compress/helpers.so")
P = ctypes.c_void_p
lib.ma_decode.argtypes = [P, P, ctypes.c_int64, ctypes.c_int, ctypes.c_int64]
lib.fscaled_decode.argtypes = [P, P, P, ctypes.c_int64, ctypes.c_double, ctypes.c_int64]

def unzz(u):
    return ((u >> np.uint64(1)) ^ (np.uint64(0) - (u & np.uint64(1)))).view(np.int64)

def decode_page(res, n):
    outv, outd = [], []
    for i, c in enumerate(res):
        if c.kind == "const":
            outv.append(np.repeat(c.bits[:1], n).view(np.float64)); outd.append(None); continue
        (x, g, k, cc) = c.desc
        r = np.ascontiguousarray(unzz(c.u)); e = np.empty_like(r)
        lib.ma_decode(r.ctypes.data, e.ctypes.data, r.size, k, cc)
        if x[0] == "fscaled":
            v = np.empty(n); ref = np.ascontiguousarray(outv[i - x[1]])
            lib.fscaled_decode(e.ctypes.data, ref.ctypes.data, v.ctypes.data, n, x[2], c.first)
            outv.append(v); outd.append(None); continue
        d = (e.view(np.uint64) * np.uint64(g)).view(np.int64)
        if x[0] == "diff": d = d + outd[i - x[1]]
        elif x[0] == "scaled": d = d + (np.rint(x[2] * outd[i - x[1]] / x[3]) * x[3]).astype(np.int64)
        elif x[0] == "lin2":
            d = d + (np.rint((x[3] * outd[i - x[1]].astype(np.float64) + x[4] * outd[i - x[2]].astype(np.float64)) / x[5]) * x[5]).astype(np.int64)
        elif x[0] == "negsum":
            for j in range(1, x[1] + 1): d = d - outd[i - j]
        m = np.concatenate([[np.uint64(c.first & 0xFFFFFFFFFFFFFFFF)], d.view(np.uint64)]).cumsum(dtype=np.uint64).view(np.int64)
        if c.kind == "dec":
            vv = m.astype(np.float64) / 10.0 ** c.exp
            if c.exc is not None: vv.view(np.uint64)[c.exc] = c.bits[c.exc]   # raw bits stored in header
            outd.append(d); outv.append(vv)
        else:
            outd.append(None); outv.append(m.view(np.float64))
    return outv

if __name__ == "__main__":
    import run1
    name, block, hosts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    (fams, labels), V = data.load(name)
    S = 97 * hosts; bad = 0; ncol = 0
    for t0 in range(0, V.shape[1], block):
        for a, b in run1.paginate(S, block, 65536):
            cols = [np.ascontiguousarray(V[s, t0:t0 + block]) for s in range(a, b)]
            res = proto.analyse_page(cols, {})
            got = decode_page(res, block)
            for s, gv, cv in zip(range(a, b), got, cols):
                ncol += 1
                if not np.array_equal(gv.view(np.uint64), cv.view(np.uint64)):
                    bad += 1; print("MISMATCH", s, fams[s], res[s - a].desc)
    print(name, block, hosts, "columns", ncol, "mismatches", bad)
