"""Scrape targets: discovered label sets turned into targets as Prometheus' ``PopulateLabels``.

Discovered labels get the job's defaults (``job``, ``__address__``, ``__scheme__``,
``__metrics_path__``, ``__param_*``, ``__scrape_interval__``, ``__scrape_timeout__``), then
``relabel_configs`` run; ``__meta_*`` labels are removed, ``instance`` defaults to
``__address__``, and the other ``__`` labels stay on the target (they build its URL) but not on
its series.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from obskit.ingest.scrape.config import ScrapeConfig
from obskit.ingest.scrape.relabel import Relabeler
from obskit.model.durations import parse_duration_ms

__all__ = ["DroppedTarget", "LabelPairs", "Target", "populate_target"]

LabelPairs = tuple[tuple[str, str], ...]

ADDRESS = "__address__"
SCHEME = "__scheme__"
METRICS_PATH = "__metrics_path__"
SCRAPE_INTERVAL = "__scrape_interval__"
SCRAPE_TIMEOUT = "__scrape_timeout__"
PARAM_PREFIX = "__param_"
META_PREFIX = "__meta_"


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint to scrape. ``labels`` keep the ``__`` labels that build the URL;
    ``series_labels`` are the ones every scraped series gets."""

    job: str
    labels: LabelPairs
    discovered_labels: LabelPairs
    url: str
    interval_ms: int
    timeout_ms: int
    series_labels: LabelPairs = field(init=False)

    def __post_init__(self) -> None:
        public = tuple((k, v) for k, v in self.labels if not k.startswith("__"))
        object.__setattr__(self, "series_labels", public)

    @property
    def key(self) -> tuple[LabelPairs, str]:
        """Identity within a job, as Prometheus' target hash: labels and URL."""
        return (self.labels, self.url)

    def label(self, name: str) -> str:
        return next((v for k, v in self.labels if k == name), "")

    def offset_ms(self, now_ms: int) -> int:
        """Delay before the first scrape: a stable per-target phase within the interval, pinned
        to absolute time so restarts keep the same phase (Prometheus' ``Target.offset``)."""
        interval = self.interval_ms
        digest = hashlib.blake2b(repr(self.key).encode("utf-8"), digest_size=8).digest()
        delay = interval - now_ms % interval + int.from_bytes(digest, "big") % interval
        return delay - interval if delay > interval else delay


@dataclass(frozen=True, slots=True)
class DroppedTarget:
    """A discovered target that relabeling dropped, or that was invalid (``reason``)."""

    job: str
    discovered_labels: LabelPairs
    reason: str


def _discovered(
    cfg: ScrapeConfig, target: Mapping[str, str], group: Mapping[str, str]
) -> dict[str, str]:
    labels = {**group, **target}
    defaults = {
        "job": cfg.job_name,
        SCRAPE_INTERVAL: cfg.scrape_interval or "",
        SCRAPE_TIMEOUT: cfg.scrape_timeout or "",
        METRICS_PATH: cfg.metrics_path,
        SCHEME: cfg.scheme,
    }
    for name, value in defaults.items():
        if labels.get(name, "") == "":
            labels[name] = value
    for name, values in cfg.params.items():
        if values and labels.get(PARAM_PREFIX + name, "") == "":
            labels[PARAM_PREFIX + name] = values[0]
    return {k: v for k, v in labels.items() if v != ""}


def _url(cfg: ScrapeConfig, labels: Mapping[str, str]) -> str:
    params = {name: list(values) for name, values in cfg.params.items()}
    for name, value in labels.items():
        if name.startswith(PARAM_PREFIX):
            key = name[len(PARAM_PREFIX) :]
            if params.get(key):
                params[key][0] = value
            else:
                params[key] = [value]
    query = urlencode(sorted(params.items()), doseq=True)
    url = f"{labels.get(SCHEME, '')}://{labels[ADDRESS]}{labels.get(METRICS_PATH, '')}"
    return f"{url}?{query}" if query else url


def _duration(labels: Mapping[str, str], name: str, what: str) -> int:
    try:
        duration_ms = parse_duration_ms(labels.get(name, ""))
    except ValueError as exc:
        raise ValueError(f"error parsing {what}: {exc}") from None
    if duration_ms == 0:
        raise ValueError(f"{what} cannot be 0")
    return duration_ms


def populate_target(
    cfg: ScrapeConfig,
    relabeler: Relabeler,
    target: Mapping[str, str],
    group: Mapping[str, str],
) -> Target | DroppedTarget:
    """The target for one discovered label set, or why it was dropped."""
    labels = _discovered(cfg, target, group)
    discovered = tuple(sorted(labels.items()))

    def dropped(reason: str) -> DroppedTarget:
        return DroppedTarget(cfg.job_name, discovered, reason)

    if not relabeler.process(labels):
        return dropped("dropped by relabeling")
    address = labels.get(ADDRESS, "")
    if address == "":
        return dropped("no address")
    if "/" in address:
        return dropped(f"{address!r} is not a valid hostname")
    try:
        interval_ms = _duration(labels, SCRAPE_INTERVAL, "scrape interval")
        timeout_ms = _duration(labels, SCRAPE_TIMEOUT, "scrape timeout")
    except ValueError as exc:
        return dropped(str(exc))
    if timeout_ms > interval_ms:
        return dropped(
            f"scrape timeout cannot be greater than scrape interval "
            f"({labels[SCRAPE_TIMEOUT]!r} > {labels[SCRAPE_INTERVAL]!r})"
        )
    for name in [n for n in labels if n.startswith(META_PREFIX)]:
        del labels[name]
    if labels.get("instance", "") == "":
        labels["instance"] = address
    return Target(
        job=cfg.job_name,
        labels=tuple(sorted(labels.items())),
        discovered_labels=discovered,
        url=_url(cfg, labels),
        interval_ms=interval_ms,
        timeout_ms=timeout_ms,
    )
