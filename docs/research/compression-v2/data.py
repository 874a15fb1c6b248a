"""Load both datasets as (labels, families, values[T,S]) in creation (series id) order; cached."""
import os, sys, pickle, numpy as np
sys.path.insert(0, "/work/shared/bench"); sys.path.insert(0, "/work/main/benchmarks")
CACHE = "/work/scratch_compress/cache"
os.makedirs(CACHE, exist_ok=True)

def load(name):
    p = f"{CACHE}/{name}.npy"; pl = f"{CACHE}/{name}.fam.pkl"
    if os.path.exists(p):
        return pickle.load(open(pl, "rb")), np.load(p, mmap_mode="r")
    if name == "shared":
        import gen
        ds = gen.generate("medium", seed=42, end_ms=1_767_225_600_000)
        labels, vals = ds.labels, ds.values
    else:
        import gen_node
        ds = gen_node.generate(100, 24.0, seed=42)
        labels, vals = ds.labels, ds.values
    fams = [dict(l)["__name__"] + ("" if "le" not in dict(l) else "") for l in labels]
    vt = np.ascontiguousarray(vals.T)   # (S, T)
    np.save(p, vt); pickle.dump((fams, labels), open(pl, "wb"))
    return (fams, labels), np.load(p, mmap_mode="r")

if __name__ == "__main__":
    for n in ("shared", "node"):
        (f, l), v = load(n); print(n, v.shape, len(set(f)))
