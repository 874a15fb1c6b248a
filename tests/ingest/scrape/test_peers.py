"""Scraping real peers on loopback: node_exporter found through file_sd and DNS (dnsmasq).

Intervals are 1s; each test runs the ScrapeManager for a few of them. The body is parsed by a
stand-in for ``obskit.ingest.exposition`` (see helpers.py).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from obskit.ingest.scrape import ScrapeManager, load_scrape_configs

from .helpers import RecordingAppender, stand_in_parse, wait_for

pytestmark = pytest.mark.timeout(120)


def _up_values(app: RecordingAppender, job: str) -> list[float]:
    found = app.find("up", job=job)
    return [v for series in found for _, v, stale in app.points(series) if not stale]


def test_file_sd_node_exporter_then_removed_target_goes_stale(
    node_exporter: str, tmp_path: Path
) -> None:
    targets_file = tmp_path / "targets.json"
    targets_file.write_text(json.dumps([{"targets": [node_exporter], "labels": {"env": "test"}}]))
    configs = load_scrape_configs(
        f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: node
    file_sd_configs:
      - files: ["{tmp_path}/*.json"]
        refresh_interval: 1s
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: go_gc_duration_seconds.*
        action: drop
"""
    )
    app = RecordingAppender()
    registry = CollectorRegistry()

    async def scenario() -> None:
        manager = ScrapeManager(configs, app, registry, parse=stand_in_parse)
        await manager.start()
        try:
            await wait_for(lambda: _up_values(app, "node").count(1.0) >= 2, 15, "two up=1 scrapes")
            (load1,) = app.find("node_load1")
            labels = dict(load1)
            assert labels["job"] == "node"
            assert labels["instance"] == node_exporter
            assert labels["env"] == "test"
            assert not any(name.startswith("__") and name != "__name__" for name in labels)
            assert app.find("go_goroutines", job="node")
            assert app.find("go_gc_duration_seconds") == []  # metric relabeling dropped it
            (scraped,) = app.find("scrape_samples_scraped", job="node")
            (kept,) = app.find("scrape_samples_post_metric_relabeling", job="node")
            assert app.points(scraped)[0][1] > app.points(kept)[0][1] > 0
            (info,) = manager.targets()
            assert info.health == "up" and info.last_error == ""
            assert info.scrape_url == f"http://{node_exporter}/metrics"
            assert ("__meta_filepath", str(targets_file)) in info.discovered_labels
            assert info.last_scrape_duration_s is not None

            targets_file.write_text("[]")  # the target leaves discovery
            await wait_for(lambda: manager.targets() == [], 10, "target dropped")
            # The pool forgets the target first and then stops its loop, which writes the
            # markers (an in-flight scrape finishes first): on a busy machine that takes a while.
            (up,) = app.find("up", job="node")
            await wait_for(
                lambda: bool(app.points(load1)[-1][2] and app.points(up)[-1][2]),
                10,
                "staleness markers as the last samples of node_load1 and up",
            )
            load1_points = app.points(load1)
            stale_ts = load1_points[-1][0]
            assert all(ts < stale_ts for ts, _, stale in load1_points if not stale)
            count = len(app.points(load1))
            await asyncio.sleep(1.5)
            assert len(app.points(load1)) == count, "no samples after the target left"
        finally:
            await manager.stop()

    asyncio.run(scenario())
    assert registry.get_sample_value("obskit_scrape_scrapes_total", {"job": "node"}) >= 2
    assert registry.get_sample_value("obskit_scrape_failures_total", {"job": "node"}) == 0


def test_dns_sd_srv_and_a_records_from_dnsmasq(
    node_exporter: str, dnsmasq: tuple[str, int]
) -> None:
    port = node_exporter.rsplit(":", 1)[1]
    configs = load_scrape_configs(
        f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: srv
    dns_sd_configs:
      - names: [_metrics._tcp.x.test]
        refresh_interval: 1s
    relabel_configs:
      # x.test resolves only through dnsmasq, the HTTP client uses the system resolver
      - source_labels: [__meta_dns_srv_record_port]
        target_label: __address__
        replacement: 127.0.0.1:$1
      - source_labels: [__meta_dns_srv_record_target]
        target_label: srv_target
  - job_name: a
    dns_sd_configs:
      - names: [x.test]
        type: A
        port: {port}
"""
    )
    app = RecordingAppender()

    async def scenario() -> None:
        manager = ScrapeManager(
            configs, app, CollectorRegistry(), dns_nameserver=dnsmasq, parse=stand_in_parse
        )
        await manager.start()
        try:
            await wait_for(
                lambda: 1.0 in _up_values(app, "srv") and 1.0 in _up_values(app, "a"),
                15,
                "up=1 for both DNS jobs",
            )
            infos = {info.job: info for info in manager.targets()}
            srv = dict(infos["srv"].discovered_labels)
            assert srv["__meta_dns_name"] == "_metrics._tcp.x.test"
            assert srv["__meta_dns_srv_record_target"] == "x.test."
            assert srv["__meta_dns_srv_record_port"] == port
            assert srv["__address__"] == f"x.test:{port}"
            assert dict(infos["srv"].labels)["instance"] == node_exporter
            assert dict(infos["srv"].labels)["srv_target"] == "x.test."
            a = dict(infos["a"].discovered_labels)
            assert a["__address__"] == node_exporter
            assert a["__meta_dns_name"] == "x.test"
            assert "__meta_dns_srv_record_target" not in a
            assert app.find("node_load1", job="a", instance=node_exporter)
            assert app.find("node_load1", job="srv", srv_target="x.test.")
        finally:
            await manager.stop()
        for series in app.find("up"):
            assert app.points(series)[-1][2], f"{series} marked stale when the manager stopped"

    asyncio.run(scenario())


def test_static_node_exporter_with_the_real_exposition_parser(node_exporter: str) -> None:
    pytest.importorskip("obskit.ingest.exposition", reason="the exposition parser has not landed")
    configs = load_scrape_configs(
        f"""
scrape_configs:
  - job_name: node
    scrape_interval: 1s
    static_configs: [{{targets: ["{node_exporter}"]}}]
"""
    )
    app = RecordingAppender()

    async def scenario() -> None:
        manager = ScrapeManager(configs, app, CollectorRegistry())  # default parser
        await manager.start()
        try:
            await wait_for(lambda: 1.0 in _up_values(app, "node"), 15, "up=1")
            assert manager.targets()[0].last_error == ""
            assert app.find("node_load1", job="node", instance=node_exporter)
        finally:
            await manager.stop()

    asyncio.run(scenario())
