"""PromQL range queries side by side: obskit vs VictoriaMetrics vs Prometheus, same data.

Reuses the team's peer harness in ``../shared/bench`` (``gen.py`` dataset, ``remote_write.py``
pre-encoder and sender, ``targets.py`` target definitions and flush hooks, ``run_peers.py``
``QUERIES``, HTTP, parsing and comparison helpers) the way ``bench_ingest_peers.py`` does.

One run: start every target on a free port with a fresh data dir (obskit with *this* tree's
``src`` on ``PYTHONPATH``), remote-write the same pre-encoded dataset into each, wait until every
series is visible, force data to disk with the target's flush hook (obskit: head -> blocks +
compaction; VictoriaMetrics: force_flush + force_merge; Prometheus: compactions settled +
snapshot), keep all servers running, then time the harness' 11 ``QUERIES`` through
``/api/v1/query_range`` over the whole data range (start/end aligned to the 60 s step), step
60 s. Each query runs ``--repeat`` times per target, targets interleaved (order rotated every
round, so load from other processes hits all targets alike); the median wall time is reported,
including reading the whole JSON body (no gzip). The server's CPU seconds per request are read
from ``/proc/<pid>/stat`` as a load-robust second figure.

Correctness: the first answer of obskit (and of VictoriaMetrics, for information) is compared
with Prometheus' series by series (label sets without ``__name__``) and point by point
(timestamps); equal = same series, same points, every value within 1e-9 relative (NaN == NaN).
Evaluation times are shifted off the 15 s scrape grid by ``--query-offset-ms`` (default 7): no
sample then sits on a window's left edge, where Prometheus 2.42 (closed windows) and 3.x /
obskit (left-open) differ.

Result caches are off on both sides by default: the harness starts VictoriaMetrics with
``-search.disableCache`` and obskit gets ``OBSKIT_QUERY__RESULTS_CACHE_BYTES=0``, so the repeats
measure evaluation, not cache hits. ``--result-caches`` turns both on (obskit's results cache and
VictoriaMetrics' rollup result cache reuse the settled steps of identical earlier queries).

    PYTHONPATH=src python benchmarks/bench_query_peers.py --size small          # ~2 min
    PYTHONPATH=src python benchmarks/bench_query_peers.py --size medium  # 15+ min (48 loaded)
    PYTHONPATH=src python benchmarks/bench_query_peers.py --size small --targets obskit,prometheus
    PYTHONPATH=src python benchmarks/bench_query_peers.py --size small --only cpu_rate,count_up \\
        --cprofile 3 --profile

``--cprofile N`` stops obskit after the timings, opens its data dir in this process and runs
obskit's N slowest queries in-process: a stage breakdown (store select, the rest of the
engine, JSON encoding; HTTP = server wall time minus those) and a cProfile top list each.
``--profile`` samples the obskit server's Python stacks (CPU-weighted, all threads) during its
query requests only; ``--perf`` records it with ``perf`` (native frames) during the query phase.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import bench_ingest_peers as BI

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
STEP_S = 60
EQ_TOL = 1e-9  # "equal to Prometheus' answer": relative, per point
GOAL_EACH = 1.0  # every query no slower than VictoriaMetrics
GOAL_GEOMEAN = 0.7  # geometric mean of obskit / VictoriaMetrics


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# --------------------------------------------------------------------------- servers
@dataclass
class Server:
    """A target the benchmark started and keeps running until the end."""

    t: Any
    workdir: str
    data: str
    base: str
    ctx: Any
    proc: subprocess.Popen[bytes] | None = None
    res: dict[str, Any] = field(default_factory=dict)
    perf: subprocess.Popen[bytes] | None = None


def server_env(result_caches: bool = False) -> dict[str, str]:
    """The environment obskit's server starts with: this tree's ``src`` first on the path, and
    its results cache off unless ``result_caches`` (the harness runs VictoriaMetrics with
    ``-search.disableCache``, so that the timed repeats are not cache hits)."""
    env = dict(os.environ)
    if not result_caches:
        env["OBSKIT_QUERY__RESULTS_CACHE_BYTES"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SRC), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    )
    return env


def check_obskit_tree(env: dict[str, str]) -> str:
    """Fail unless ``python -m obskit`` with ``env`` imports this worktree's package."""
    out = subprocess.run(
        [sys.executable, "-c", "import obskit; print(obskit.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    path = out.stdout.strip()
    if not path or not Path(path).resolve().is_relative_to(SRC.resolve()):
        sys.exit(f"bench_query_peers: obskit imports from {path or out.stderr!r}, not {SRC}")
    return path


def start(t: Any, H: Any, args: argparse.Namespace, env: dict[str, str]) -> Server:
    RP, T = H.run_peers, H.targets
    workdir = tempfile.mkdtemp(prefix=f"obskit-query-{t.name}-", dir=args.tmp_root)
    data = os.path.join(workdir, "data")
    os.makedirs(data, exist_ok=True)
    port = RP.free_port()
    base = f"http://127.0.0.1:{port}"
    ctx = T.Ctx(target=t, base_url=base, data_dir=data, workdir=workdir, pid=None)
    ctx.log_path = os.path.join(workdir, "server.log")
    s = Server(t=t, workdir=workdir, data=data, base=base, ctx=ctx)
    s.res["target"] = t.name
    if t.setup:
        t.setup(ctx)
    cmd = T.fill(t.start_cmd, port=port, data=data, workdir=workdir, bench=T.BENCH_DIR)
    s.res["cmd"] = " ".join(cmd)
    with open(ctx.log_path, "wb") as logf:
        s.proc = subprocess.Popen(
            cmd,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    ctx.pid = s.proc.pid
    t0 = time.time()
    while True:
        try:
            code, _ = ctx.http("GET", t.ready_path, timeout=5)
            if code == 200:
                break
        except Exception:
            pass
        if s.proc.poll() is not None:
            tail = BI.log_tail(ctx.log_path)
            raise RuntimeError(f"{t.name} exited rc={s.proc.returncode}: {tail}")
        if time.time() - t0 > 120:
            raise RuntimeError(f"{t.name} not ready after 120 s")
        time.sleep(0.1)
    s.res["startup_s"] = round(time.time() - t0, 2)
    s.res["version"] = t.version(ctx) if t.version else None
    print(f"[{t.name}] ready in {s.res['startup_s']} s, version {s.res['version']}", flush=True)
    return s


def load(s: Server, bodies: Any, ds: Any, H: Any, args: argparse.Namespace) -> None:
    """Remote-write the dataset, wait until every series is visible, flush to disk."""
    RP, RW = H.run_peers, H.remote_write
    t, ctx = s.t, s.ctx
    acc0 = t.accepted_samples(ctx) if t.accepted_samples else None
    c0 = RP.proc_cpu_s(ctx.pid)
    send = RW.send_all(s.base + t.write_path, bodies, timeout=args.request_timeout)
    send["server_cpu_s"] = round(RP.proc_cpu_s(ctx.pid) - c0, 2)
    s.res["ingest"] = send
    print(
        f"[{t.name}] ingest: {send['ok_samples']:,} ok, {send['bad_samples']} bad, "
        f"{send['samples_per_s']:,.0f} samples/s",
        flush=True,
    )
    if send["bad_samples"] or send.get("first_error"):
        raise RuntimeError(f"{t.name}: ingest errors: {send.get('first_error')}")
    if t.accepted_samples and acc0 is not None:
        acc1 = acc0
        for _ in range(50):
            acc1 = t.accepted_samples(ctx)
            if acc1 - acc0 >= send["ok_samples"]:
                break
            time.sleep(0.2)
        s.res["server_accepted_samples"] = int(acc1 - acc0)
    t1 = time.perf_counter()
    vis = None
    while time.perf_counter() - t1 < 120:
        code, body, _ = RP.http_get(
            s.base,
            t.query_base + "/query",
            dict(query='count({__name__=~".+"})', time=ds.last_ms / 1000, **t.query_params),
        )
        if code == 200:
            r = json.loads(body)["data"]["result"]
            vis = int(float(r[0]["value"][1])) if r else 0
            if vis >= ds.n_series:
                break
        time.sleep(0.2)
    s.res["series_visible"] = vis
    if t.flush:
        a = time.perf_counter()
        disk = t.flush(ctx)
        s.res["flush_s"] = round(time.perf_counter() - a, 2)
        s.res["bytes_on_disk"] = disk.get("bytes_on_disk")
    s.res["mem_after_load"] = RP.proc_mem(ctx.pid)
    print(
        f"[{t.name}] {vis:,} series visible; flushed in {s.res.get('flush_s')} s; "
        f"RSS {BI.mib(s.res['mem_after_load'].get('VmRSS'))}",
        flush=True,
    )


def shutdown(s: Server, H: Any, args: argparse.Namespace, remove: bool = True) -> None:
    if s.perf is not None and s.perf.poll() is None:
        s.perf.send_signal(2)
        s.perf.wait(60)
    if s.proc is not None and s.proc.poll() is None:
        s.res["mem_final"] = H.run_peers.proc_mem(s.proc.pid)
        H.run_peers.stop(s.proc)
        s.res["exit_code"] = s.proc.returncode
    s.res["log_tail"] = BI.log_tail(s.ctx.log_path)
    if s.res.get("perf_data") and os.path.exists(s.res["perf_data"]):
        s.res["perf_report"] = BI.perf_report(s.res["perf_data"])
    if remove and not args.keep_data:
        shutil.rmtree(s.workdir, ignore_errors=True)


# --------------------------------------------------------------------------- queries
def query_window(ds: Any, offset_ms: int) -> tuple[float, float]:
    start = -(-ds.first_ms // (STEP_S * 1000)) * STEP_S
    end = ds.last_ms // (STEP_S * 1000) * STEP_S
    return start + offset_ms / 1000, end + offset_ms / 1000


def steady_differing(ref: dict[Any, Any], oth: dict[Any, Any], from_ms: int) -> int:
    """Points at or after ``from_ms`` that differ by more than EQ_TOL relative (or exist on
    one side only)."""
    n = 0
    for k in set(ref) | set(oth):
        if k not in ref or k not in oth:
            n += int(((ref.get(k) or oth[k])[0] >= from_ms).sum())
            continue
        (ta, va), (tb, vb) = ref[k], oth[k]
        common, ia, ib = np.intersect1d(ta, tb, assume_unique=True, return_indices=True)
        n += int((ta >= from_ms).sum() + (tb >= from_ms).sum() - 2 * (common >= from_ms).sum())
        a, b = va[ia], vb[ib]
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
        bad = ~((a == b) | (np.isnan(a) & np.isnan(b)) | (rel <= EQ_TOL))
        n += int((bad & (common >= from_ms)).sum())
    return n


def equal_summary(c: dict[str, Any]) -> dict[str, Any]:
    """Equal within EQ_TOL from run_peers.compare()'s figures."""
    differing = c["points_rel_gt_1e-9"] + c["points_only_ref"] + c["points_only_other"]
    same_series = c["series_ref"] == c["series_other"] == c["series_common"]
    worst = c["max_rel_diff"]
    return dict(
        equal=bool(same_series and differing == 0),
        series_only_prometheus=c["series_only_ref"],
        series_only_other=c["series_only_other"],
        points=c["points_common"],
        points_differing=differing,
        worst_rel=worst if isinstance(worst, float) else math.inf,
        worst=c.get("worst"),
        steady_max_rel=c["steady"]["max_rel_diff"],
    )


def run_queries(
    servers: list[Server], ds: Any, H: Any, args: argparse.Namespace, queries: list[tuple[str, str]]
) -> dict[str, Any]:
    RP = H.run_peers
    wait = ds.last_ms / 1000 + 35 - time.time()  # VictoriaMetrics hides the last 30 s
    if wait > 0:
        time.sleep(wait)
    if args.idle_wait:
        BI.wait_idle(RP, args.idle_wait)
    start, end = query_window(ds, args.query_offset_ms)
    by_name = {s.t.name: s for s in servers}
    prof_marker = os.environ.get("OBSKIT_BENCH_PROFILE_OUT", "") + ".on"
    out: dict[str, Any] = dict(start=start, end=end, step=STEP_S, per_query={})
    if args.perf and "obskit" in by_name and shutil.which("perf"):
        s = by_name["obskit"]
        s.res["perf_data"] = os.path.join(s.workdir, "perf.data")
        s.perf = subprocess.Popen(
            ["perf", "record", "-F", "499", "-g", "-p", str(s.ctx.pid), "-o", s.res["perf_data"]],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
    busy0, me0 = RP.sys_busy_s(), RP.self_cpu_s()
    srv0 = {s.t.name: RP.proc_cpu_s(s.ctx.pid) for s in servers}
    wall0 = time.perf_counter()
    for qid, promql in queries:
        entry: dict[str, Any] = dict(query=promql, targets={})
        first: dict[str, bytes] = {}
        for s in servers:
            entry["targets"][s.t.name] = dict(runs_s=[], cpu_s=[], error=None)
        for rep in range(args.repeat):
            k = rep % len(servers)
            for s in servers[k:] + servers[:k]:
                e = entry["targets"][s.t.name]
                if e["error"]:
                    continue
                params = dict(query=promql, start=start, end=end, step=STEP_S, **s.t.query_params)
                profiling = args.profile and s.t.name == "obskit"
                if profiling:
                    open(prof_marker, "w").close()
                c0 = RP.proc_cpu_s(s.ctx.pid)
                code, body, el = RP.http_get(s.base, s.t.query_base + "/query_range", params)
                c1 = RP.proc_cpu_s(s.ctx.pid)
                if profiling:
                    os.unlink(prof_marker)
                if code != 200:
                    e["error"] = f"HTTP {code}: {body[:300]!r}"
                    continue
                e["runs_s"].append(round(el, 4))
                e["cpu_s"].append(round(c1 - c0, 2))
                if rep == 0:
                    first[s.t.name] = body
                    e["bytes"] = len(body)
        parsed = {}
        for name, body in first.items():
            parsed[name] = RP.parse_matrix(body)
            e = entry["targets"][name]
            e["series"] = len(parsed[name])
            e["points"] = int(sum(len(v[0]) for v in parsed[name].values()))
        del first
        for e in entry["targets"].values():
            e["median_s"] = statistics.median(e["runs_s"]) if e["runs_s"] else None
            e["cpu_median_s"] = statistics.median(e["cpu_s"]) if e["cpu_s"] else None
        if "prometheus" in parsed:
            for name in parsed:
                if name != "prometheus":
                    c = RP.compare(parsed["prometheus"], parsed[name], ds.first_ms + 3_600_000)
                    eq = equal_summary(c)
                    eq["steady_points_differing"] = steady_differing(
                        parsed["prometheus"], parsed[name], ds.first_ms + 3_600_000
                    )
                    entry["targets"][name]["vs_prometheus"] = eq
        del parsed
        out["per_query"][qid] = entry
        cells = [
            f"{n} {e['median_s']:.4f}s" if e["median_s"] is not None else f"{n} ERR {e['error']}"
            for n, e in entry["targets"].items()
        ]
        eq = entry["targets"].get("obskit", {}).get("vs_prometheus")
        if eq:
            cells.append(
                f"obskit==prometheus: {eq['equal']} ({eq['points_differing']} pts differ, "
                f"worst rel {eq['worst_rel']:.3g})"
            )
        print(f"  {qid}: " + ", ".join(cells), flush=True)
    wall = time.perf_counter() - wall0
    busy, me = RP.sys_busy_s() - busy0, RP.self_cpu_s() - me0
    srv = sum(RP.proc_cpu_s(s.ctx.pid) - srv0[s.t.name] for s in servers)
    # CPU used by other processes (other engineers' jobs) during the query phase, in cores
    out["wall_s"] = round(wall, 1)
    out["other_cores_busy"] = round(max(0.0, busy - me - srv) / wall, 2)
    out["loadavg_end"] = loadavg()
    return out


# --------------------------------------------------------------------------- report
def geomean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def report(q: dict[str, Any], names: list[str]) -> tuple[str, dict[str, Any]]:
    has_vm = "victoriametrics" in names and "obskit" in names
    has_prom = "prometheus" in names and "obskit" in names
    head = ["query"] + [f"{n} s" for n in names]
    if has_vm:
        head.append("obskit / VM")
    if "prometheus" in names and "obskit" in names:
        head.append("obskit / Prom")
    head += ["obskit CPU s", "series", "points"]
    if has_prom:
        head.append("obskit = Prometheus (1e-9): pts differing / worst rel; after the first hour")
    if "victoriametrics" in names and "prometheus" in names:
        head.append("VM vs Prometheus: pts > 1e-9 / worst rel")
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    ratios, ratios_prom, slower, all_equal = [], [], [], True
    for qid, entry in q["per_query"].items():
        ts = entry["targets"]
        row = [f"`{qid}`"]
        for n in names:
            e = ts[n]
            row.append(f"{e['median_s']:.4f}" if e["median_s"] is not None else "ERR")
        o = ts.get("obskit", {})
        if has_vm:
            v = ts["victoriametrics"]
            if o.get("median_s") and v.get("median_s"):
                r = o["median_s"] / v["median_s"]
                ratios.append(r)
                if r > GOAL_EACH:
                    slower.append(qid)
                row.append(f"**{r:.2f}**" if r > GOAL_EACH else f"{r:.2f}")
            else:
                row.append("-")
        if "prometheus" in names and "obskit" in names:
            p = ts["prometheus"]
            if o.get("median_s") and p.get("median_s"):
                ratios_prom.append(o["median_s"] / p["median_s"])
                row.append(f"{o['median_s'] / p['median_s']:.2f}")
            else:
                row.append("-")
        row.append(f"{o['cpu_median_s']:.2f}" if o.get("cpu_median_s") is not None else "-")
        ref = o if "obskit" in ts else next(iter(ts.values()))
        row += [str(ref.get("series", "-")), f"{ref.get('points', 0):,}"]
        if has_prom:
            eq = o.get("vs_prometheus")
            if eq is None:
                all_equal = False
                row.append("-")
            else:
                all_equal &= eq["equal"]
                extra = ""
                if eq["series_only_prometheus"] or eq["series_only_other"]:
                    extra = (
                        f"; series only-Prom {eq['series_only_prometheus']}, "
                        f"only-obskit {eq['series_only_other']}"
                    )
                row.append(
                    f"{'yes' if eq['equal'] else '**NO**'}: {eq['points_differing']:,} / "
                    f"{eq['worst_rel']:.2g}{extra}; {eq['steady_points_differing']:,} / "
                    f"{eq['steady_max_rel']:.2g}"
                )
        if "victoriametrics" in names and "prometheus" in names:
            eq = ts["victoriametrics"].get("vs_prometheus")
            row.append(f"{eq['points_differing']:,} / {eq['worst_rel']:.2g}" if eq else "-")
        lines.append("| " + " | ".join(row) + " |")
    gm = geomean(ratios)
    summary: dict[str, Any] = dict(
        geomean_obskit_vm=gm,
        geomean_obskit_prometheus=geomean(ratios_prom),
        slower_than_vm=slower,
        all_equal_to_prometheus=all_equal if has_prom else None,
    )
    foot = []
    if has_vm and gm is not None:
        foot.append(
            f"geometric mean obskit / VictoriaMetrics = **{gm:.2f}x** (goal <= {GOAL_GEOMEAN}x: "
            f"{'met' if gm <= GOAL_GEOMEAN else 'NOT met'}); queries slower than VictoriaMetrics: "
            f"{len(slower)}/{len(ratios)} {', '.join(slower)}"
        )
    if summary["geomean_obskit_prometheus"] is not None:
        foot.append(
            f"geometric mean obskit / Prometheus = {summary['geomean_obskit_prometheus']:.2f}x"
        )
    if has_prom:
        foot.append(
            f"every obskit answer equal to Prometheus' within {EQ_TOL:g} relative: "
            f"**{'yes' if all_equal else 'NO'}**"
        )
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {x}" for x in foot), summary


# --------------------------------------------------------------------------- in-process profile
class TimedQuerier:
    """Wraps the store: times ``select`` / ``select_flat`` (index look-up, block reads and
    decoding)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.select_s = 0.0
        self.samples = 0

    def select(self, matchers: Any, mint_ms: int, maxt_ms: int) -> Any:
        a = time.perf_counter()
        out = self.db.select(matchers, mint_ms, maxt_ms)
        self.select_s += time.perf_counter() - a
        self.samples += sum(len(s) for s in out)
        return out

    def select_flat(self, matchers: Any, mint_ms: int, maxt_ms: int) -> Any:
        a = time.perf_counter()
        out = self.db.select_flat(matchers, mint_ms, maxt_ms)
        self.select_s += time.perf_counter() - a
        self.samples += len(out.timestamps_ms)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def cprofile_obskit(
    data_dir: str, q: dict[str, Any], queries: list[tuple[str, str]], n: int, top: int
) -> str:
    """Open obskit's data dir in-process; stage breakdown + cProfile of the n slowest queries."""
    from obskit import tsdb
    from obskit.api.promjson import encode_data, success_body
    from obskit.config import Settings
    from obskit.promql import Engine
    from obskit.server import engine_options

    ranked = sorted(
        (e["targets"]["obskit"]["median_s"] or 0, qid) for qid, e in q["per_query"].items()
    )[::-1][:n]
    promql = dict(queries)
    start_ms, end_ms = round(q["start"] * 1000), round(q["end"] * 1000)
    db = tsdb.open(data_dir)
    out = []
    try:
        opts = engine_options(Settings(data_dir=Path(data_dir)))
        rows = [
            "| query | server wall s | in-process s | select s (samples) | rest of engine s | "
            "JSON encode s | HTTP + other s |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        profiles = []
        for server_s, qid in ranked:
            runs = []
            for _ in range(3):
                tq = TimedQuerier(db)
                eng = Engine(tq, opts)
                a = time.perf_counter()
                res = eng.range_query(promql[qid], start_ms, end_ms, STEP_S * 1000)
                b = time.perf_counter()
                body = success_body(encode_data(res.value), res.warnings, res.infos)
                c = time.perf_counter()
                runs.append((c - a, tq.select_s, b - a - tq.select_s, c - b, tq.samples))
                del body, res
            tot, sel, ev, enc, samples = sorted(runs)[1]
            rows.append(
                f"| `{qid}` | {server_s:.3f} | {tot:.3f} | {sel:.3f} ({samples:,}) | {ev:.3f} | "
                f"{enc:.3f} | {server_s - tot:.3f} |"
            )
            prof = cProfile.Profile()
            prof.enable()
            res = Engine(db, opts).range_query(promql[qid], start_ms, end_ms, STEP_S * 1000)
            success_body(encode_data(res.value))
            prof.disable()
            buf = io.StringIO()
            st = pstats.Stats(prof, stream=buf)
            st.sort_stats("tottime").print_stats(top)
            text = buf.getvalue()
            body_lines = text[text.find("ncalls") :].rstrip().splitlines()
            profiles.append(
                f"### cProfile `{qid}` (tottime, top {top})\n\n```\n"
                + "\n".join(ln.replace(str(SRC) + "/", "") for ln in body_lines)
                + "\n```"
            )
        out.append("\n".join(rows))
        out += profiles
    finally:
        db.close()
    return "\n\n".join(out)


def profile_text(prof: dict[str, Any], top: int = 25) -> str:
    tot = prof.get("total_cpu_s") or 1e-9
    out = [
        f"obskit server CPU sampled during its query requests: {tot:.2f} s (all threads)",
        "",
        "self (innermost Python frame; C calls are charged to their Python caller):",
    ]
    out += [f"  {s / tot * 100:5.1f}%  {s:7.2f} s  {k}" for k, s in prof["self"][:top]]
    out += ["", "inclusive:"]
    out += [f"  {s / tot * 100:5.1f}%  {s:7.2f} s  {k}" for k, s in prof["inclusive"][: top + 10]]
    return "\n".join(out).replace(str(SRC) + "/", "")


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", default="small", help="tiny | small | medium (gen.SIZES)")
    ap.add_argument(
        "--targets",
        default="obskit,victoriametrics,prometheus",
        help="comma list of obskit, victoriametrics, prometheus",
    )
    ap.add_argument("--only", help="comma list of query ids (default: all of QUERIES)")
    ap.add_argument(
        "--query",
        action="append",
        default=[],
        metavar="ID=PROMQL",
        help="time this query instead of QUERIES (repeatable)",
    )
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per query and target")
    ap.add_argument(
        "--query-offset-ms",
        type=int,
        default=7,
        help="shift evaluation times off the 15 s scrape grid (0: on the grid)",
    )
    ap.add_argument("--workers", type=int, default=2, help="remote-write connections")
    ap.add_argument("--batch", type=int, default=5000, help="samples per request")
    ap.add_argument("--round-steps", type=int, default=40)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--end-offset-s", type=int, default=60)
    ap.add_argument(
        "--idle-wait", type=float, default=20.0, help="wait up to this long for an idle machine"
    )
    ap.add_argument("--request-timeout", type=float, default=120.0)
    ap.add_argument(
        "--bench-dir", default=os.environ.get("OBSKIT_PEER_BENCH", str(BI.DEFAULT_BENCH))
    )
    ap.add_argument("--tmp-root", default=None)
    ap.add_argument("--keep-data", action="store_true")
    ap.add_argument(
        "--result-caches",
        action="store_true",
        help="keep obskit's results cache and VictoriaMetrics' rollup result cache on (both off "
        "by default, as the harness runs VictoriaMetrics: the repeats would be cache hits)",
    )
    ap.add_argument("--json", help="also write all raw results to this JSON file")
    ap.add_argument("--cprofile", type=int, default=0, metavar="N", help="profile N slowest")
    ap.add_argument("--cprofile-top", type=int, default=18)
    ap.add_argument("--profile", action="store_true", help="sample the obskit server's stacks")
    ap.add_argument("--perf", action="store_true", help="perf-record obskit during queries")
    args = ap.parse_args()

    gen, remote_write, run_peers, targets = BI._import_harness(Path(args.bench_dir))

    class H:  # the harness modules, passed around
        pass

    H.gen, H.remote_write, H.run_peers, H.targets = gen, remote_write, run_peers, targets
    if args.size not in gen.SIZES:
        sys.exit(f"unknown --size {args.size!r}; one of {sorted(gen.SIZES)}")
    queries = list(run_peers.QUERIES)
    if args.query:
        queries = [tuple(x.split("=", 1)) for x in args.query]  # type: ignore[misc]
    if args.only:
        want = args.only.split(",")
        queries = [q for q in queries if q[0] in want]
    env = server_env(args.result_caches)
    obskit_path = check_obskit_tree(env)
    if args.profile:
        prof_out = os.path.join(tempfile.mkdtemp(prefix="obskit-query-prof-"), "profile.json")
        os.environ["OBSKIT_BENCH_PROFILE_OUT"] = env["OBSKIT_BENCH_PROFILE_OUT"] = prof_out
    obskit_t = replace(
        BI.make_obskit_target(targets, args.profile),
        notes="defaults; flush = POST /api/v1/admin/flush (head -> blocks, then compact)"
        + ("" if args.result_caches else "; results cache off (query.results_cache_bytes=0)"),
    )
    vm_t = targets.VICTORIAMETRICS
    if args.result_caches:  # VictoriaMetrics with its rollup result cache (its default)
        vm_t = replace(
            vm_t,
            start_cmd=[a for a in vm_t.start_cmd if a != "-search.disableCache"],
            notes="defaults except listen addr, retention 100y (rollup result cache on)",
        )
    table_ = {
        "obskit": obskit_t,
        "victoriametrics": vm_t,
        "prometheus": targets.PROMETHEUS,
    }
    names = [n for n in args.targets.split(",") if n]
    for n in names:
        if n not in table_:
            sys.exit(f"unknown target {n!r}; one of {sorted(table_)}")
        exe = table_[n].start_cmd[0]
        if shutil.which(exe) is None and not os.path.isfile(exe):
            sys.exit(f"target {n}: {exe!r} not found on PATH")

    t_all = time.perf_counter()
    load_start = loadavg()
    end_ms = (int(time.time() * 1000) - args.end_offset_s * 1000) // gen.SCRAPE_MS * gen.SCRAPE_MS
    ds = gen.generate(args.size, args.seed, end_ms=end_ms)
    bodies, _enc = remote_write.encode_all(ds, args.workers, args.batch, args.round_steps)
    print(f"dataset: {json.dumps(ds.meta)}", flush=True)
    print(f"obskit from {obskit_path}", flush=True)

    servers: list[Server] = []
    q: dict[str, Any] = {}
    cprof = ""
    try:
        for n in names:
            s = start(table_[n], H, args, env)
            servers.append(s)
            load(s, bodies, ds, H, args)
        del bodies
        print(
            f"queries: {len(queries)} x {args.repeat} runs x {len(servers)} targets, "
            f"offset {args.query_offset_ms} ms off the scrape grid",
            flush=True,
        )
        q = run_queries(servers, ds, H, args, queries)
        if args.cprofile and "obskit" in names:
            s = servers[names.index("obskit")]
            shutdown(s, H, args, remove=False)  # the store's lock: one opener at a time
            cprof = cprofile_obskit(s.data, q, queries, args.cprofile, args.cprofile_top)
    finally:
        for s in servers:
            shutdown(s, H, args)

    mi = run_peers.machine_info()
    versions = {s.t.name: s.res.get("version") for s in servers}
    start_s, end_s = q["start"], q["end"]
    print()
    print(
        f"## PromQL range queries, size `{args.size}`: {ds.n_series:,} series x {ds.n_steps:,} "
        f"scrapes @15 s = {ds.n_samples:,} samples; query_range over the whole range "
        f"({(end_s - start_s) / 3600:.1f} h, start/end aligned to the step, then shifted "
        f"{args.query_offset_ms} ms off the scrape grid), step {STEP_S} s, median of "
        f"{args.repeat} (targets interleaved), wall time incl. reading the whole JSON body"
    )
    print()
    print(
        f"Machine: {mi['cpu']} x{mi['nproc']}; load average at start {load_start}, at the end of "
        f"the queries {q['loadavg_end']}; other processes kept {q['other_cores_busy']} cores busy "
        f"on average during the query phase ({q['wall_s']} s)."
    )
    for n, v in versions.items():
        print(f"- {n}: {v}")
    print()
    text, summary = report(q, names)
    print(text)
    if cprof:
        print()
        print(cprof)
    for s in servers:
        if s.t.name == "obskit" and s.res.get("exit_code"):
            print(f"\nobskit exit code {s.res['exit_code']}; log tail:\n{s.res.get('log_tail')}")
        if s.res.get("perf_report"):
            print("\nperf record of obskit during the query phase (self time):")
            print(s.res["perf_report"])
    prof_path = os.environ.get("OBSKIT_BENCH_PROFILE_OUT")
    if args.profile and prof_path and os.path.exists(prof_path):
        with open(prof_path) as f:
            print()
            print(profile_text(json.load(f)))
    print(f"\ntotal wall {time.perf_counter() - t_all:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                dict(
                    args=vars(args),
                    dataset=ds.meta,
                    machine=mi,
                    loadavg_start=load_start,
                    servers={s.t.name: s.res for s in servers},
                    queries=q,
                    summary=summary,
                ),
                f,
                indent=1,
                default=str,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
