"""Target labels from discovered ones, as Prometheus' PopulateLabels."""

from __future__ import annotations

from obskit.ingest.scrape import Relabeler, load_scrape_configs
from obskit.ingest.scrape.target import DroppedTarget, Target, populate_target


def _populate(
    yaml_text: str, target: dict[str, str], group: dict[str, str] | None = None
) -> Target | DroppedTarget:
    (cfg,) = load_scrape_configs(yaml_text).scrape_configs
    return populate_target(cfg, Relabeler(cfg.relabel_configs), target, group or {})


def test_defaults_meta_removal_and_instance() -> None:
    found = _populate(
        "scrape_configs: [{job_name: node, scrape_interval: 15s, params: {a: [b]}}]",
        {"__address__": "h:9100", "__meta_x": "m"},
        {"env": "prod", "__address__": "ignored:1"},
    )
    assert isinstance(found, Target)
    assert dict(found.labels) == {
        "__address__": "h:9100",
        "__metrics_path__": "/metrics",
        "__param_a": "b",
        "__scheme__": "http",
        "__scrape_interval__": "15s",
        "__scrape_timeout__": "10s",
        "env": "prod",
        "instance": "h:9100",
        "job": "node",
    }
    assert dict(found.series_labels) == {"env": "prod", "instance": "h:9100", "job": "node"}
    assert ("__meta_x", "m") in found.discovered_labels
    assert found.url == "http://h:9100/metrics?a=b"
    assert (found.interval_ms, found.timeout_ms) == (15_000, 10_000)


def test_relabeling_can_set_interval_scheme_and_path() -> None:
    found = _populate(
        """
scrape_configs:
  - job_name: j
    relabel_configs:
      - {target_label: __scrape_interval__, replacement: 2s}
      - {target_label: __scrape_timeout__, replacement: 1s}
      - {target_label: __scheme__, replacement: https}
      - {source_labels: [__meta_path], target_label: __metrics_path__}
""",
        {"__address__": "h:1", "__meta_path": "/m"},
    )
    assert isinstance(found, Target)
    assert found.url == "https://h:1/m"
    assert (found.interval_ms, found.timeout_ms) == (2000, 1000)


def test_dropped_targets_say_why() -> None:
    base = "scrape_configs: [{job_name: j, relabel_configs: [%s]}]"
    no_address = _populate(
        base % "{target_label: __address__, replacement: ''}", {"__address__": "h:1"}
    )
    assert isinstance(no_address, DroppedTarget) and no_address.reason == "no address"
    dropped = _populate(
        base % "{source_labels: [__address__], regex: 'h:.*', action: drop}", {"__address__": "h:1"}
    )
    assert isinstance(dropped, DroppedTarget) and "relabeling" in dropped.reason
    slow = _populate(
        base % "{target_label: __scrape_timeout__, replacement: 2m}", {"__address__": "h:1"}
    )
    assert isinstance(slow, DroppedTarget) and "greater than scrape interval" in slow.reason


def test_offset_is_stable_and_within_the_interval() -> None:
    found = _populate(
        "scrape_configs: [{job_name: j, scrape_interval: 10s}]", {"__address__": "h:1"}
    )
    assert isinstance(found, Target)
    offsets = {found.offset_ms(now) for now in (1_000_000, 1_010_000, 1_020_000)}
    assert len(offsets) == 1 and 0 <= offsets.pop() <= 10_000
