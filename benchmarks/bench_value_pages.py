"""CPU time of one version 2 page decode (``obskit.encoding.decode_page``), current backend.

The page holds the first ``--series`` series of the peer harness' data (``../shared/bench/gen.py``,
whole columns: what a store page of format 2 holds), so the figure is the store's per-page cost
without its I/O, crc of the chunk file and copies into the select output.

    python benchmarks/bench_value_pages.py                    # 45 series x 5,760 steps
    OBSKIT_PURE_PYTHON=1 python benchmarks/bench_value_pages.py --repeat 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

SHARED_BENCH = Path(__file__).resolve().parent.parent.parent / "shared" / "bench"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="medium", help="shared gen.py size")
    ap.add_argument("--series", type=int, default=45, help="series in the page (~256 Ki samples)")
    ap.add_argument("--repeat", type=int, default=7, help="best of this many rounds of 10")
    args = ap.parse_args()
    if not (SHARED_BENCH / "gen.py").exists():
        sys.exit(f"needs {SHARED_BENCH}/gen.py")
    sys.path.insert(0, str(SHARED_BENCH))
    import gen  # type: ignore[import-not-found]

    from obskit import kernels
    from obskit.encoding import decode_page, encode_timestamps, encode_value_page

    ds = gen.generate(args.size, seed=42, end_ms=1_767_225_600_000)
    k = args.series
    ts = ds.timestamps(0, ds.n_steps, 0, k)
    ts_bytes = b"".join(encode_timestamps(np.ascontiguousarray(ts[:, i])) for i in range(k))
    cols = [np.ascontiguousarray(ds.values[:, i]) for i in range(k)]
    page, _ = encode_value_page(ts_bytes, cols)
    n = sum(c.size for c in cols)
    rounds = 10 if kernels.BACKEND == "native" else 1
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.process_time()
        for _ in range(rounds):
            decode_page(page)
        best = min(best, (time.process_time() - t0) / rounds)
    print(
        f"{kernels.BACKEND}: one page of {k} series, {n:,} samples, {len(page) / n:.3f} B/sample:"
        f" decode {best * 1e3:.2f} ms CPU = {n / best / 1e6:.1f} M samples/s"
    )


if __name__ == "__main__":
    main()
