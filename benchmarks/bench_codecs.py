"""Bytes per sample and encode/decode speed of obskit's column codecs + zstd pages.

Series are sorted by label set (as the store does), cut into blocks of N samples, each block's
timestamp and value columns encoded, and the columns of consecutive series packed into pages of
``PAGE_TARGET_BYTES`` (timestamp pages and value pages kept apart). Reports bytes/sample per metric
family and overall, the codec mix, and samples/s (ts + values, one core) for encode and decode.

    python benchmarks/bench_codecs.py --hosts 100 --hours 24               # both backends
    python benchmarks/bench_codecs.py --backend native --blocks 5760 --sweep  # level/page sweep

``--batch`` measures the store's layout instead: per block, ``encode_columns`` over all series
(ts 0, values 0, ts 1, ... cut into pages of ``PAGE_TARGET_BYTES``) + ``encode_page``, and
``decode_page`` + one ``decode_columns`` per page; with ``--sweep`` it tries zstd levels
1, 3, 6, 9, 12, 19 x pages of 16, 64, 256 KiB on that layout.

    python benchmarks/bench_codecs.py --batch --hosts 100 --hours 24          # both backends
    python benchmarks/bench_codecs.py --batch --sweep --backend native --blocks 1440

``--backend both`` reruns this script once per backend (``OBSKIT_PURE_PYTHON=1`` for numpy).
The team's peer dataset (/work/shared/bench/gen.py, on which VictoriaMetrics measured 1.34 and
Prometheus 3.85 bytes/sample) is included when that file exists, unless ``--no-shared``.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_node
from obskit import encoding, kernels

SHARED_GEN = Path("/work/shared/bench")


def load(source: str, hosts: int, hours: float, jitter_ms: int) -> tuple[Any, Any, Any, Any]:
    """(labels, (T,S) timestamps, (T,S) values, family names) of one dataset."""
    if source == "gen_node":
        ds = gen_node.generate(hosts, hours, jitter_ms=jitter_ms)
        return ds.labels, ds.timestamps(), ds.values, [ds.family(s) for s in range(len(ds.labels))]
    sys.path.insert(0, str(SHARED_GEN))
    import gen  # type: ignore[import-not-found]

    sd = gen.generate(
        "medium", end_ms=1_767_225_600_000, jitter_ms=jitter_ms, hosts=hosts, hours=hours
    )
    ts = sd.timestamps(0, sd.n_steps, 0, sd.n_series)
    return sd.labels, ts, sd.values, [dict(lab)["__name__"] for lab in sd.labels]


def paginate(columns: list[bytes], page_bytes: int) -> list[tuple[int, int]]:
    """[start, stop) column ranges of consecutive columns filling about ``page_bytes``."""
    ranges, start, size = [], 0, 0
    for i, c in enumerate(columns):
        size += len(c)
        if size >= page_bytes:
            ranges.append((start, i + 1))
            start, size = i + 1, 0
    if start < len(columns):
        ranges.append((start, len(columns)))
    return ranges


def run(
    labels: Any,
    ts: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    families: list[str],
    block: int,
    level: int,
    page_bytes: int,
    timing: bool,
) -> dict[str, Any]:
    order = sorted(range(len(labels)), key=lambda s: labels[s])
    steps = values.shape[0]
    fam_bytes: dict[str, float] = collections.defaultdict(float)
    fam_samples: dict[str, int] = collections.defaultdict(int)
    mix: collections.Counter[str] = collections.Counter()
    total = ts_total = 0
    enc_s = dec_s = 0.0
    samples = 0
    vcols_t = np.ascontiguousarray(values.T)
    tcols_t = np.ascontiguousarray(ts.T)
    for t0 in range(0, steps, block):
        t1 = min(t0 + block, steps)
        start = time.perf_counter()
        vcols = [encoding.encode_values(vcols_t[s, t0:t1]) for s in order]
        tcols = [encoding.encode_timestamps(tcols_t[s, t0:t1]) for s in order]
        vpages = [
            (r, encoding.encode_page(vcols[r[0] : r[1]], level))
            for r in paginate(vcols, page_bytes)
        ]
        tpages = [
            (r, encoding.encode_page(tcols[r[0] : r[1]], level))
            for r in paginate(tcols, page_bytes)
        ]
        enc_s += time.perf_counter() - start
        samples += (t1 - t0) * len(order)
        for (a, b), page in vpages:
            raw = sum(len(c) for c in vcols[a:b])
            for i in range(a, b):
                fam_bytes[families[order[i]]] += len(page) * len(vcols[i]) / raw
                fam_samples[families[order[i]]] += t1 - t0
            total += len(page)
        ts_total += sum(len(p) for _, p in tpages)
        mix.update(encoding.codec_name(c) for c in vcols)
        mix.update("ts:" + encoding.codec_name(c) for c in tcols)
        if timing:
            start = time.perf_counter()
            for (a, b), page in vpages:
                raw_page = memoryview(encoding.decode_page(page))
                off = 0
                for i in range(a, b):
                    n = len(vcols[i])
                    encoding.decode_values(raw_page[off : off + n])
                    off += n
            for (a, b), page in tpages:
                raw_page = memoryview(encoding.decode_page(page))
                off = 0
                for i in range(a, b):
                    n = len(tcols[i])
                    encoding.decode_timestamps(raw_page[off : off + n])
                    off += n
            dec_s += time.perf_counter() - start
    return {
        "bps": (total + ts_total) / samples,
        "values_bps": total / samples,
        "ts_bps": ts_total / samples,
        "families": {f: fam_bytes[f] / fam_samples[f] for f in sorted(fam_bytes)},
        "mix": dict(mix.most_common()),
        "encode_msps": samples / enc_s / 1e6,
        "decode_msps": samples / dec_s / 1e6 if timing else float("nan"),
        "samples": samples,
    }


def run_batch(
    ts: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    order: list[int],
    block: int,
    level: int,
    page_bytes: int,
) -> dict[str, float]:
    """Store layout: encode_columns + encode_page per block; decode_page + decode_columns."""
    steps, n_series = values.shape
    tcols_t = np.ascontiguousarray(ts.T[order])
    vcols_t = np.ascontiguousarray(values.T[order])
    enc_s = dec_s = 0.0
    samples = stored = 0
    for t0 in range(0, steps, block):
        t1 = min(t0 + block, steps)
        n = t1 - t0
        flat_ts = np.ascontiguousarray(tcols_t[:, t0:t1]).ravel()
        flat_vs = np.ascontiguousarray(vcols_t[:, t0:t1]).ravel()
        starts = np.arange(n_series, dtype=np.int64) * n
        start = time.perf_counter()
        data, ts_lens, val_lens, _ = encoding.encode_columns(flat_ts, flat_vs, starts, starts + n)
        sizes = ts_lens + val_lens
        ends = np.cumsum(sizes)
        # Cut after the series that reaches page_bytes, as BlockWriter does.
        cuts, first, base = [], 0, 0
        for i, end in enumerate(ends.tolist()):
            if end - base >= page_bytes or i == n_series - 1:
                cuts.append((first, i + 1))
                first, base = i + 1, end
        view = memoryview(data)
        pages = []
        for a, b in cuts:
            lo = int(ends[a - 1]) if a else 0
            pages.append(encoding.encode_page([view[lo : int(ends[b - 1])]], level))
        enc_s += time.perf_counter() - start
        samples += n * n_series
        stored += sum(len(p) for p in pages)
        counts = np.full(n_series, n, dtype=np.int64)
        start = time.perf_counter()
        for (a, b), page in zip(cuts, pages, strict=True):
            raw = encoding.decode_page(page)
            local = ends[a:b] - sizes[a:b] - (ends[a - 1] if a else 0)
            encoding.decode_columns(
                raw, local, ts_lens[a:b], local + ts_lens[a:b], val_lens[a:b], counts[a:b]
            )
        dec_s += time.perf_counter() - start
    return {
        "bps": stored / samples,
        "encode_msps": samples / enc_s / 1e6,
        "decode_msps": samples / dec_s / 1e6,
    }


def batch_main(a: argparse.Namespace, labels: Any, ts: Any, values: Any) -> None:
    order = sorted(range(len(labels)), key=lambda s: labels[s])
    grid = [(encoding.DEFAULT_ZSTD_LEVEL, encoding.PAGE_TARGET_BYTES)]
    if a.sweep:
        grid = [(lv, pb) for lv in (1, 3, 6, 9, 12, 19) for pb in (16384, 65536, 262144)]
    for block in (int(b) for b in a.blocks.split(",")):
        for level, page_bytes in grid:
            r = run_batch(ts, values, order, block, level, page_bytes)
            print(
                f"batch block {block:5d} level {level:2d} page {page_bytes >> 10:4d} KiB: "
                f"{r['bps']:.4f} B/sample; encode_columns+encode_page {r['encode_msps']:.2f} M/s,"
                f" decode_page+decode_columns {r['decode_msps']:.2f} M/s"
            )


def verify(ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64], block: int) -> None:
    """Bit-exact round trip of every column (the benchmark numbers mean nothing otherwise)."""
    for s in range(values.shape[1]):
        for t0 in range(0, values.shape[0], block):
            v = values[t0 : t0 + block, s]
            t = ts[t0 : t0 + block, s]
            got = encoding.decode_values(encoding.encode_values(v))
            assert np.array_equal(got.view(np.uint64), v.view(np.uint64)), s
            assert np.array_equal(encoding.decode_timestamps(encoding.encode_timestamps(t)), t), s


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--jitter-ms", type=int, default=0)
    ap.add_argument("--blocks", default="480,1440,5760")
    ap.add_argument("--backend", choices=["both", "native", "numpy", "current"], default="both")
    ap.add_argument("--no-shared", action="store_true", help="skip /work/shared/bench/gen.py data")
    ap.add_argument("--no-timing", action="store_true", help="sizes only (skips decode timing)")
    ap.add_argument("--families", action="store_true", help="print bytes/sample per family")
    ap.add_argument("--verify", action="store_true", help="check bit-exact round trips first")
    ap.add_argument("--sweep", action="store_true", help="sweep zstd levels and page sizes")
    ap.add_argument("--batch", action="store_true", help="store layout via encode/decode_columns")
    a = ap.parse_args()
    if a.backend in ("both", "native", "numpy"):
        for backend in ("native", "numpy") if a.backend == "both" else (a.backend,):
            env = dict(os.environ, OBSKIT_PURE_PYTHON="1" if backend == "numpy" else "0")
            args = sys.argv[1:]
            if "--backend" in args:
                i = args.index("--backend")
                args = args[:i] + args[i + 2 :]
            subprocess.run(
                [sys.executable, __file__, *args, "--backend", "current"], env=env, check=True
            )
        return
    sources = ["gen_node"] + (
        [] if a.no_shared or not (SHARED_GEN / "gen.py").exists() else ["shared"]
    )
    for source in sources:
        t = time.perf_counter()
        labels, ts, values, families = load(source, a.hosts, a.hours, a.jitter_ms)
        print(
            f"\n== {source}: {values.shape[1]} series x {values.shape[0]} steps,"
            f" jitter {a.jitter_ms} ms,"
            f" backend {kernels.BACKEND} (generated in {time.perf_counter() - t:.1f} s)"
        )
        if a.batch:
            batch_main(a, labels, ts, values)
            continue
        for block in (int(b) for b in a.blocks.split(",")):
            if a.verify:
                verify(ts, values, block)
            grid = [(encoding.DEFAULT_ZSTD_LEVEL, encoding.PAGE_TARGET_BYTES)]
            if a.sweep:
                grid = [
                    (lv, pb)
                    for lv in (3, 6, 9, 12, 15, 19)
                    for pb in (16384, 65536, 262144, 1 << 20)
                ]
            for level, page_bytes in grid:
                r = run(labels, ts, values, families, block, level, page_bytes, not a.no_timing)
                print(
                    f"block {block:5d} level {level:2d} page {page_bytes >> 10:5d} KiB: "
                    f"{r['bps']:.4f} B/sample "
                    f"(values {r['values_bps']:.4f}, ts {r['ts_bps']:.4f}); "
                    f"encode {r['encode_msps']:.2f} M/s, decode {r['decode_msps']:.2f} M/s"
                )
            print("   codec mix:", ", ".join(f"{k} {v}" for k, v in r["mix"].items()))
            if a.families:
                for fam, bps in r["families"].items():
                    print(f"     {fam:45s} {bps:.3f}")


if __name__ == "__main__":
    main()
