"""The scrape pool of one job: runs its discoverers, turns their groups into targets and keeps one
``TargetScraper`` per target, starting new targets and stopping (marking stale) vanished ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

import httpx

from obskit.ingest.scrape.appending import ParseFunc
from obskit.ingest.scrape.config import ScrapeConfig
from obskit.ingest.scrape.discovery import Discoverer, TargetGroup, build_discoverers
from obskit.ingest.scrape.metrics import ScrapeMetrics
from obskit.ingest.scrape.relabel import Relabeler
from obskit.ingest.scrape.scraper import TargetInfo, TargetScraper
from obskit.ingest.scrape.target import DroppedTarget, LabelPairs, Target, populate_target
from obskit.model.protocols import RefAppender

__all__ = ["ScrapePool"]

logger = logging.getLogger(__name__)

_TargetKey = tuple[LabelPairs, str]


class ScrapePool:
    """Targets and scrape loops of one ``scrape_configs`` entry."""

    def __init__(
        self,
        cfg: ScrapeConfig,
        client: httpx.AsyncClient,
        appender: RefAppender,
        parse: ParseFunc,
        metrics: ScrapeMetrics,
        dns_nameserver: tuple[str, int] | None,
    ) -> None:
        self._client = client
        self._appender = appender
        self._parse = parse
        self._metrics = metrics
        self._dns_nameserver = dns_nameserver
        self._scrapers: dict[_TargetKey, TargetScraper] = {}
        self._dropped: list[DroppedTarget] = []
        self._sync_lock = asyncio.Lock()
        self._discovery_tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._configure(cfg)

    def _configure(self, cfg: ScrapeConfig) -> None:
        self.cfg = cfg
        self._target_relabeler = Relabeler(cfg.relabel_configs)
        self._metric_relabeler = Relabeler(cfg.metric_relabel_configs)
        self._discoverers: list[Discoverer] = build_discoverers(cfg, self._dns_nameserver)
        # None until a discoverer has answered once: targets are not synced before all have,
        # so a reload does not stop targets that a slower discoverer is about to report again.
        self._groups: list[list[TargetGroup] | None] = [None] * len(self._discoverers)

    @property
    def job(self) -> str:
        return self.cfg.job_name

    def start(self) -> None:
        self._discovery_tasks = [
            asyncio.create_task(self._discover(i, d), name=f"discovery {self.job} {i}")
            for i, d in enumerate(self._discoverers)
        ]
        if not self._discoverers:
            logger.warning("scrape job %s has no service discovery configured", self.job)

    async def _stop_discovery(self) -> None:
        for task in self._discovery_tasks:
            task.cancel()
        if self._discovery_tasks:
            await asyncio.wait(self._discovery_tasks)
        self._discovery_tasks = []

    async def stop(self, *, mark_stale: bool = True) -> None:
        """Stop discovery and every scrape loop; by default mark all their series stale."""
        await self._stop_discovery()
        async with self._sync_lock:
            self._closed = True
            scrapers = list(self._scrapers.values())
            self._scrapers.clear()
            await asyncio.gather(*(s.stop(mark_stale=mark_stale) for s in scrapers))
        with contextlib.suppress(KeyError):  # no target was ever synced
            self._metrics.targets.remove(self.job)

    async def reload(self, cfg: ScrapeConfig) -> None:
        """Apply a changed config: restart discovery; targets that stay keep their loop (and
        their staleness state), with the new metric relabeling from their next scrape."""
        if cfg == self.cfg:
            return
        await self._stop_discovery()
        self._configure(cfg)
        for scraper in self._scrapers.values():
            scraper.update_settings(cfg.honor_labels, self._metric_relabeler)
        self.start()

    async def _discover(self, index: int, discoverer: Discoverer) -> None:
        while True:
            try:
                groups = await discoverer.refresh()
            except Exception as exc:  # keep the last targets, as Prometheus does
                self._metrics.discovery_errors.labels(discoverer.mechanism).inc()
                logger.error(
                    "%s discovery for job %s failed: %s", discoverer.mechanism, self.job, exc
                )
                if self._groups[index] is None:
                    self._groups[index] = []
                    await asyncio.shield(self._sync())
            else:
                if groups != self._groups[index]:
                    self._groups[index] = groups
                    # Shielded: a sync cut short could leave vanished targets unmarked.
                    await asyncio.shield(self._sync())
            if math.isinf(discoverer.poll_interval_s):
                return
            await asyncio.sleep(discoverer.poll_interval_s)

    def _compute_targets(self) -> tuple[dict[_TargetKey, Target], list[DroppedTarget]]:
        active: dict[_TargetKey, Target] = {}
        dropped: list[DroppedTarget] = []
        for groups in self._groups:
            for group in groups or ():
                group_labels = dict(group.labels)
                for target_labels in group.targets:
                    found = populate_target(
                        self.cfg, self._target_relabeler, dict(target_labels), group_labels
                    )
                    if isinstance(found, Target):
                        active.setdefault(found.key, found)
                    else:
                        dropped.append(found)
        return active, dropped

    async def _sync(self) -> None:
        if any(groups is None for groups in self._groups):
            return
        async with self._sync_lock:
            if self._closed:
                return
            active, self._dropped = self._compute_targets()
            gone = [key for key in self._scrapers if key not in active]
            stopping = [self._scrapers.pop(key) for key in gone]
            for key, target in active.items():
                if key not in self._scrapers:
                    scraper = TargetScraper(
                        target,
                        self._client,
                        self._appender,
                        self._parse,
                        self._metrics,
                        honor_labels=self.cfg.honor_labels,
                        metric_relabeler=self._metric_relabeler,
                    )
                    self._scrapers[key] = scraper
                    scraper.start()
            self._metrics.targets.labels(self.job).set(len(self._scrapers))
            if stopping:
                logger.info(
                    "job %s: %d targets gone, marking their series stale", self.job, len(stopping)
                )
                await asyncio.gather(*(s.stop() for s in stopping))

    def targets(self) -> list[TargetInfo]:
        return [s.info() for s in self._scrapers.values()]

    def dropped_targets(self) -> list[DroppedTarget]:
        return list(self._dropped)
