"""Scrape config parsing: Prometheus' defaults, duration strings and refused keys."""

from __future__ import annotations

import pytest

from obskit.errors import ConfigError
from obskit.ingest.scrape import load_scrape_configs
from obskit.model.durations import format_duration_ms, parse_duration_ms


def test_defaults_follow_prometheus() -> None:
    cfg = load_scrape_configs("scrape_configs: [{job_name: a}]")
    (job,) = cfg.scrape_configs
    assert (job.scrape_interval, job.scrape_timeout) == ("1m", "10s")
    assert (job.metrics_path, job.scheme, job.honor_labels) == ("/metrics", "http", False)


def test_global_and_job_overrides() -> None:
    cfg = load_scrape_configs(
        """
global: {scrape_interval: 5s}
scrape_configs:
  - {job_name: a}
  - {job_name: b, scrape_interval: 30s}
  - {job_name: c, scrape_interval: 2s, scrape_timeout: 1500ms}
"""
    )
    a, b, c = cfg.scrape_configs
    assert (a.scrape_interval, a.scrape_timeout) == ("5s", "5s")  # timeout capped at interval
    # As Prometheus: the global timeout was already capped to the global interval (5s).
    assert (b.scrape_interval, b.scrape_timeout) == ("30s", "5s")
    assert (c.scrape_interval_ms, c.scrape_timeout_ms) == (2000, 1500)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scrape_configs: [{job_name: a, bogus: 1}]", r"scrape_configs\[0\]\.bogus: unknown key"),
        ("remote_write: []", "remote_write: unknown key"),
        (
            "scrape_configs: [{job_name: a, static_configs: [{targets: [x], foo: y}]}]",
            r"static_configs\[0\]\.foo: unknown key",
        ),
        ("scrape_configs: [{job_name: a, scrape_interval: 1x}]", "not a valid duration"),
        (
            "scrape_configs: [{job_name: a, scrape_interval: 1s, scrape_timeout: 2s}]",
            "scrape timeout greater than scrape interval",
        ),
        ("global: {scrape_interval: 1s, scrape_timeout: 2s}", "global scrape timeout greater"),
        ("scrape_configs: [{job_name: a}, {job_name: a}]", "multiple scrape configs"),
        (
            "scrape_configs: [{job_name: a, dns_sd_configs: [{names: [x], type: A}]}]",
            "a port is required",
        ),
        (
            "scrape_configs: [{job_name: a, file_sd_configs: [{files: ['/x/*/y.json']}]}]",
            "not valid for file discovery",
        ),
        ("scrape_configs: [{job_name: a, scheme: ftp}]", "scheme"),
        ("scrape_configs: [oops", "cannot parse scrape config yaml"),
    ],
)
def test_bad_configs_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_scrape_configs(text)


@pytest.mark.parametrize(
    ("text", "ms"),
    [("0", 0), ("10s", 10_000), ("1m30s", 90_000), ("500ms", 500), ("1d", 86_400_000)],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0s"), (60_000, "1m"), (90_000, "1m30s"), (1_500, "1s500ms"), (90 * 86_400_000, "90d")],
)
def test_durations_print_as_prometheus(ms: int, text: str) -> None:
    assert format_duration_ms(ms) == text


def test_parse_loaded_data_as_the_server_does() -> None:
    from obskit.ingest.scrape import parse_scrape_configs

    cfg = parse_scrape_configs({"global": {}, "scrape_configs": [{"job_name": "a"}]})
    assert cfg.scrape_configs[0].scrape_interval == "1m"
    with pytest.raises(ConfigError, match=r"scrape_configs\[0\]\.x: unknown key"):
        parse_scrape_configs({"scrape_configs": [{"job_name": "a", "x": 1}]})
