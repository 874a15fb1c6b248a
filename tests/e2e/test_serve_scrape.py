"""``obskit serve`` with ``scrape_configs``: it scrapes (here: its own /metrics), stores the
samples with job/instance and the synthetic series, and marks them stale when it stops."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import httpx
import numpy as np

import obskit.tsdb as tsdb
from e2e.peers import Obskit, free_port
from obskit.model import Matcher, MatchType

STALE_BITS = 0x7FF0000000000002


def test_serve_scrapes_its_config_and_marks_staleness_on_stop(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "obskit.yml"
    config.write_text(
        f"""
global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ["127.0.0.1:{port}"], labels: {{team: obs}}}}]
    metric_relabel_configs:
      - {{source_labels: [__name__], regex: "python_gc_.*", action: drop}}
"""
    )
    srv = Obskit(tmp_path / "data", config, port=port)
    try:
        time.sleep(4)
        assert httpx.get(f"{srv.url}/-/ready").status_code == 200
    finally:
        code, log = srv.stop()
    assert code == 0, log
    with tsdb.open(tmp_path / "data", tsdb.Options(retention_ms=0)) as db:
        lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
        job = Matcher(MatchType.EQ, "job", "self")
        (up,) = db.select([job, Matcher(MatchType.EQ, "__name__", "up")], lo, hi)
        assert dict(up.labels) == {
            "__name__": "up",
            "instance": f"127.0.0.1:{port}",
            "job": "self",
            "team": "obs",
        }
        # up=1 while serving; a scrape racing the shutdown itself may fail (up=0) just before
        # the stale marker that ends the series
        assert (up.values[:-2] == 1).all() and (up.values[:-1] == 1).sum() >= 3
        assert up.values[-2] in (0.0, 1.0)
        assert struct.unpack("<Q", struct.pack("<d", up.values[-1]))[0] == STALE_BITS
        names = set(db.label_values("__name__", [job]))
        assert {
            "obskit_tsdb_head_samples",
            "scrape_duration_seconds",
            "scrape_samples_scraped",
        } <= names
        assert not any(n.startswith("python_gc_") for n in names)
