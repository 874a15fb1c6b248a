"""Scrape loops against a controllable exporter: target labels, staleness, failures, timeouts,
request headers and reload."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import CollectorRegistry

from obskit.ingest.scrape import ScrapeManager, load_scrape_configs

from .helpers import FakeExporter, RecordingAppender, stand_in_parse, wait_for

pytestmark = pytest.mark.timeout(60)

Scenario = Callable[[ScrapeManager], Awaitable[None]]


def _run(yaml_text: str, app: RecordingAppender, scenario: Scenario) -> CollectorRegistry:
    registry = CollectorRegistry()

    async def main() -> None:
        manager = ScrapeManager(load_scrape_configs(yaml_text), app, registry, parse=stand_in_parse)
        await manager.start()
        try:
            await scenario(manager)
        finally:
            await manager.stop()

    asyncio.run(main())
    return registry


def _job(address: str, extra: str = "") -> str:
    return f"""
global: {{scrape_interval: 500ms}}
scrape_configs:
  - job_name: fake
    static_configs: [{{targets: ["{address}"], labels: {{team: t1}}}}]
{extra}"""


def _values(app: RecordingAppender, name: str, **labels: str) -> list[float]:
    (series,) = app.find(name, **labels)
    return [value for _, value, stale in app.points(series) if not stale]


def _scrapes(app: RecordingAppender) -> int:
    found = app.find("up")
    return len(_values(app, "up")) if found else 0


def test_vanished_series_get_a_stale_marker_at_the_scrape_time(exporter: FakeExporter) -> None:
    exporter.body = b'a{job="x",instance="y"} 1\nb 2\n'
    app = RecordingAppender()

    async def scenario(manager: ScrapeManager) -> None:
        await wait_for(lambda: _scrapes(app) >= 1, 5, "first scrape")
        exporter.body = b'a{job="x",instance="y"} 1\n'
        (b,) = app.find("b")
        await wait_for(lambda: app.points(b)[-1][2], 5, "stale marker for b")
        stale_ts = app.points(b)[-1][0]
        up_ts = [ts for ts, _, _ in app.points(app.find("up")[0])]
        assert stale_ts in up_ts, "marker written at the timestamp of the scrape that lost b"
        (a,) = app.find("a")
        assert dict(a) == {
            "__name__": "a",
            "exported_instance": "y",
            "exported_job": "x",
            "instance": exporter.address,
            "job": "fake",
            "team": "t1",
        }
        assert not any(stale for _, _, stale in app.points(a))

    _run(_job(exporter.address), app, scenario)
    assert _values(app, "scrape_series_added")[:2] == [2.0, 0.0]
    assert _values(app, "scrape_samples_scraped")[:2] == [2.0, 1.0]
    request = exporter.requests[0]
    assert request["Accept"].startswith("application/openmetrics-text;version=1.0.0")
    assert "text/plain;version=0.0.4" in request["Accept"]
    assert request["X-Prometheus-Scrape-Timeout-Seconds"] == "0.5"
    assert request["User-Agent"].startswith("obskit/")
    assert request["path"] == "/metrics"


def test_honor_labels_keeps_scraped_values(exporter: FakeExporter) -> None:
    exporter.body = b'a{job="x"} 1\n'
    app = RecordingAppender()

    async def scenario(manager: ScrapeManager) -> None:
        await wait_for(lambda: _scrapes(app) >= 1, 5, "first scrape")

    _run(_job(exporter.address, "    honor_labels: true"), app, scenario)
    (a,) = app.find("a")
    assert dict(a)["job"] == "x" and dict(a)["instance"] == exporter.address
    assert app.find("up", job="fake"), "report series always carry the target's labels"


def test_failed_scrape_reports_down_and_marks_series_stale(exporter: FakeExporter) -> None:
    exporter.body = b"a 1\n"
    app = RecordingAppender()

    async def scenario(manager: ScrapeManager) -> None:
        await wait_for(lambda: _scrapes(app) >= 1, 5, "first scrape")
        exporter.status = 500
        await wait_for(lambda: 0.0 in _values(app, "up"), 5, "up=0")
        (a,) = app.find("a")
        assert app.points(a)[-1][2], "series of the failed target are stale"
        (info,) = manager.targets()
        assert info.health == "down"
        assert "HTTP status 500" in info.last_error
        exporter.status = 200
        await wait_for(lambda: _values(app, "up")[-1] == 1.0, 5, "recovery")
        assert manager.targets()[0].health == "up"

    registry = _run(_job(exporter.address), app, scenario)
    assert registry.get_sample_value("obskit_scrape_failures_total", {"job": "fake"}) >= 1


def test_timeout_reports_down(exporter: FakeExporter) -> None:
    exporter.body = b"a 1\n"
    exporter.delay_s = 1.0
    app = RecordingAppender()

    async def scenario(manager: ScrapeManager) -> None:
        await wait_for(lambda: _scrapes(app) >= 1, 5, "first scrape")
        assert _values(app, "up")[0] == 0.0
        assert "timed out" in manager.targets()[0].last_error
        assert _values(app, "scrape_duration_seconds")[0] < 0.9

    _run(_job(exporter.address), app, scenario)


def test_unreachable_target_is_down() -> None:
    app = RecordingAppender()

    async def scenario(manager: ScrapeManager) -> None:
        await wait_for(lambda: _scrapes(app) >= 1, 5, "first scrape")
        assert _values(app, "up") == [0.0]
        assert manager.targets()[0].last_error.startswith("cannot scrape")

    _run(_job("127.0.0.1:1"), app, scenario)


def test_samples_with_timestamps_are_not_marked_stale(exporter: FakeExporter) -> None:
    exporter.body = b"c 1 1000\nd 2\n"
    app = RecordingAppender()

    async def scenario(manager: ScrapeManager) -> None:
        await wait_for(lambda: _scrapes(app) >= 1, 5, "first scrape")
        exporter.body = b""
        (d,) = app.find("d")
        await wait_for(lambda: app.points(d)[-1][2], 5, "stale marker for d")

    _run(_job(exporter.address), app, scenario)
    (c,) = app.find("c")
    assert app.points(c)[0][0] == 1000
    assert not any(stale for _, _, stale in app.points(c))


def test_params_and_relabeled_url(exporter: FakeExporter) -> None:
    exporter.body = b"a 1\n"
    app = RecordingAppender()
    extra = """    metrics_path: /probe
    params: {module: [http_2xx], extra: [x, y]}
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - target_label: instance
        replacement: probed"""

    async def scenario(manager: ScrapeManager) -> None:
        await wait_for(lambda: _scrapes(app) >= 1, 5, "first scrape")

    _run(_job(exporter.address, extra), app, scenario)
    assert exporter.requests[0]["path"] == (
        f"/probe?extra=x&extra=y&module=http_2xx&target={exporter.address.replace(':', '%3A')}"
    )
    assert app.find("a", instance="probed")


def test_reload_keeps_loops_and_applies_metric_relabeling(exporter: FakeExporter) -> None:
    exporter.body = b"a 1\nb 2\n"
    app = RecordingAppender()
    base = _job(exporter.address)
    dropping_b = _job(
        exporter.address,
        """    metric_relabel_configs:
      - {source_labels: [__name__], regex: b, action: drop}""",
    )

    async def scenario(manager: ScrapeManager) -> None:
        await wait_for(lambda: _scrapes(app) >= 1, 5, "first scrape")
        await manager.reload(load_scrape_configs(dropping_b))
        (b,) = app.find("b")
        await wait_for(lambda: app.points(b)[-1][2], 5, "b stale after reload")
        (a,) = app.find("a")
        assert not any(stale for _, _, stale in app.points(a)), "a went on without a gap"
        await manager.reload(load_scrape_configs("scrape_configs: []"))
        assert manager.targets() == []
        assert app.points(a)[-1][2], "removing the job marks its series stale"

    _run(base, app, scenario)
