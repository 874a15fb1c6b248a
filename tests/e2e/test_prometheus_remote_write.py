"""A real Prometheus scrapes itself and remote-writes to obskit; what obskit stored must equal
what Prometheus itself returns for the same series (raw samples of a range selector)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import numpy as np

import obskit.tsdb as tsdb
from e2e.peers import free_port, obskit_server, require_binary, start, stop, wait_ready

SCRAPE = 1  # seconds


def start_prometheus(tmp: Path, obskit_url: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = require_binary("prometheus")
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        f"""
global: {{scrape_interval: {SCRAPE}s, evaluation_interval: {SCRAPE}s}}
scrape_configs:
  - job_name: prometheus
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
remote_write:
  - url: {obskit_url}/api/v1/write
    queue_config: {{batch_send_deadline: 1s, max_samples_per_send: 500}}
"""
    )
    log = tmp / "prometheus.log"
    cmd = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    proc = start(cmd, log)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/-/ready", proc, log)
    return proc, url


def prometheus_raw(url: str, selector: str, at_s: float) -> dict[tuple, tuple[list, list]]:
    r = httpx.get(f"{url}/api/v1/query", params={"query": selector, "time": at_s}, timeout=10)
    r.raise_for_status()
    out = {}
    for s in r.json()["data"]["result"]:
        labels = tuple(sorted(s["metric"].items()))
        ts = [round(float(t) * 1000) for t, _ in s["values"]]
        vals = [float(v) for _, v in s["values"]]
        out[labels] = (ts, vals)
    return out


def test_prometheus_remote_write_lands_exactly(tmp_path: Path) -> None:
    with obskit_server(tmp_path / "obskit") as obskit:
        prom, prom_url = start_prometheus(tmp_path, obskit.url)
        try:
            time.sleep(14 * SCRAPE)  # Prometheus starts scraping ~5 s after it is ready
            at = time.time() - 3  # samples older than this have been sent by now
            want = prometheus_raw(prom_url, '{job="prometheus"}[1m]', at)
            time.sleep(4)
            metrics = httpx.get(f"{obskit.url}/metrics").text
        finally:
            stop(prom)
    assert "obskit_samples_ingested_total" in metrics
    assert len(want) > 100, "prometheus exposes hundreds of series about itself"
    with tsdb.open(tmp_path / "obskit", tsdb.Options(retention_ms=0)) as db:
        got = {s.labels: s for s in db.select([], 0, int(at * 1000))}
    compared = 0
    for labels, (ts, vals) in want.items():
        assert labels in got, f"series {labels} missing in obskit"
        s = got[labels]
        stored = dict(zip(s.timestamps_ms.tolist(), s.values.tolist(), strict=True))
        for t, v in zip(ts, vals, strict=True):
            assert t in stored, f"{labels}: sample at {t} missing"
            assert stored[t] == v or (np.isnan(v) and np.isnan(stored[t])), (labels, t)
            compared += 1
    assert compared > 500
