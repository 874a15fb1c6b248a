"""Remote-write ingest side by side: obskit vs VictoriaMetrics vs Prometheus, same payloads.

Reuses the team's peer harness in ``../shared/bench`` (``gen.py`` dataset, ``remote_write.py``
pre-encoder and sharded keep-alive sender, ``targets.py`` target definitions and flush hooks,
``run_peers.py`` process helpers). obskit has no query API yet, so only the ingest part of the
harness is run, for every target alike: start the server on a free port with a fresh data dir,
send the whole pre-encoded dataset (encoded once, shared by all targets), cross-check the server's
accepted-samples counter, force data to disk with the target's flush hook (bytes/sample), read
the peak RSS (``VmHWM``) and stop the server gracefully. No read-back, no queries.

Printed per target: ingest samples/s, server CPU seconds during the send (and during the
flush), CPU microseconds per sample, peak RSS, bytes/sample on disk; then the obskit /
VictoriaMetrics ratios against the goals (ingest >= 1.5x, CPU per sample <= 0.75x,
peak RSS <= 1x).

    python benchmarks/bench_ingest_peers.py --size small        # ~1 min
    python benchmarks/bench_ingest_peers.py --size medium       # ~7 min (Prometheus ~4 of them)
    python benchmarks/bench_ingest_peers.py --size small --targets obskit,victoriametrics --runs 3
    python benchmarks/bench_ingest_peers.py --size small --targets obskit --profile

``--profile`` runs obskit under a CPU-weighted stack sampler (all threads; a stack is counted
with the CPU time its thread used since the previous sample, read from
``/proc/self/task/<tid>/stat``) and prints the top functions; ``--perf`` additionally records
the server with ``perf record`` (native frames: C kernels, snappy, libpython) if ``perf`` exists.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BENCH = REPO.parent / "shared" / "bench"


def _import_harness(bench_dir: Path) -> tuple[Any, Any, Any, Any]:
    if not (bench_dir / "run_peers.py").is_file():
        sys.exit(
            f"bench_ingest_peers: the shared peer harness is not at {bench_dir} "
            "(expected run_peers.py, targets.py, gen.py, remote_write.py there); "
            "pass --bench-dir or set OBSKIT_PEER_BENCH"
        )
    sys.path.insert(0, str(bench_dir))
    try:
        import gen
        import remote_write
        import run_peers
        import targets
    except ImportError as exc:
        sys.exit(f"bench_ingest_peers: cannot import the harness from {bench_dir}: {exc}")
    return gen, remote_write, run_peers, targets


# --------------------------------------------------------------------------- profiler wrapper
# Started as the obskit server process with --profile: a sampler thread walks every thread's
# stack every PERIOD s and weights it by the CPU that thread used since the last sample (only
# while the benchmark's marker file exists, i.e. during the send), then obskit.cli.main() runs
# as usual; on exit the aggregated stacks are written as JSON.
_PROFILE_WRAPPER = r"""
import atexit, collections, json, os, sys, threading, time
PERIOD = float(os.environ.get("OBSKIT_BENCH_PROFILE_PERIOD", "0.005"))
OUT = os.environ["OBSKIT_BENCH_PROFILE_OUT"]
ON = OUT + ".on"   # the benchmark creates this file for the ingest window only
TCK = os.sysconf("SC_CLK_TCK")
self_func = collections.Counter()   # innermost frame
incl_func = collections.Counter()   # any frame on the stack (once per stack)
stacks = collections.Counter()      # innermost 6 frames
total = [0.0]
def cpu_by_tid():
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            f = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            out[int(tid)] = (int(f[11]) + int(f[12])) / TCK
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out
def fkey(fr):
    c = fr.f_code
    fn = c.co_filename
    i = fn.find("site-packages/")
    fn = fn[i + 14:] if i >= 0 else fn.replace("/work/main/src/", "")
    return f"{fn}:{c.co_name}"
