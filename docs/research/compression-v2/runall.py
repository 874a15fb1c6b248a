import sys, json, time, run1
name, block, hosts, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
opts = {"full": {}, "nocross": {"cross": False, "fcross": False}}[tag]
t = time.time()
tot, fam, hdr = run1.run(name, block, opts, smax=97 * hosts)
json.dump({"tot": tot, "fam": fam, "hdr": hdr, "secs": time.time() - t}, open(f"res_{name}_{block}_{hosts}_{tag}.json", "w"), indent=1, default=float)
print(name, block, hosts, tag, {k: round(v, 4) for k, v in tot.items()}, "%.0fs" % (time.time() - t), flush=True)
