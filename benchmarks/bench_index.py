"""Label index benchmark: LabelIndex.add throughput and select latency on node_exporter-like series.

    python benchmarks/bench_index.py                 # 2000 hosts x 500 series = 1 M series
    python benchmarks/bench_index.py --hosts 200     # quicker

Series per host (seeded, deterministic): node_cpu_seconds_total (8 cpus x 8 modes), filesystem,
network and disk metrics per device/mountpoint, and single-series gauges, with ``instance`` and
``job`` labels. Reported: ``add_many`` (the store's replay path, batches of --batch) and ``add``
per series, then per query the first select (converts and caches posting arrays) and the median of
warm selects, with the number of series selected.

Recorded (``python benchmarks/bench_index.py``, 1 M series, 2-CPU container, Python 3.11.7,
numpy 2.4): add_many 0.82 µs/series, add 1.86 µs/series; warm selects: ``__name__="x"``
(128k found) 0.08 ms, ``job=~"node|blackbox"`` (510k) 5.9 ms, ``instance!~"host-1.*"`` (445k)
10.6 ms, ``__name__="x", instance="y"`` 0.06 ms, first selects 0.3-40 ms (array conversion).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from obskit.model.labels import Labels, validate_labels
from obskit.model.matchers import Matcher, MatchType
from obskit.tsdb.index import LabelIndex

JOBS = ("node", "node-edge", "blackbox", "node-gpu")
MODES = ("idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice")
MOUNTS = (("/", "/dev/sda1", "ext4"), ("/boot", "/dev/sda2", "ext4"),
          ("/data", "/dev/nvme0n1", "xfs"), ("/run", "tmpfs", "tmpfs"))  # fmt: skip
NET_DEVICES = ("eth0", "eth1", "lo", "docker0")
DISKS = ("sda", "sdb", "nvme0n1", "dm-0")
GAUGES = 344  # single-series metrics per host, so that a host has 500 series


def host_series(host: int, rng: random.Random) -> list[Labels]:
    """The label sets one node_exporter target exposes."""
    base = {"instance": f"host-{host}:9100", "job": JOBS[rng.randrange(len(JOBS))]}
    cpu_name = "node_cpu_seconds_total"
    out: list[dict[str, str]] = [
        {"__name__": cpu_name, "cpu": str(cpu), "mode": mode} for cpu in range(8) for mode in MODES
    ]
    out += [
        {"__name__": f"node_filesystem_{metric}_bytes", "mountpoint": mount, "device": device,
         "fstype": fstype}
        for metric in ("avail", "free", "size", "files", "files_free")
        for mount, device, fstype in MOUNTS
    ]  # fmt: skip
    out += [
        {"__name__": f"node_network_{direction}_{metric}_total", "device": dev}
        for direction in ("receive", "transmit")
        for metric in ("bytes", "packets", "errs", "drop")
        for dev in NET_DEVICES
    ]
    out += [
        {"__name__": f"node_disk_metric_{i}_total", "device": disk}
        for i in range(10)
        for disk in DISKS
    ]
    out += [{"__name__": f"node_gauge_{i}"} for i in range(GAUGES)]
    return [validate_labels({**base, **ls}) for ls in out]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1000, help="series per add_many call")
    parser.add_argument("--repeat", type=int, default=7, help="warm selects per query")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    series = [ls for host in range(args.hosts) for ls in host_series(host, rng)]
    n = len(series)
    print(
        f"{n} series ({args.hosts} hosts), python {sys.version.split()[0]}, numpy {np.__version__}"
    )

    gc.collect()
    gc.disable()  # as a store replay would run: no collector pauses on millions of tuples
    index = LabelIndex()
    start = time.perf_counter()
    for first in range(0, n, args.batch):
        index.add_many(first, series[first : first + args.batch])
    add_many_s = time.perf_counter() - start
    single = LabelIndex()
    sample = series[: min(n, 200_000)]
    start = time.perf_counter()
    for sid, ls in enumerate(sample):
        single.add(sid, ls)
    add_one_s = time.perf_counter() - start
    del single
    gc.enable()
    print(f"add_many: {add_many_s:.2f} s, {add_many_s / n * 1e6:.2f} us/series")
    print(f"add:      {add_one_s / len(sample) * 1e6:.2f} us/series ({len(sample)} series)")

    eq, neq, re_, nre = MatchType.EQ, MatchType.NEQ, MatchType.RE, MatchType.NRE
    queries: list[list[Matcher]] = [
        [Matcher(eq, "__name__", "node_cpu_seconds_total")],
        [Matcher(eq, "__name__", "node_gauge_7")],
        [Matcher(re_, "job", "node|blackbox")],
        [Matcher(nre, "instance", "host-1.*")],
        [Matcher(eq, "__name__", "node_cpu_seconds_total"), Matcher(eq, "instance", "host-7:9100")],
        [
            Matcher(eq, "__name__", "node_cpu_seconds_total"),
            Matcher(re_, "job", "node|blackbox"),
            Matcher(nre, "mode", "idle|iowait"),
        ],
        [Matcher(eq, "__name__", "node_filesystem_avail_bytes"), Matcher(neq, "fstype", "tmpfs")],
        [Matcher(re_, "instance", "host-1[0-9]+:9100"), Matcher(eq, "__name__", "node_gauge_1")],
        [Matcher(re_, "__name__", "node_disk_.*"), Matcher(eq, "device", "sda")],
        [Matcher(neq, "mountpoint", "")],
        [Matcher(eq, "mode", "")],
        [],
    ]
    print(f"\n{'select':<100} {'found':>8} {'first ms':>9} {'warm ms':>8}")
    for matchers in queries:
        first_s, found = timed(lambda m=matchers: index.select(m))  # type: ignore[misc]
        warm = [timed(lambda m=matchers: index.select(m))[0] for _ in range(args.repeat)]  # type: ignore[misc]
        text = "{" + ", ".join(map(str, matchers)) + "}"
        count = len(found) if isinstance(found, np.ndarray) else -1
        print(f"{text:<100} {count:>8} {first_s * 1e3:>9.2f} {statistics.median(warm) * 1e3:>8.2f}")

    ids = index.select([Matcher(eq, "__name__", "node_cpu_seconds_total")])
    others: list[tuple[str, Callable[[], object]]] = [
        ("label_names()", index.label_names),
        ("label_values('instance')", lambda: index.label_values("instance")),
        ("label_names(ids of node_cpu_seconds_total)", lambda: index.label_names(ids)),
        ("label_values('mode', ids of node_cpu...)", lambda: index.label_values("mode", ids)),
        ("series_count_by_label()", index.series_count_by_label),
    ]
    print()
    for what, fn in others:
        warm = [timed(fn)[0] for _ in range(3)]
        print(f"{what:<60} {statistics.median(warm) * 1e3:>8.2f} ms")
    start = time.perf_counter()
    index.remove(np.arange(0, n, 500, dtype=np.int64))
    print(f"{'remove(every 500th series)':<60} {(time.perf_counter() - start) * 1e3:>8.2f} ms")


if __name__ == "__main__":
    main()