def sampler():
    me = threading.get_native_id()
    last = cpu_by_tid()
    while True:
        time.sleep(PERIOD)
        cur = cpu_by_tid()
        if not os.path.exists(ON):
            last = cur
            continue
        frames = sys._current_frames()
        ident_to_native = {t.ident: t.native_id for t in threading.enumerate()}
        for ident, fr in frames.items():
            nid = ident_to_native.get(ident)
            if nid is None or nid == me:
                continue
            d = cur.get(nid, 0.0) - last.get(nid, 0.0)
            if d <= 0:
                continue
            total[0] += d
            keys, f = [], fr
            while f is not None:
                keys.append(fkey(f))
                f = f.f_back
            self_func[keys[0]] += d
            for k in set(keys):
                incl_func[k] += d
            stacks[" <- ".join(keys[:6])] += d
        last = cur
def dump():
    with open(OUT, "w") as fh:
        json.dump(dict(total_cpu_s=total[0], self=self_func.most_common(60),
                       inclusive=incl_func.most_common(80), stacks=stacks.most_common(40)), fh)
atexit.register(dump)
threading.Thread(target=sampler, daemon=True, name="bench-sampler").start()
from obskit.cli import main
sys.argv[0] = "obskit"
rc = main(sys.argv[1:])
dump()
sys.exit(rc)
"""


# --------------------------------------------------------------------------- targets
def obskit_version() -> str:
    try:
        from obskit import __version__
    except ImportError:
        __version__ = "?"
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    try:
        from obskit import kernels

        backend = "native" if kernels.NATIVE_KERNELS else "numpy"
    except (ImportError, AttributeError):
        backend = "?"
    return f"{__version__} ({rev}, {backend} kernels)"


def make_obskit_target(T: Any, profile: bool) -> Any:
    cmd = [sys.executable, "-m", "obskit"]
    if profile:
        # the wrapper travels in the environment: targets.fill() would str.format() its braces
        os.environ["OBSKIT_BENCH_PROFILE_CODE"] = _PROFILE_WRAPPER
        cmd = [sys.executable, "-c", "import os; exec(os.environ['OBSKIT_BENCH_PROFILE_CODE'])"]
    accepted_re = 'protocol="remote_write"'
    return T.Target(
        name="obskit",
        start_cmd=[*cmd, "serve", "--listen", "127.0.0.1:{port}", "--data-dir", "{data}"],
        write_path="/api/v1/write",
        query_base="/api/v1",  # not served yet; this benchmark never queries
        ready_path="/-/ready",
        flush=T.http_flush([("POST", "/api/v1/admin/flush")]),
        accepted_samples=lambda c: T.metric_sum(
            c.metrics(), "obskit_samples_ingested_total", accepted_re
        ),
        version=lambda c: obskit_version(),
        notes="defaults (fsync=interval, retention 15d); flush = POST /api/v1/admin/flush "
        "(head -> blocks, then compact); bytes = whole data dir",
    )


# --------------------------------------------------------------------------- one ingest run
def log_tail(path: str | None, lines: int = 25) -> str:
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        data = f.read()[-20_000:]
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def wait_idle(RP: Any, max_s: float, busy_cores: float = 0.3) -> float:
    """Wait (at most max_s) until the machine is idle: other processes (another test run...)
    share the 2 CPUs with client and server and distort every figure. Returns seconds waited."""
    t0 = time.time()
    quiet = 0
    while time.time() - t0 < max_s:
        a = RP.sys_busy_s()
        time.sleep(1.0)
        quiet = quiet + 1 if RP.sys_busy_s() - a < busy_cores else 0
        if quiet >= 3:
            break
    waited = time.time() - t0
    if waited > 5:
        print(
            f"  (waited {waited:.0f} s for the machine to go idle"
            f"{'' if quiet >= 3 else ', gave up'})",
            flush=True,
        )
    return waited


def run_ingest(t: Any, bodies: Any, args: argparse.Namespace, H: Any) -> dict[str, Any]:
    """The ingest/flush/RSS part of run_peers.run_target (no visibility wait, read-back or
    queries), with the same helpers, so every target is measured the same way."""
    RP, T, RW = H.run_peers, H.targets, H.remote_write
    res: dict[str, Any] = dict(target=t.name)
    workdir = tempfile.mkdtemp(prefix=f"obskit-ingest-{t.name}-", dir=args.tmp_root)
    port = RP.free_port()
    base = f"http://127.0.0.1:{port}"
    data = os.path.join(workdir, "data")
    os.makedirs(data, exist_ok=True)
    ctx = T.Ctx(target=t, base_url=base, data_dir=data, workdir=workdir, pid=None)
    ctx.log_path = os.path.join(workdir, "server.log")
    env = dict(os.environ)
    prof_out = os.path.join(workdir, "profile.json")
    env["OBSKIT_BENCH_PROFILE_OUT"] = prof_out
    proc = None
    perf = None
    try:
        if t.setup:
            t.setup(ctx)
        cmd = T.fill(t.start_cmd, port=port, data=data, workdir=workdir, bench=T.BENCH_DIR)
        res["cmd"] = " ".join(cmd)
        with open(ctx.log_path, "wb") as logf:
            proc = subprocess.Popen(
                cmd,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        ctx.pid = proc.pid
        t0 = time.time()
        while True:
            try:
                code, _ = ctx.http("GET", t.ready_path, timeout=5)
                if code == 200:
                    break
            except Exception:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"{t.name} exited rc={proc.returncode}")
            if time.time() - t0 > 120:
                raise RuntimeError(f"{t.name} not ready after 120 s")
            time.sleep(0.1)
        res["startup_s"] = round(time.time() - t0, 2)
        res["version"] = t.version(ctx) if t.version else None
        res["rss_idle"] = RP.proc_mem(ctx.pid)
        print(f"[{t.name}] ready in {res['startup_s']} s, version {res['version']}", flush=True)

        if args.perf and t.name == "obskit" and shutil.which("perf"):
            perf_data = os.path.join(workdir, "perf.data")
            perf = subprocess.Popen(
                ["perf", "record", "-F", "499", "-p", str(ctx.pid), "-o", perf_data],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            res["perf_data"] = perf_data
            time.sleep(0.5)

        res["idle_wait_s"] = round(wait_idle(RP, args.idle_wait), 1)
        if args.profile and t.name == "obskit":
            open(prof_out + ".on", "w").close()
        acc0 = t.accepted_samples(ctx) if t.accepted_samples else None
        cpu0, sys0, me0 = RP.proc_cpu_s(ctx.pid), RP.sys_busy_s(), RP.self_cpu_s()
        send = RW.send_all(base + t.write_path, bodies, timeout=args.request_timeout)
        cpu1, sys1, me1 = RP.proc_cpu_s(ctx.pid), RP.sys_busy_s(), RP.self_cpu_s()
        if os.path.exists(prof_out + ".on"):
            os.unlink(prof_out + ".on")
        if perf is not None:
            perf.send_signal(2)
            perf.wait(60)
        ing = res["ingest"] = send
        ing["server_cpu_s"] = round(cpu1 - cpu0, 2)
        ing["client_cpu_s"] = round(me1 - me0, 2)
        ing["other_cpu_s"] = round((sys1 - sys0) - (me1 - me0) - (cpu1 - cpu0), 2)
        ing["mem_after"] = RP.proc_mem(ctx.pid)
        # other processes used more than 10% of the machine during the send: figures distorted
        ing["contended"] = ing["other_cpu_s"] > 0.1 * send["send_wall_s"] * (os.cpu_count() or 1)
        print(f"[{t.name}] ingest: {json.dumps(send)}", flush=True)
        if t.accepted_samples:
            acc1 = acc0
            for _ in range(50):
                acc1 = t.accepted_samples(ctx)
                if acc1 - acc0 >= send["ok_samples"]:
                    break
                time.sleep(0.2)
            ing["server_accepted_samples"] = int(acc1 - acc0)
        if t.name == "obskit":
            m = ctx.metrics()
            ing["server_rejected_samples"] = int(T.metric_sum(m, "obskit_samples_rejected_total"))

        if t.flush:
            a, c0 = time.perf_counter(), RP.proc_cpu_s(ctx.pid)
            disk = t.flush(ctx)
            disk["flush_total_s"] = round(time.perf_counter() - a, 2)
            disk["flush_server_cpu_s"] = round(RP.proc_cpu_s(ctx.pid) - c0, 2)
            if disk.get("bytes_on_disk"):
                disk["bytes_per_sample"] = round(
                    disk["bytes_on_disk"] / max(1, send["ok_samples"]), 4
                )
            if os.path.isdir(data):
                disk["top_level"] = {
                    d: T.dir_bytes(os.path.join(data, d))["apparent"]
                    if os.path.isdir(os.path.join(data, d))
                    else os.path.getsize(os.path.join(data, d))
                    for d in sorted(os.listdir(data))
                }
            res["disk"] = disk
            print(
                f"[{t.name}] disk: bytes_on_disk={disk.get('bytes_on_disk')} "
                f"bytes/sample={disk.get('bytes_per_sample')} flush {disk['flush_total_s']} s "
                f"(server CPU {disk['flush_server_cpu_s']} s)",
                flush=True,
            )
        res["mem_final"] = RP.proc_mem(ctx.pid)
        res["peak_rss_bytes"] = res["mem_final"].get("VmHWM")
        res["peak_rss_after_ingest_bytes"] = ing["mem_after"].get("VmHWM")
    except Exception as e:
        import traceback

        res["error"] = f"{type(e).__name__}: {e}"
        res["traceback"] = traceback.format_exc()
        print(f"[{t.name}] ERROR {res['error']}", flush=True)
    finally:
        if perf is not None and perf.poll() is None:
            perf.send_signal(2)
            perf.wait(60)
        if proc is not None:
            RP.stop(proc)
            res["exit_code"] = proc.returncode
            res["disk_after_stop"] = T.dir_bytes(data, exclude_top=("cache", "snapshots"))
        res["log_tail"] = log_tail(ctx.log_path)
        if os.path.exists(prof_out):
            with open(prof_out) as f:
                res["profile"] = json.load(f)
        if res.get("perf_data") and os.path.exists(res["perf_data"]):
            res["perf_report"] = perf_report(res["perf_data"])
        if not args.keep_data:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            res["workdir_kept"] = workdir
    return res


def perf_report(path: str) -> str:
    """Self time by shared object, then by symbol (>= 0.7%)."""
    parts = []
    for sort, limit in (("dso", "0.5"), ("dso,sym", "0.7")):
        try:
            out = subprocess.run(
                ["perf", "report", "-i", path, "--sort", sort, "--stdio", "--percent-limit", limit],
                capture_output=True,
                text=True,
                timeout=300,
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            return f"perf report failed: {exc}"
        parts.append(
            "\n".join(ln for ln in out.splitlines() if ln.strip() and not ln.startswith("#"))
        )
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- report
def mib(n: float | None) -> str:
    return "-" if n is None else f"{n / 2**20:.1f} MiB"


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over the runs of one target (one run: that run)."""
    ok = [r for r in runs if "ingest" in r]
    if not ok:
        return dict(error=runs[-1].get("error", "no run"))
    clean = [r for r in ok if not r["ingest"].get("contended")]
    n_contended = len(ok) - len(clean)
    ok = clean or ok  # prefer runs without CPU contention from other processes

    def med(f: Any) -> Any:
        vals = [v for v in (f(r) for r in ok) if v is not None]
        return statistics.median(vals) if vals else None

    samples = med(lambda r: r["ingest"]["ok_samples"])
    cpu = med(lambda r: r["ingest"]["server_cpu_s"])
    fcpu = med(lambda r: r.get("disk", {}).get("flush_server_cpu_s"))
    return dict(
        version=ok[0].get("version"),
        runs=len(ok),
        contended_runs_dropped=n_contended if clean else 0,
        contended=not clean,
        samples_per_s=med(lambda r: r["ingest"]["samples_per_s"]),
        samples_per_s_all=[r["ingest"]["samples_per_s"] for r in ok],
        ok_samples=samples,
        bad_samples=max(r["ingest"]["bad_samples"] for r in ok),
        accepted=med(lambda r: r["ingest"].get("server_accepted_samples")),
        send_wall_s=med(lambda r: r["ingest"]["send_wall_s"]),
        server_cpu_s=cpu,
        client_cpu_s=med(lambda r: r["ingest"]["client_cpu_s"]),
        other_cpu_s=med(lambda r: r["ingest"]["other_cpu_s"]),
        cpu_us_per_sample=cpu / samples * 1e6 if samples else None,
        flush_cpu_s=fcpu,
        cpu_us_per_sample_incl_flush=(cpu + (fcpu or 0)) / samples * 1e6 if samples else None,
        flush_s=med(lambda r: r.get("disk", {}).get("flush_total_s")),
        peak_rss_after_ingest=med(lambda r: r.get("peak_rss_after_ingest_bytes")),
        peak_rss=med(lambda r: r.get("peak_rss_bytes")),
        bytes_per_sample=med(lambda r: r.get("disk", {}).get("bytes_per_sample")),
        bytes_per_sample_after_stop=med(
            lambda r: (
                r["disk_after_stop"]["apparent"] / max(1, r["ingest"]["ok_samples"])
                if r.get("disk_after_stop")
                else None
            )
        ),
        p50_ms=med(lambda r: (r["ingest"].get("req_latency_ms") or {}).get("p50")),
        p99_ms=med(lambda r: (r["ingest"].get("req_latency_ms") or {}).get("p99")),
    )


def fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(summary: dict[str, dict[str, Any]]) -> str:
    head = (
        "| target | ingest samples/s | send wall s | ok / server-accepted / bad | "
        "server CPU s ingest (+flush) | CPU µs/sample ingest (incl. flush) | "
        "client / other CPU s | req p50 / p99 ms | peak RSS after ingest / after flush | "
        "bytes/sample flushed (after stop) |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in summary.items():
        if "error" in s:
            lines.append(f"| {name} | ERROR: {s['error']} | | | | | | | | |")
            continue
        rates = ""
        if s["contended"]:
            rates += " (CONTENDED)"
        elif s["contended_runs_dropped"]:
            rates += f" ({s['contended_runs_dropped']} contended run(s) dropped)"
        if s["runs"] > 1:
            rates = " (" + ", ".join(f"{x / 1e3:,.0f}k" for x in s["samples_per_s_all"]) + ")"
        lines.append(
            f"| {name} | {s['samples_per_s']:,.0f}{rates} | {s['send_wall_s']:.2f} | "
            f"{s['ok_samples']:,.0f} / {fmt(s['accepted'], ',.0f')} / {s['bad_samples']:,} | "
            f"{s['server_cpu_s']:.2f} (+{fmt(s['flush_cpu_s'], '.2f')}) | "
            f"{fmt(s['cpu_us_per_sample'], '.3f')} "
            f"({fmt(s['cpu_us_per_sample_incl_flush'], '.3f')}) | "
            f"{fmt(s['client_cpu_s'], '.2f')} / {fmt(s['other_cpu_s'], '.2f')} | "
            f"{fmt(s['p50_ms'], '.1f')} / {fmt(s['p99_ms'], '.1f')} | "
            f"{mib(s['peak_rss_after_ingest'])} / {mib(s['peak_rss'])} | "
            f"{fmt(s['bytes_per_sample'], '.3f')} "
            f"({fmt(s['bytes_per_sample_after_stop'], '.3f')}) |"
        )
    return "\n".join(lines)


GOALS = [
    # (label, key, goal, higher_is_better)
    ("ingest samples/s", "samples_per_s", 1.5, True),
    ("server CPU per sample (ingest)", "cpu_us_per_sample", 0.75, False),
    ("server CPU per sample (ingest + flush)", "cpu_us_per_sample_incl_flush", None, False),
    ("peak RSS (after flush)", "peak_rss", 1.0, False),
    ("peak RSS (after ingest)", "peak_rss_after_ingest", None, False),
    ("bytes/sample on disk (flushed)", "bytes_per_sample", None, False),
]


def ratios(summary: dict[str, dict[str, Any]], num: str, den: str) -> str:
    a, b = summary.get(num, {}), summary.get(den, {})
    if "error" in a or "error" in b or not a or not b:
        return f"(no {num}/{den} ratios: a target is missing or failed)"
    lines = [f"| {num} / {den} | ratio | goal | met? |", "|---|---:|---:|---|"]
    for label, key, goal, higher in GOALS:
        x, y = a.get(key), b.get(key)
        if x is None or not y:
            lines.append(f"| {label} | - | | |")
            continue
        r = x / y
        if goal is None:
            lines.append(f"| {label} | {r:.2f}x | | |")
        else:
            met = r >= goal if higher else r <= goal
            lines.append(
                f"| {label} | {r:.2f}x | {'>=' if higher else '<='} {goal}x | "
                f"{'yes' if met else 'NO'} |"
            )
    return "\n".join(lines)


def profile_text(prof: dict[str, Any], top: int = 25) -> str:
    tot = prof.get("total_cpu_s") or 1e-9
    out = [
        f"obskit server CPU sampled during the send: {tot:.2f} s (all threads, weighted by "
        "per-thread CPU)",
        "",
        "self (innermost Python frame; C calls are charged to their Python caller):",
    ]
    out += [f"  {s / tot * 100:5.1f}%  {s:7.2f} s  {k}" for k, s in prof["self"][:top]]
    out += ["", "inclusive:"]
    out += [f"  {s / tot * 100:5.1f}%  {s:7.2f} s  {k}" for k, s in prof["inclusive"][: top + 10]]
    out += ["", "hottest stacks (innermost first):"]
    out += [f"  {s / tot * 100:5.1f}%  {k}" for k, s in prof["stacks"][:12]]
    return "\n".join(out)


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", default="small", help="tiny | small | medium (gen.SIZES)")
    ap.add_argument(
        "--targets",
        default="obskit,victoriametrics,prometheus",
        help="comma list of obskit, victoriametrics, prometheus (run in this order)",
    )
    ap.add_argument("--runs", type=int, default=1, help="ingest runs per target (median reported)")
    ap.add_argument("--workers", type=int, default=2, help="remote-write connections (shards)")
    ap.add_argument("--batch", type=int, default=5000, help="samples per request")
    ap.add_argument("--round-steps", type=int, default=40)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--jitter-ms", type=int, default=0)
    ap.add_argument("--end-offset-s", type=int, default=60)
    ap.add_argument(
        "--idle-wait",
        type=float,
        default=180.0,
        help="before each send, wait up to this long for the machine to be idle",
    )
    ap.add_argument("--request-timeout", type=float, default=120.0)
    ap.add_argument("--bench-dir", default=os.environ.get("OBSKIT_PEER_BENCH", str(DEFAULT_BENCH)))
    ap.add_argument("--tmp-root", default=None)
    ap.add_argument("--keep-data", action="store_true")
    ap.add_argument("--json", help="also write all raw results to this JSON file")
    ap.add_argument("--profile", action="store_true", help="sample the obskit server's stacks")
    ap.add_argument(
        "--perf", action="store_true", help="also perf-record the obskit server during ingest"
    )
    ap.add_argument("--log-lines", type=int, default=12, help="obskit server log lines to print")
    args = ap.parse_args()

    gen, remote_write, run_peers, targets = _import_harness(Path(args.bench_dir))

    class H:  # the harness modules, passed around
        pass

    H.gen, H.remote_write, H.run_peers, H.targets = gen, remote_write, run_peers, targets
    if args.size not in gen.SIZES:
        sys.exit(f"unknown --size {args.size!r}; one of {sorted(gen.SIZES)}")
    table_ = {
        "obskit": make_obskit_target(targets, args.profile),
        "victoriametrics": targets.VICTORIAMETRICS,
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
    end_ms = (int(time.time() * 1000) - args.end_offset_s * 1000) // gen.SCRAPE_MS * gen.SCRAPE_MS
    ds = gen.generate(args.size, args.seed, end_ms=end_ms, jitter_ms=args.jitter_ms)
    bodies, enc = remote_write.encode_all(ds, args.workers, args.batch, args.round_steps)
    print(f"dataset: {json.dumps(ds.meta)}", flush=True)
    print(f"encode: {json.dumps(enc)}", flush=True)

    raw: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for i in range(args.runs):
        for n in names:
            if args.runs > 1:
                print(f"--- run {i + 1}/{args.runs}: {n}", flush=True)
            raw[n].append(run_ingest(table_[n], bodies, args, H))
    summary = {n: summarize(rs) for n, rs in raw.items()}

    mi = run_peers.machine_info()
    print()
    print(
        f"## Remote-write ingest, size `{args.size}`: {ds.n_series:,} series x {ds.n_steps:,} "
        f"scrapes = {ds.n_samples:,} samples; {enc['requests']:,} requests of "
        f"~{args.batch} samples, "
        f"{args.workers} connections, {enc['snappy_bytes_per_sample']} B/sample on the wire; "
        f"{mi['cpu']} x{mi['nproc']} (client and servers share the CPUs), load avg at start "
        f"{mi['loadavg_start']}; {args.runs} run(s) per target, median shown"
    )
    print()
    for n in names:
        s = summary[n]
        if "version" in s:
            print(f"- {n}: {s['version']}")
    print()
    print(table(summary))
    print()
    print(ratios(summary, "obskit", "victoriametrics"))
    for n in names:
        for r in raw[n]:
            if r.get("ingest", {}).get("first_error") or r.get("error"):
                print(f"\n[{n}] problem: {r.get('error') or r['ingest']['first_error']}")
    if "obskit" in raw:
        last = raw["obskit"][-1]
        rej = last.get("ingest", {}).get("server_rejected_samples")
        print(
            f"\nobskit: rejected samples (server counter) = {rej}; "
            f"exit code {last.get('exit_code')}; "
            f"data dir after flush: {json.dumps(last.get('disk', {}).get('top_level'))}"
        )
        print(f"obskit server log tail (last {args.log_lines} lines):")
        print("\n".join(last.get("log_tail", "").splitlines()[-args.log_lines :]) or "  (empty)")
        if last.get("profile"):
            print()
            print(profile_text(last["profile"]))
        if last.get("perf_report"):
            print(
                "\nperf record of the server during the send (native frames, self time, >= 0.7%):"
            )
            print(last["perf_report"])
    print(f"\ntotal wall {time.perf_counter() - t_all:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                dict(
                    args=vars(args),
                    dataset=ds.meta,
                    encode=enc,
                    machine=mi,
                    summary=summary,
                    raw=raw,
                ),
                f,
                indent=1,
                default=str,
            )
    return 0 if all("error" not in s for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
