"""CPU time of the v2 value page encoder on one page: the predictor search (``analyse_columns``)
and the whole body (``encode_value_body``: search, tokens, rANS, meta), per backend.

    python benchmarks/bench_v2_encode.py                      # shared medium data, series 0-193
    python benchmarks/bench_v2_encode.py --first 970 --steps 1440

The page is what a compaction writes: ``--series`` series x ``--steps`` scrapes (one 1,440-sample
segment per column by default). Figures are ``time.process_time`` (CPU), best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def best_cpu_s(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="medium", help="shared gen.py size")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--first", type=int, default=0, help="first series of the page")
    ap.add_argument("--series", type=int, default=194)
    ap.add_argument("--steps", type=int, default=1440)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    import bench_store
    from obskit import kernels
    from obskit.encoding import residuals, valuepages

    ns = argparse.Namespace(
        dataset="shared", size=args.size, seed=args.seed, end_ms=1_767_225_600_000
    )
    _, _, values, desc = bench_store.load_dataset(ns)
    block = values[: args.steps, args.first : args.first + args.series]
    cols = [np.ascontiguousarray(block[:, i]) for i in range(block.shape[1])]
    n = block.size
    print(f"{desc}: series {args.first}..{args.first + args.series - 1} x {args.steps} steps")
    backends = ["numpy", "native"] if kernels.BACKEND == "native" else ["numpy"]
    for name in backends:
        kernels.BACKEND = name
        search = best_cpu_s(lambda: residuals.analyse_columns(cols), args.repeat)
        body = best_cpu_s(lambda: valuepages.encode_value_body(b"", cols), args.repeat)
        size = len(valuepages.encode_value_body(b"", cols)[0])
        print(
            f"{name:6s}  analyse_columns {n / search / 1e6:6.2f} M samples/s CPU"
            f"  encode_value_body {n / body / 1e6:6.2f} M samples/s CPU"
            f"  ({size / n:.4f} B/sample without timestamps)"
        )


if __name__ == "__main__":
    main()
