import sys, time, collections, numpy as np, data, proto
def paginate(S, n, page_samples):
    per = max(1, page_samples // n); return [(a, min(S, a + per)) for a in range(0, S, per)]
def run(name, block, opts, modes=("tok", "ctxabs", "shift"), page_samples=65536, smax=None):
    (fams, labels), V = data.load(name)
    S, T = V.shape; S = smax or S
    tot = collections.Counter(); fam = collections.defaultdict(collections.Counter); hdr = 0
    for t0 in range(0, T, block):
        for a, b in paginate(S, block, page_samples):
            cols = [np.ascontiguousarray(V[s, t0:t0 + block]) for s in range(a, b)]
            res = proto.analyse_page(cols, opts)
            h = sum(c.hdr for c in res) + 12; hdr += h
            for m in modes:
                tot[m] += proto.page_cost([c.u for c in res], m) / 8 + h
            for s, c in zip(range(a, b), res):   # per-family: own-column cost (tok mode, no table)
                fam[fams[s]]["b"] += proto.page_cost([c.u], "shift") / 8 + c.hdr; fam[fams[s]]["n"] += block
                fam[fams[s]][c.desc[0][0] + "/k%d" % c.desc[2]] += 1
    n = S * T
    return {m: tot[m] / n for m in modes}, {f: (fam[f]["b"] / fam[f]["n"], {k: v for k, v in fam[f].items() if k not in "bn"}) for f in fam}, hdr / n
if __name__ == "__main__":
    name, block = sys.argv[1], int(sys.argv[2]); smax = int(sys.argv[3]) if len(sys.argv) > 3 else None
    t = time.time()
    tot, fam, hdr = run(name, block, {}, smax=smax)
    print(name, block, {k: round(v, 4) for k, v in tot.items()}, "hdr", round(hdr, 4), "%.0fs" % (time.time() - t))
    for f, (b, mix) in sorted(fam.items()): print("  %-40s %.3f %s" % (f, b, dict(sorted(mix.items(), key=lambda x: -x[1])[:4])))
