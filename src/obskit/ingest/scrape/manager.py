"""``ScrapeManager``: the scrape subsystem the server starts and stops. One pool per job, one
shared HTTP client, reload without losing the staleness state of targets that stay."""

from __future__ import annotations

import asyncio
import logging

import httpx
from prometheus_client import CollectorRegistry

from obskit.ingest.scrape.appending import ParseFunc
from obskit.ingest.scrape.config import ScrapeConfigs
from obskit.ingest.scrape.metrics import ScrapeMetrics
from obskit.ingest.scrape.pool import ScrapePool
from obskit.ingest.scrape.scraper import TargetInfo
from obskit.ingest.scrape.target import DroppedTarget
from obskit.model.protocols import RefAppender

__all__ = ["ScrapeManager"]

logger = logging.getLogger(__name__)

# Connections kept open across scrapes; one per target is what a scrape loop needs.
_MAX_KEEPALIVE_CONNECTIONS = 1000


def _default_parser() -> ParseFunc:
    from obskit.ingest.exposition import parse_exposition

    parse: ParseFunc = parse_exposition  # mypy checks the parser fits what the scraper expects
    return parse


class ScrapeManager:
    """Scrapes the targets of ``configs`` into ``appender`` from ``start()`` to ``stop()``.

    ``dns_nameserver`` points DNS discovery at one ``(host, port)`` instead of the system's
    resolver configuration; ``parse`` replaces the exposition parser (tests, other formats).
    """

    def __init__(
        self,
        configs: ScrapeConfigs,
        appender: RefAppender,
        registry: CollectorRegistry,
        *,
        dns_nameserver: tuple[str, int] | None = None,
        parse: ParseFunc | None = None,
    ) -> None:
        self._configs = configs
        self._appender = appender
        self._metrics = ScrapeMetrics(registry)
        self._dns_nameserver = dns_nameserver
        self._parse = parse
        self._client: httpx.AsyncClient | None = None
        self._pools: dict[str, ScrapePool] = {}
        self._lock = asyncio.Lock()

    def _new_pool(self, client: httpx.AsyncClient, job: str) -> ScrapePool:
        cfg = next(c for c in self._configs.scrape_configs if c.job_name == job)
        assert self._parse is not None, "BUG: parser not set before pools are built"
        return ScrapePool(
            cfg, client, self._appender, self._parse, self._metrics, self._dns_nameserver
        )

    async def start(self) -> None:
        """Start discovery and scraping for every job."""
        async with self._lock:
            if self._client is not None:
                return
            if self._parse is None:
                self._parse = _default_parser()
            limits = httpx.Limits(max_keepalive_connections=_MAX_KEEPALIVE_CONNECTIONS)
            # Scrape URLs come from discovery; environment proxies would reroute loopback targets.
            self._client = httpx.AsyncClient(limits=limits, trust_env=False, follow_redirects=True)
            for cfg in self._configs.scrape_configs:
                pool = self._new_pool(self._client, cfg.job_name)
                self._pools[cfg.job_name] = pool
                pool.start()
            logger.info("scraping started for %d jobs", len(self._pools))

    async def stop(self) -> None:
        """Stop every loop, appending stale markers for all scraped series, and close HTTP."""
        async with self._lock:
            await asyncio.gather(*(pool.stop() for pool in self._pools.values()))
            self._pools.clear()
            if self._client is not None:
                await self._client.aclose()
                self._client = None

    async def reload(self, configs: ScrapeConfigs) -> None:
        """Switch to ``configs``: removed jobs stop (their series go stale), new jobs start,
        changed jobs re-run discovery and keep the loops of targets that stay."""
        async with self._lock:
            self._configs = configs
            if self._client is None:
                return
            wanted = {cfg.job_name: cfg for cfg in configs.scrape_configs}
            removed = [self._pools.pop(job) for job in list(self._pools) if job not in wanted]
            await asyncio.gather(*(pool.stop() for pool in removed))
            for job, cfg in wanted.items():
                pool = self._pools.get(job)
                if pool is None:
                    self._pools[job] = pool = self._new_pool(self._client, job)
                    pool.start()
                else:
                    await pool.reload(cfg)
            logger.info("scrape config reloaded: %d jobs", len(self._pools))

    def targets(self) -> list[TargetInfo]:
        """Active targets of all jobs, by job then URL."""
        found = [info for pool in self._pools.values() for info in pool.targets()]
        return sorted(found, key=lambda info: (info.job, info.scrape_url))

    def dropped_targets(self) -> list[DroppedTarget]:
        """Discovered targets that relabeling dropped or that were invalid."""
        return [d for pool in self._pools.values() for d in pool.dropped_targets()]
