"""Today's obskit codecs + 64 KiB zstd-9 pages, store layout (ts col + value col per series, creation order)."""
import sys, json, collections, numpy as np
sys.path.insert(0, "/work/main/src")
from obskit import encoding
import data
TS0 = 1_767_225_600_000 - 5759 * 15000
def run(name, block):
    (fams, labels), V = data.load(name)
    S, T = V.shape
    fam_b = collections.defaultdict(float); fam_n = collections.defaultdict(int)
    total = 0; vtotal = 0
    ts_full = TS0 + 15000 * np.arange(T, dtype=np.int64)
    for t0 in range(0, T, block):
        ts = ts_full[t0:t0 + block]
        tcol = encoding.encode_timestamps(ts)
        pending, pend_b, members = [], 0, []
        def cut():
            nonlocal pending, pend_b, members, total
            page = encoding.encode_page(pending, 9)
            total += len(page)
            raw = sum(len(c) for c in pending)
            for s, n in members:
                fam_b[fams[s]] += len(page) * n / raw; fam_n[fams[s]] += block
            pending, pend_b, members = [], 0, []
        for s in range(S):
            vcol = encoding.encode_values(np.ascontiguousarray(V[s, t0:t0 + block]))
            pending += [tcol, vcol]; pend_b += len(tcol) + len(vcol); members.append((s, len(tcol) + len(vcol)))
            if pend_b >= encoding.PAGE_TARGET_BYTES: cut()
        if pending: cut()
    res = {"bps": total / (S * T), "fam": {f: fam_b[f] / fam_n[f] for f in sorted(fam_b)}}
    return res
if __name__ == "__main__":
    out = {}
    for name in ("shared", "node"):
        for block in (480, 1440, 5760):
            r = run(name, block); out[f"{name}/{block}"] = r
            print(name, block, round(r["bps"], 4), {k: round(v, 3) for k, v in r["fam"].items()}, flush=True)
    json.dump(out, open("baseline.json", "w"), indent=1)
