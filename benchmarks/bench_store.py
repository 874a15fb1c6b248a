"""Store benchmark: append samples/s, bytes/sample on disk, select samples/s decoded.

Runs on node_exporter-like data (``gen_node.py``, or the peer harness' ``../shared/bench/gen.py``
with ``--dataset shared`` so figures compare with the Prometheus / VictoriaMetrics runs there), for
the native and the pure-numpy kernels, each in its own process pinned to one CPU.

    python benchmarks/bench_store.py --hosts 100 --hours 24            # both backends
    python benchmarks/bench_store.py --dataset shared --size medium
    python benchmarks/bench_store.py --dataset shared --size medium --block-format 2
    python benchmarks/bench_store.py ... --page-cache-bytes 0 --read-threads 1   # decode-bound

Reported:
- append: ``DB.append_refs`` of scrape-ordered batches (``--batch-steps`` scrapes of every series
  per call), refs resolved once beforehand (timed separately), automatic flushes disabled so the
  figure is the write path itself (WAL + head); flush and compaction are timed on their own;
- bytes/sample: the whole data directory after flush + compaction (blocks + index + series log +
  the WAL left over) divided by samples;
- select: every series over the whole range after reopening, samples per second (best of
  ``--repeat``, wall and CPU time); with the default page cache the repeats after the first read
  cached pages, ``--page-cache-bytes 0`` makes every select decode.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED_BENCH = HERE.parent.parent / "shared" / "bench"


def load_dataset(args: argparse.Namespace) -> tuple[list[Any], np.ndarray, np.ndarray, str]:
    """(labels, timestamps (T, S) int64, values (T, S) float64, description)."""
    if args.dataset == "shared":
        if not (SHARED_BENCH / "gen.py").exists():
            sys.exit(f"--dataset shared needs {SHARED_BENCH}/gen.py")
        sys.path.insert(0, str(SHARED_BENCH))
        import gen  # type: ignore[import-not-found]

        ds = gen.generate(args.size, seed=args.seed, end_ms=args.end_ms)
        ts = ds.timestamps(0, ds.n_steps, 0, ds.n_series)
        desc = f"shared gen.py size={args.size} seed={args.seed}"
        return ds.labels, ts, ds.values, desc
    sys.path.insert(0, str(HERE))
    import gen_node

    ds = gen_node.generate(args.hosts, args.hours, seed=args.seed, end_ms=args.end_ms)
    ts = np.broadcast_to(ds.timestamps_ms[:, None], ds.values.shape)
    desc = f"gen_node hosts={args.hosts} hours={args.hours} seed={args.seed}"
    return ds.labels, np.ascontiguousarray(ts), ds.values, desc


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import obskit.kernels
    import obskit.tsdb as tsdb
    from obskit.disk.files import dir_size_bytes

    labels, ts, values, desc = load_dataset(args)
    if args.series:  # the first series only (shared gen.py: 97 per host, host after host)
        labels, ts, values = labels[: args.series], ts[:, : args.series], values[:, : args.series]
        ts, values = np.ascontiguousarray(ts), np.ascontiguousarray(values)
        desc += f" first {args.series} series"
    n_steps, n_series = values.shape
    n = values.size
    root = Path(tempfile.mkdtemp(prefix="obskit-bench-", dir=args.tmp))
    cache_opts = {"page_cache_bytes": args.page_cache_bytes, "read_threads": args.read_threads}
    opts = tsdb.Options(
        fsync=args.fsync,
        retention_ms=0,
        head_max_samples=n + 1,
        head_max_bytes=1 << 60,
        head_keep_ms=1 << 60,
        block_format=args.block_format,
        **{k: v for k, v in cache_opts.items() if v is not None},
    )
    out: dict[str, Any] = {
        "backend": obskit.kernels.BACKEND,
        "block_format": args.block_format,
        "dataset": desc,
        "samples": n,
        "series": n_series,
        "steps": n_steps,
    }
    db = tsdb.open(root, opts)
    t0 = time.perf_counter()
    refs = db.series_refs(labels)
    out["series_refs_s"] = round(time.perf_counter() - t0, 3)
    step = args.batch_steps
    t0 = time.perf_counter()
    for lo in range(0, n_steps, step):
        hi = min(lo + step, n_steps)
        k = hi - lo
        db.append_refs(np.tile(refs, k), ts[lo:hi].ravel(), values[lo:hi].ravel())
    append_s = time.perf_counter() - t0
    out["append_s"] = round(append_s, 3)
    out["append_samples_per_s"] = round(n / append_s)
    t0 = time.perf_counter()
    db.flush()
    out["flush_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    out["compactions"] = db.compact()
    out["compact_s"] = round(time.perf_counter() - t0, 3)
    st = db.stats()
    db.close()
    size = dir_size_bytes(root)
    out["blocks"] = st["blocks"]
    out["bytes_on_disk"] = size
    out["bytes_per_sample"] = round(size / n, 4)
    out["block_bytes_per_sample"] = round(st["block_bytes"] / n, 4)

    db = tsdb.open(root, opts)
    mint, maxt = int(ts.min()), int(ts.max())
    best = best_cpu = float("inf")
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        got = db.select([], mint, maxt)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        total = sum(len(s) for s in got)
        del got
    assert total == n, (total, n)
    out["select_all_s"] = round(best, 3)
    out["select_samples_per_s"] = round(n / best)
    out["select_cpu_samples_per_s"] = round(n / best_cpu)  # CPU time: solid on a loaded box
    db.close()
    if not args.keep:
        import shutil

        shutil.rmtree(root)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dataset", choices=["gen_node", "shared"], default="gen_node")
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--size", default="medium", help="shared gen.py size")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--end-ms", type=int, default=1_767_225_600_000)
    ap.add_argument("--series", type=int, default=0, help="keep only the first N series")
    ap.add_argument("--batch-steps", type=int, default=40, help="scrapes of all series per append")
    ap.add_argument("--fsync", default="interval")
    ap.add_argument(
        "--block-format", type=int, choices=[1, 2], default=2, help="new blocks' format"
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--page-cache-bytes",
        type=int,
        default=None,
        help="tsdb.Options.page_cache_bytes (0: every select decodes its pages)",
    )
    ap.add_argument("--read-threads", type=int, default=None, help="tsdb.Options.read_threads")
    ap.add_argument("--backend", choices=["both", "native", "numpy", "current"], default="both")
    ap.add_argument("--tmp", default=None, help="parent dir of the temporary data dir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json", action="store_true", help="print one JSON object (internal)")
    args = ap.parse_args()
    if args.backend == "current":
        print(json.dumps(run_one(args)))
        return
    backends = ["native", "numpy"] if args.backend == "both" else [args.backend]
    rows = []
    for backend in backends:
        env = dict(os.environ)
        env.pop("OBSKIT_PURE_PYTHON", None)
        if backend == "numpy":
            env["OBSKIT_PURE_PYTHON"] = "1"
        argv = []  # our own arguments without --backend (either "--backend x" or "--backend=x")
        skip = False
        for a in sys.argv[1:]:
            if skip or a.startswith("--backend"):
                skip = a == "--backend"
                continue
            argv.append(a)
        res = subprocess.run(
            [sys.executable, __file__, *argv, "--backend", "current"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(
        f"dataset: {rows[0]['dataset']}: {rows[0]['series']} series x {rows[0]['steps']} steps"
        f" = {rows[0]['samples']:,} samples; one CPU per run"
    )
    keys = [
        "backend",
        "block_format",
        "append_samples_per_s",
        "flush_s",
        "compact_s",
        "blocks",
        "bytes_per_sample",
        "block_bytes_per_sample",
        "select_samples_per_s",
        "select_cpu_samples_per_s",
        "series_refs_s",
    ]
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(f"{r[k]:,}" if isinstance(r[k], int) else str(r[k]) for k in keys))


if __name__ == "__main__":
    main()
