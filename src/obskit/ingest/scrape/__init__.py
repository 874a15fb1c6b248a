"""Prometheus-compatible scraping: config, service discovery, relabeling, scrape loops."""

from obskit.ingest.scrape.config import (
    DNSSDConfig,
    FileSDConfig,
    GlobalConfig,
    RelabelConfig,
    ScrapeConfig,
    ScrapeConfigs,
    StaticConfig,
    load_scrape_configs,
    parse_scrape_configs,
)
from obskit.ingest.scrape.manager import ScrapeManager
from obskit.ingest.scrape.relabel import Relabeler
from obskit.ingest.scrape.scraper import TargetInfo
from obskit.ingest.scrape.staleness import STALE_NAN, STALE_NAN_BITS, is_stale_nan
from obskit.ingest.scrape.target import DroppedTarget

__all__ = [
    "STALE_NAN",
    "STALE_NAN_BITS",
    "DNSSDConfig",
    "DroppedTarget",
    "FileSDConfig",
    "GlobalConfig",
    "RelabelConfig",
    "Relabeler",
    "ScrapeConfig",
    "ScrapeConfigs",
    "ScrapeManager",
    "StaticConfig",
    "TargetInfo",
    "is_stale_nan",
    "load_scrape_configs",
    "parse_scrape_configs",
]
