"""PromQL range queries in-process against an existing obskit data dir: CPU and wall seconds.

A load-robust companion of ``bench_query_peers.py`` (which times the HTTP servers): open a data
dir that the peer bench left behind (``--keep-data``), run the peer harness' 11 ``QUERIES``
through ``promql.Engine`` plus JSON encoding in this process, ``--repeat`` times each, and report
the median process CPU seconds (``time.process_time``: what other processes on a loaded machine
steal shows in wall time, far less in CPU time), the median wall seconds and the time spent in the
store's select. The query window is the data's whole range aligned to the 60 s step, shifted
7 ms off the scrape grid, as the peer bench does.

    PYTHONPATH=src python benchmarks/bench_query_inprocess.py /tmp/obskit-medium
    PYTHONPATH=src python benchmarks/bench_query_inprocess.py DIR --page-cache-mib 0 --only count_up
    PYTHONPATH=src python benchmarks/bench_query_inprocess.py DIR --cprofile cpu_rate

The store is opened with ``tsdb.Options(page_cache_bytes=..., read_threads=...)`` when given
and this tree has those options (so one command also runs against an older tree).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

STEP_MS = 60_000
OFFSET_MS = 7
QUERIES = [
    ("cpu_rate", "rate(node_cpu_seconds_total[5m])"),
    ("cpu_rate_by_mode", "sum by (mode) (rate(node_cpu_seconds_total[5m]))"),
    (
        "http_p90",
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    ("load1_q75_1h", "quantile_over_time(0.75, node_load1[1h])"),
    ("mem_avail_avg_10m", "avg_over_time(node_memory_MemAvailable_bytes[10m])"),
    ("net_rx_top5", "topk(5, rate(node_network_receive_bytes_total[5m]))"),
    ("count_up", "count(up)"),
    ("http_rate_by_code", "sum by (code) (rate(http_requests_total[5m]))"),
    ("temp_max_30m", "max_over_time(node_hwmon_temp_celsius[30m])"),
    (
        "mem_used_ratio",
        "1 - sum by (instance) (node_memory_MemAvailable_bytes) "
        "/ sum by (instance) (node_memory_MemTotal_bytes)",
    ),
    ("http_500_increase_1h", 'increase(http_requests_total{code="500"}[1h])'),
]


class TimedQuerier:
    """Wraps the store: times its select calls (index look-up, block reads and decoding)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.select_s = 0.0

    def _timed(self, name: str, *args: Any) -> Any:
        a = time.perf_counter()
        out = getattr(self.db, name)(*args)
        self.select_s += time.perf_counter() - a
        return out

    def select(self, *args: Any) -> Any:
        return self._timed("select", *args)

    def select_flat(self, *args: Any) -> Any:
        return self._timed("select_flat", *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def open_store(data_dir: str, page_cache_mib: float | None, read_threads: int | None) -> Any:
    from obskit import tsdb

    fields = {f.name for f in dataclasses.fields(tsdb.Options)}
    kwargs: dict[str, Any] = {"maintenance_in_append": False}
    if page_cache_mib is not None and "page_cache_bytes" in fields:
        kwargs["page_cache_bytes"] = int(page_cache_mib * (1 << 20))
    if read_threads is not None and "read_threads" in fields:
        kwargs["read_threads"] = read_threads
    return tsdb.open(data_dir, tsdb.Options(**kwargs))


def query_window(db: Any) -> tuple[int, int]:
    blocks = db.blocks
    first = min(b.meta.mint_ms for b in blocks)
    last = max(b.meta.maxt_ms for b in blocks)
    start = -(-first // STEP_MS) * STEP_MS + OFFSET_MS
    end = last // STEP_MS * STEP_MS + OFFSET_MS
    return start, end


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("data_dir")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", help="comma list of query ids")
    ap.add_argument("--page-cache-mib", type=float, help="tsdb.Options.page_cache_bytes in MiB")
    ap.add_argument("--read-threads", type=int, help="tsdb.Options.read_threads")
    ap.add_argument("--cprofile", help="profile this query id once (after the timed runs)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--json", help="write the per-query figures to this file")
    args = ap.parse_args()

    from obskit.api.promjson import encode_data, success_body
    from obskit.promql import Engine, EngineOptions

    wanted = set(args.only.split(",")) if args.only else None
    queries = [(qid, q) for qid, q in QUERIES if wanted is None or qid in wanted]
    db = open_store(args.data_dir, args.page_cache_mib, args.read_threads)
    opts = EngineOptions(max_samples=1_000_000_000)
    start_ms, end_ms = query_window(db)
    rows: dict[str, dict[str, float]] = {}
    print("| query | CPU s | wall s | select wall s | first run wall s |")
    print("|---|---:|---:|---:|---:|")
    try:
        for qid, q in queries:
            cpu, wall, sel = [], [], []
            for _ in range(args.repeat):
                tq = TimedQuerier(db)
                c0, w0 = time.process_time(), time.perf_counter()
                res = Engine(tq, opts).range_query(q, start_ms, end_ms, STEP_MS)
                body = success_body(encode_data(res.value), res.warnings, res.infos)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
                sel.append(tq.select_s)
                del body, res
            rows[qid] = {
                "cpu_s": statistics.median(cpu),
                "wall_s": statistics.median(wall),
                "select_s": statistics.median(sel),
                "first_wall_s": wall[0],
            }
            r = rows[qid]
            print(
                f"| `{qid}` | {r['cpu_s']:.3f} | {r['wall_s']:.3f} | {r['select_s']:.3f} | "
                f"{r['first_wall_s']:.3f} |",
                flush=True,
            )
        if args.cprofile:
            prof = cProfile.Profile()
            prof.enable()
            res = Engine(db, opts).range_query(
                dict(QUERIES)[args.cprofile], start_ms, end_ms, STEP_MS
            )
            success_body(encode_data(res.value))
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(args.top)
            print(buf.getvalue())
        if hasattr(db, "page_cache_stats"):
            print(db.page_cache_stats())
    finally:
        db.close()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
