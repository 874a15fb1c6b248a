"""Self-metrics of the scrape manager, registered on an injected ``CollectorRegistry``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ScrapeMetrics"]

# Scrapes take from a millisecond (a small exporter on loopback) to the 10 s default timeout.
_DURATION_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ScrapeMetrics:
    """The ``obskit_scrape_*`` metrics, labelled by job (discovery errors by mechanism)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.scrapes = Counter(
            "obskit_scrape_scrapes_total", "Scrapes attempted.", ["job"], registry=registry
        )
        self.failures = Counter(
            "obskit_scrape_failures_total",
            "Scrapes that failed (connection, timeout, HTTP status, parse or append error).",
            ["job"],
            registry=registry,
        )
        self.duration = Histogram(
            "obskit_scrape_duration_seconds",
            "Time from request to appended samples, per scrape.",
            ["job"],
            buckets=_DURATION_BUCKETS_S,
            registry=registry,
        )
        self.samples = Counter(
            "obskit_scrape_samples_scraped_total",
            "Samples read from scrape bodies, before metric relabeling.",
            ["job"],
            registry=registry,
        )
        self.stale_markers = Counter(
            "obskit_scrape_stale_markers_total",
            "Staleness markers appended for series that disappeared.",
            ["job"],
            registry=registry,
        )
        self.targets = Gauge(
            "obskit_scrape_targets", "Active targets after relabeling.", ["job"], registry=registry
        )
        self.discovery_errors = Counter(
            "obskit_scrape_discovery_errors_total",
            "Failed service discovery refreshes.",
            ["mechanism"],
            registry=registry,
        )
