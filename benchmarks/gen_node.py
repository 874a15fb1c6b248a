"""Seeded generator of node_exporter-like metrics for the codec benchmarks and tests.

Per host 97 series scraped every 15 s from two targets (``job="node"`` on :9100, ``job="api"`` on
:8080): constants (``up``, boot time, memory and filesystem sizes), 2-decimal CPU counters built
from integer 1/100 s ticks, integer network/disk/context-switch counters, slowly walking memory
and filesystem gauges that often stay unchanged, 2-decimal load averages, full-precision
temperatures, Poisson request counters and a classic latency histogram (12 buckets, full-precision
``_sum``). Everything is vectorised over time (AR(1) noise and load averages are exponential
filters applied with FFTs), so 100 hosts x 24 h take a few seconds.

    python benchmarks/gen_node.py --hosts 10 --hours 6     # prints a summary
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SCRAPE_MS = 15_000
CPU_MODES = ("idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user")
CPUS = 4
NET_DEVICES = ("eth0", "eth1", "lo")
DISK_DEVICES = ("nvme0n1", "sda")
SENSORS = ("temp1", "temp2", "temp3", "temp4")
MOUNTS = ("/", "/var")
HANDLERS = ("/api/v1/query", "/api/v1/write")
METHODS = ("GET", "POST")
CODES = ("200", "304", "404", "500")
LE = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf")
REGIONS = ("us-east-1", "eu-west-1", "ap-south-1")

Labels = tuple[tuple[str, str], ...]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Dataset:
    """``values[t, s]`` is series ``labels[s]`` at ``timestamps_ms[t]`` (before jitter)."""

    labels: list[Labels]
    timestamps_ms: npt.NDArray[np.int64]
    values: F64
    target_of: npt.NDArray[np.int64]  # scrape target index of each series
    jitter_ms: npt.NDArray[np.int64] | None  # (T, targets) offsets, None without jitter

    def timestamps(self, series: slice = slice(None)) -> npt.NDArray[np.int64]:
        """(T, S') timestamps of the selected series, with their target's jitter."""
        targets = self.target_of[series]
        ts = np.broadcast_to(self.timestamps_ms[:, None], (self.timestamps_ms.size, targets.size))
        if self.jitter_ms is None:
            return np.ascontiguousarray(ts)
        return ts + self.jitter_ms[:, targets]

    def family(self, s: int) -> str:
        """Metric name of series ``s``."""
        return dict(self.labels[s])["__name__"]


def _exp_filter(x: F64, a: float) -> F64:
    """y[t] = a * y[t-1] + x[t] along axis 0 (y[-1] = 0), as one FFT convolution."""
    t = x.shape[0]
    size = 1 << (2 * t - 1).bit_length()
    kernel = a ** np.arange(t, dtype=np.float64)
    spec = np.fft.rfft(x, size, axis=0) * np.fft.rfft(kernel, size).reshape(
        (-1,) + (1,) * (x.ndim - 1)
    )
    y: F64 = np.fft.irfft(spec, size, axis=0)[:t]
    return y


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], rho: float, sigma: float) -> F64:
    """Stationary AR(1) noise along axis 0."""
    e = rng.normal(0.0, sigma, size=shape)
    e[0] /= np.sqrt(1.0 - rho * rho)
    return _exp_filter(e, rho)


class _Builder:
    def __init__(self, hosts: int) -> None:
        self.hosts = hosts
        self.families: list[tuple[str, str, list[dict[str, str]], F64]] = []

    def add(self, name: str, job: str, extra: list[dict[str, str]], arr: F64) -> None:
        """``arr`` is (T, hosts, len(extra))."""
        assert arr.shape[1:] == (self.hosts, len(extra)), (name, arr.shape)
        self.families.append((name, job, extra, arr))


def generate(
    hosts: int, hours: float, seed: int = 42, end_ms: int | None = None, jitter_ms: int = 0
) -> Dataset:
    """Generate ``hosts`` x 97 series over ``hours`` (values depend only on hosts, hours, seed)."""
    steps = max(1, round(hours * 3600_000 / SCRAPE_MS))
    end = 1_767_225_600_000 if end_ms is None else end_ms // SCRAPE_MS * SCRAPE_MS
    ts = end - SCRAPE_MS * np.arange(steps - 1, -1, -1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    t_s = np.arange(steps, dtype=np.float64) * SCRAPE_MS / 1000
    day = 0.5 + 0.5 * np.sin(2 * np.pi * t_s[:, None] / 86_400 + rng.uniform(0, 7, hosts))
    b = _Builder(hosts)
    ones = np.ones((steps, hosts, 1))
    b.add("up", "node", [{}], ones)
    b.add("up", "api", [{}], ones)
    boot = 1_760_000_000 - np.floor(rng.uniform(1, 90, hosts) * 86_400)
    b.add("node_boot_time_seconds", "node", [{}], np.broadcast_to(boot[None, :, None], ones.shape))

    # CPU: each 15 s scrape adds 1500 ticks per cpu, split between modes.
    busy = np.clip(
        rng.uniform(0.05, 0.4, hosts)[None, :, None]
        + 0.3 * day[:, :, None]
        + _ar1(rng, (steps, hosts, CPUS), 0.95, 0.03),
        0.02,
        0.97,
    )
    share = np.array([0, 0.05, 0.02, 0.02, 0.04, 0.02, 0.25, 0.6])
    w = share * rng.lognormal(0, 0.3, (steps, hosts, CPUS, len(CPU_MODES)))
    ticks = np.floor(
        busy[..., None] * w / w.sum(axis=3, keepdims=True) * 1500 + rng.uniform(size=w.shape)
    )
    ticks[..., 0] = np.maximum(0, 1500 - ticks[..., 1:].sum(axis=3))
    start_ticks = np.floor(rng.uniform(1e6, 1e9, (hosts, CPUS, len(CPU_MODES))) * share.clip(0.1))
    cpu = (start_ticks + np.cumsum(ticks, axis=0)) / 100.0
    b.add(
        "node_cpu_seconds_total",
        "node",
        [{"cpu": str(c), "mode": m} for c in range(CPUS) for m in CPU_MODES],
        cpu.reshape(steps, hosts, -1),
    )

    # Network: lognormal byte increments per scrape (1e4 .. 3e7), packets of 300..1400 bytes.
    activity = (0.3 + day)[:, :, None]
    devices = [{"device": d} for d in NET_DEVICES]
    for direction in ("receive", "transmit"):
        rate = rng.lognormal(np.log([1.5e6, 4e4, 1.5e4]), 0.7, (hosts, 3))
        inc = np.floor(rate * 15 * activity * rng.lognormal(0, 0.35, (steps, hosts, 3)))
        start = np.floor(rng.uniform(1e9, 1e12, (hosts, 3)))
        pkt = rng.uniform(300, 1400, (hosts, 3))
        pinc = np.floor(inc / pkt + rng.uniform(size=inc.shape))
        b.add(
            f"node_network_{direction}_bytes_total", "node", devices, start + np.cumsum(inc, axis=0)
        )
        b.add(
            f"node_network_{direction}_packets_total",
            "node",
            devices,
            np.floor(start / 900) + np.cumsum(pinc, axis=0),
        )

    # Disk: byte counters in 512-byte sectors, idle 15% of scrapes.
    for op, mean in (("read", 2e5), ("written", 6e5)):
        rate = rng.lognormal(np.log(mean), 1.0, (hosts, 2))
        sectors = np.floor(rate * 15 * activity * rng.lognormal(0, 0.8, (steps, hosts, 2)) / 512)
        sectors[rng.uniform(size=sectors.shape) < 0.15] = 0
        start = np.floor(rng.uniform(1e9, 1e12, (hosts, 2)) / 512) * 512
        b.add(
            f"node_disk_{op}_bytes_total",
            "node",
            [{"device": d} for d in DISK_DEVICES],
            start + 512 * np.cumsum(sectors, axis=0),
        )

    cs_rate = rng.lognormal(np.log(6000), 0.5, (hosts, 1))
    cs_inc = np.floor(cs_rate * 15 * (0.5 + busy.mean(axis=2, keepdims=True)))
    cs_inc = np.floor(cs_inc * rng.lognormal(0, 0.1, cs_inc.shape))
    b.add(
        "node_context_switches_total",
        "node",
        [{}],
        np.floor(rng.uniform(1e8, 1e10, (hosts, 1))) + np.cumsum(cs_inc, axis=0),
    )

    # Memory in kB * 1024, a slow walk that keeps its value on ~30% of scrapes.
    total_kb = rng.choice([8, 16, 32, 64], hosts) * 1_048_576 - rng.integers(50_000, 300_000, hosts)
    frac = np.clip(0.5 + 0.2 * (day - 0.5) + _ar1(rng, (steps, hosts), 0.999, 0.002), 0.05, 0.95)
    avail_kb = np.floor(total_kb * frac / 4) * 4
    changed = rng.uniform(size=(steps, hosts)) >= 0.3
    changed[0] = True
    held = np.maximum.accumulate(np.where(changed, np.arange(steps)[:, None], 0), axis=0)
    avail_kb = np.take_along_axis(avail_kb, held, axis=0)
    free_kb = np.floor(avail_kb * rng.uniform(0.25, 0.45, hosts) / 4) * 4
    cached_kb = np.floor((avail_kb - free_kb) * 0.8 / 4) * 4
    total = np.broadcast_to(total_kb.astype(np.float64), (steps, hosts))
    for name, kb in (
        ("MemTotal", total),
        ("MemAvailable", avail_kb),
        ("MemFree", free_kb),
        ("Cached", cached_kb),
    ):
        b.add(f"node_memory_{name}_bytes", "node", [{}], (kb * 1024)[:, :, None])

    # Load averages: exponentially smoothed run-queue length, printed with 2 decimals.
    runq = busy.sum(axis=2) * (1 + 0.2 * rng.lognormal(0, 0.5, (steps, hosts)))
    for name, tau in (("node_load1", 60), ("node_load5", 300), ("node_load15", 900)):
        a = float(np.exp(-15 / tau))
        load = _exp_filter((1 - a) * runq, a) + a ** np.arange(1, steps + 1)[:, None] * runq[0]
        b.add(name, "node", [{}], np.round(load, 2)[:, :, None])

    temp = (
        rng.uniform(35, 50, (hosts, 4))
        + 15 * busy.mean(axis=2)[:, :, None]
        + _ar1(rng, (steps, hosts, 4), 0.9, 0.2)
        + rng.normal(0, 0.05, (steps, hosts, 4))
    )
    b.add(
        "node_hwmon_temp_celsius",
        "node",
        [{"chip": "coretemp", "sensor": s} for s in SENSORS],
        temp,
    )

    # Filesystems: 4 KiB blocks, filling on half the scrapes, rare cleanups.
    size = rng.choice([50, 100, 500, 1000], (hosts, 2)) * 2.0**30
    blocks = np.floor(rng.lognormal(np.log(50), 1.0, (steps, hosts, 2)))
    blocks[rng.uniform(size=blocks.shape) < 0.5] = 0
    blocks -= (rng.uniform(size=blocks.shape) < 0.0005) * np.floor(size * 0.05 / 4096)
    avail = np.floor(size * rng.uniform(0.3, 0.8, (hosts, 2)) / 4096) * 4096 - 4096 * np.cumsum(
        blocks, axis=0
    )
    avail = np.clip(avail, 4096 * 1000, size)
    mounts = [{"mountpoint": m, "fstype": "ext4"} for m in MOUNTS]
    b.add("node_filesystem_avail_bytes", "node", mounts, avail)
    b.add("node_filesystem_size_bytes", "node", mounts, np.broadcast_to(size, avail.shape))

    # Application: request counters and a classic latency histogram.
    req_rate = rng.lognormal(np.log(40), 0.7, hosts)
    combos = [(h, m, c) for h in HANDLERS for m in METHODS for c in CODES]
    mix = rng.dirichlet(np.full(len(combos), 0.5))
    lam = req_rate[None, :, None] * 15 * (0.2 + day)[:, :, None] * mix
    http = np.floor(rng.uniform(1e4, 1e7, (hosts, len(combos)))) + np.cumsum(
        rng.poisson(lam), axis=0
    )
    b.add(
        "http_requests_total",
        "api",
        [{"handler": h, "method": m, "code": c} for h, m, c in combos],
        http,
    )
    le = np.array([float(x) for x in LE[:-1]])
    log_median = np.log(0.08) + 0.6 * (day - 0.5) + _ar1(rng, (steps, hosts), 0.98, 0.05)
    z = (np.log(le) - log_median[:, :, None]) / 0.9
    cdf = 0.5 * (1 + np.tanh(z * 0.7978845608 * (1 + 0.044715 * z * z)))  # ~normal cdf
    probs = np.diff(cdf, axis=2, prepend=0.0, append=1.0)
    n_req = req_rate * 15 * (0.2 + day)
    per_bucket = rng.poisson(n_req[:, :, None] * probs)
    buckets = np.cumsum(np.cumsum(per_bucket, axis=2), axis=0).astype(np.float64)
    count = buckets[:, :, -1:]
    mean_latency = np.exp(log_median + 0.9**2 / 2)
    dur_sum = np.cumsum(
        per_bucket.sum(axis=2) * mean_latency * rng.lognormal(0, 0.05, (steps, hosts)), axis=0
    )
    b.add("http_request_duration_seconds_bucket", "api", [{"le": x} for x in LE], buckets)
    b.add("http_request_duration_seconds_sum", "api", [{}], dur_sum[:, :, None])
    b.add("http_request_duration_seconds_count", "api", [{}], count)
    return _assemble(b, ts, seed, jitter_ms)


def _assemble(b: _Builder, ts: npt.NDArray[np.int64], seed: int, jitter_ms: int) -> Dataset:
    labels: list[Labels] = []
    target_of: list[int] = []
    columns: list[F64] = []
    for h in range(b.hosts):
        region = REGIONS[h % len(REGIONS)]
        common = {
            "region": region,
            "datacenter": f"{region}-{'abc'[h // 3 % 3]}",
            "env": "prod" if h % 5 else "staging",
        }
        for name, job, extras, arr in b.families:
            port = "9100" if job == "node" else "8080"
            for k, extra in enumerate(extras):
                pairs = {
                    "__name__": name,
                    "job": job,
                    "instance": f"host-{h:04d}:{port}",
                    **common,
                    **extra,
                }
                labels.append(tuple(sorted(pairs.items())))
                target_of.append(2 * h + (job == "api"))
                columns.append(arr[:, h, k])
    jitter = None
    if jitter_ms > 0:
        jrng = np.random.default_rng(seed + 1)
        jitter = jrng.integers(-jitter_ms, jitter_ms + 1, (ts.size, 2 * b.hosts), dtype=np.int64)
    values = np.ascontiguousarray(np.stack(columns, axis=1), dtype=np.float64)
    return Dataset(labels, ts, values, np.asarray(target_of, dtype=np.int64), jitter)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    ds = generate(a.hosts, a.hours, a.seed)
    names: dict[str, int] = {}
    for s in range(len(ds.labels)):
        names[ds.family(s)] = names.get(ds.family(s), 0) + 1
    print(f"{len(ds.labels)} series x {ds.timestamps_ms.size} steps = {ds.values.size} samples")
    for name, n in sorted(names.items()):
        print(f"  {name:45s} {n}")


if __name__ == "__main__":
    main()
