"""PromQL range queries in-process, by stage, and through the ASGI app: CPU seconds per stage.

Companion of ``bench_query_inprocess.py`` (same data dir, queries and query window) for the
engine and the HTTP answer: per query, the median over ``--repeat`` runs of the process CPU
seconds (``time.process_time``, all threads) spent in the store's select, in the rest of the
engine and in writing the JSON body, then the same query through the FastAPI query router over
``httpx.ASGITransport`` (CPU and wall seconds of the whole request, identity encoding as the peer
bench asks). Each answer's sha1 is printed, so two trees can be checked for identical bytes::

    PYTHONPATH=src python benchmarks/bench_query_stages.py DATA_DIR
    PYTHONPATH=/path/to/other/tree/src python benchmarks/bench_query_stages.py DATA_DIR

One JSON line per query on stdout. Runs of two trees alternated (before, after, before, after)
on a loaded machine give a fair comparison; the store holds a lock, so one at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import time
from typing import Any

from bench_query_inprocess import QUERIES, STEP_MS, TimedQuerier, open_store, query_window


class CpuTimedQuerier(TimedQuerier):
    """Select time as process CPU seconds (the other stages are measured that way too)."""

    def _timed(self, name: str, *args: Any) -> Any:
        a = time.process_time()
        out = getattr(self.db, name)(*args)
        self.select_s += time.process_time() - a
        return out


def answer_body(value: Any, warnings: list[str], infos: list[str]) -> bytes:
    """The response body as the query API writes it (older trees: encode_data + envelope)."""
    from obskit.api import promjson

    if hasattr(promjson, "query_body"):
        body: bytes = promjson.query_body(value, warnings, infos)
        return body
    return promjson.success_body(promjson.encode_data(value), warnings, infos)


def asgi_runs(svc: Any, promql: str, start_ms: int, end_ms: int, n: int) -> list[Any]:
    """(CPU s, wall s, sha1) of n GET /api/v1/query_range through the ASGI app."""
    import httpx
    from fastapi import FastAPI

    from obskit.api import query as query_api

    app = FastAPI()
    app.include_router(query_api.router)
    app.state.query = svc
    params = {"query": promql, "start": start_ms / 1000, "end": end_ms / 1000, "step": 60}

    async def run() -> list[Any]:
        out = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://obskit") as client:
            for _ in range(n):
                a, w = time.process_time(), time.perf_counter()
                r = await client.get(
                    "/api/v1/query_range", params=params, headers={"accept-encoding": "identity"}
                )
                body = r.content
                cpu, wall = time.process_time() - a, time.perf_counter() - w
                # only the digest leaves the coroutine (a task's repr would copy a big body)
                out.append((cpu, wall, hashlib.sha1(body).hexdigest()[:12]))
        return out

    return asyncio.run(run())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", help="comma list of query ids")
    ap.add_argument("--no-http", action="store_true", help="skip the ASGI runs")
    args = ap.parse_args()

    import anyio

    import obskit
    from obskit.api.promhttp import QueryServices
    from obskit.config import Settings
    from obskit.promql import Engine
    from obskit.server import engine_options

    print(f"obskit from {obskit.__file__}", file=sys.stderr)
    only = set(args.only.split(",")) if args.only else None
    db = open_store(args.data_dir, None, None)
    try:
        opts = engine_options(Settings())
        start_ms, end_ms = query_window(db)
        for qid, promql in QUERIES:
            if only and qid not in only:
                continue
            runs = []
            digest = ""
            for _ in range(args.repeat):
                tq = CpuTimedQuerier(db)
                a = time.process_time()
                res = Engine(tq, opts).range_query(promql, start_ms, end_ms, STEP_MS)
                b = time.process_time()
                body = answer_body(res.value, res.warnings, res.infos)
                c = time.process_time()
                digest = hashlib.sha1(body).hexdigest()[:12]
                runs.append((c - a, tq.select_s, b - a - tq.select_s, c - b))
                del res, body
            row: dict[str, Any] = {"q": qid, "digest": digest}
            for i, key in enumerate(("total", "select", "engine", "json")):
                row[key] = statistics.median(r[i] for r in runs)
            if not args.no_http:
                svc = QueryServices(Engine(db, opts), db, 120.0, anyio.CapacityLimiter(4))
                hr = asgi_runs(svc, promql, start_ms, end_ms, args.repeat)
                row["http_cpu"] = statistics.median(h[0] for h in hr)
                row["http_wall"] = statistics.median(h[1] for h in hr)
                row["http_digest"] = hr[0][2]
            print(json.dumps(row), flush=True)
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
