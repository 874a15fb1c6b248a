import numpy as np, data, proto, ransw, run1, time, ctypes
(fams, labels), V = data.load("shared")
cols = [np.ascontiguousarray(V[s, :5760]) for s in range(97)]
res = proto.analyse_page(cols, {}); us = [c.u for c in res]
u = np.ascontiguousarray(np.concatenate(us)); n = u.size
lens = np.array([x.size for x in us]); cs = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
cnt = np.zeros(ransw.NCTX * ransw.NTOK, np.uint32); L = ransw.lib
L.histo(u.ctypes.data, cs.ctypes.data, len(us), cnt.ctypes.data)
f = ransw.normalize(cnt.reshape(ransw.NCTX, ransw.NTOK)); freq = f.astype(np.uint32).ravel()
cum = np.concatenate([np.zeros((ransw.NCTX, 1), np.int64), np.cumsum(f, axis=1)[:, :-1]], axis=1).astype(np.uint32).ravel()
cap = 16 * n + 64; rbuf = np.zeros(cap, np.uint8); bbuf = np.zeros(8 * n + 16, np.uint8)
rb = np.zeros(1, np.int64); nb = np.zeros(1, np.int64); cb = np.zeros(n, np.int32); tb = np.zeros(n, np.int32)
t = time.perf_counter()
nr = L.encode(u.ctypes.data, cs.ctypes.data, len(us), freq.ctypes.data, cum.ctypes.data, rbuf.ctypes.data, cap, rb.ctypes.data, bbuf.ctypes.data, nb.ctypes.data, cb.ctypes.data, tb.ctypes.data)
te = time.perf_counter() - t
used = (f.sum(axis=1) > 0).astype(np.uint8); tab = np.zeros(ransw.NCTX * ransw.SCALE, np.uint32)
L.build_packed(freq.ctypes.data, cum.ctypes.data, tab.ctypes.data, used.ctypes.data)
rans = np.ascontiguousarray(rbuf[rb[0]:]); out = np.zeros(n, np.uint64)
best = 1e9
for _ in range(20):
    t = time.perf_counter(); L.decode2(rans.ctypes.data, bbuf.ctypes.data, cs.ctypes.data, len(us), tab.ctypes.data, out.ctypes.data); best = min(best, time.perf_counter() - t)
assert np.array_equal(out, u)
print("n", n, "encode %.0f M/s" % (n / te / 1e6), "decode best %.0f M samples/s" % (n / best / 1e6), "used ctx", used.sum())
