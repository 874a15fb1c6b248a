"""The scrape loop of one target: fetch over HTTP at a stable phase of the interval, parse, and
hand the result to a ``TargetAppender`` in a worker thread; report health for ``targets()``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass

import httpx

from obskit import __version__
from obskit.ingest.scrape.appending import ParseFunc, ScrapeResult, TargetAppender
from obskit.ingest.scrape.metrics import ScrapeMetrics
from obskit.ingest.scrape.relabel import Relabeler
from obskit.ingest.scrape.target import LabelPairs, Target
from obskit.model.protocols import RefAppender

__all__ = ["ACCEPT_HEADER", "TargetInfo", "TargetScraper"]

logger = logging.getLogger(__name__)

# Prometheus 2's default negotiation: OpenMetrics first, then the classic text format.
ACCEPT_HEADER = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
USER_AGENT = f"obskit/{__version__}"


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """A target as ``/api/v1/targets`` shows it. ``health`` is "up", "down" or "unknown"."""

    job: str
    scrape_url: str
    labels: LabelPairs
    discovered_labels: LabelPairs
    health: str
    last_error: str
    last_scrape_ms: int | None
    last_scrape_duration_s: float | None
    scrape_interval_ms: int
    scrape_timeout_ms: int


class _ScrapeFailed(Exception):
    pass


class TargetScraper:
    """Scrapes one target until stopped; on stop, marks all its series stale (optional)."""

    def __init__(
        self,
        target: Target,
        client: httpx.AsyncClient,
        appender: RefAppender,
        parse: ParseFunc,
        metrics: ScrapeMetrics,
        *,
        honor_labels: bool,
        metric_relabeler: Relabeler,
    ) -> None:
        self.target = target
        self._client = client
        self._parse = parse
        self._metrics = metrics
        self._appender = TargetAppender(
            appender, target.series_labels, honor_labels, metric_relabeler
        )
        self._stopping = asyncio.Event()
        self._fetching = False
        self._task: asyncio.Task[None] | None = None
        self._health = "unknown"
        self._last_error = ""
        self._last_scrape_ms: int | None = None
        self._last_duration_s: float | None = None
        # Children exist from the start, so a job without failures shows 0 rather than nothing.
        for counter in (metrics.scrapes, metrics.failures, metrics.samples, metrics.stale_markers):
            counter.labels(target.job)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"scrape {self.target.url}")

    def update_settings(self, honor_labels: bool, metric_relabeler: Relabeler) -> None:
        self._appender.update_settings(honor_labels, metric_relabeler)

    def info(self) -> TargetInfo:
        t = self.target
        return TargetInfo(
            job=t.job,
            scrape_url=t.url,
            labels=t.series_labels,
            discovered_labels=t.discovered_labels,
            health=self._health,
            last_error=self._last_error,
            last_scrape_ms=self._last_scrape_ms,
            last_scrape_duration_s=self._last_duration_s,
            scrape_interval_ms=t.interval_ms,
            scrape_timeout_ms=t.timeout_ms,
        )

    async def stop(self, *, mark_stale: bool = True) -> None:
        """End the loop (an in-flight request is abandoned, an in-flight append finishes) and,
        unless told otherwise, append stale markers for everything the target last had."""
        self._stopping.set()
        if self._task is not None:
            if self._fetching:
                self._task.cancel()
            await asyncio.wait({self._task})
        if mark_stale:
            now_ms = time.time_ns() // 1_000_000
            count = await asyncio.to_thread(self._appender.append_stale_all, now_ms)
            self._metrics.stale_markers.labels(self.target.job).inc(count)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped first; True when the loop should go on."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return not self._stopping.is_set()

    async def _run(self) -> None:
        interval_s = self.target.interval_ms / 1000
        now_ms = time.time_ns() // 1_000_000
        if not await self._sleep(self.target.offset_ms(now_ms) / 1000):
            return
        next_s = time.monotonic()
        while True:
            try:
                await self.scrape_once()
            except Exception:  # a bug must not end the loop; it shows in the log and as down
                logger.exception("scrape of %s failed unexpectedly", self.target.url)
            next_s += interval_s
            now_s = time.monotonic()
            if next_s < now_s:  # overran: skip the missed slots, keep the phase
                next_s += math.ceil((now_s - next_s) / interval_s) * interval_s
            if not await self._sleep(next_s - now_s):
                return

    async def _fetch(self) -> tuple[bytes, bool]:
        timeout_s = self.target.timeout_ms / 1000
        headers = {
            "Accept": ACCEPT_HEADER,
            "User-Agent": USER_AGENT,
            "X-Prometheus-Scrape-Timeout-Seconds": f"{timeout_s:g}",
        }
        self._fetching = True
        try:
            response = await self._client.get(self.target.url, headers=headers, timeout=timeout_s)
        except httpx.TimeoutException:
            raise _ScrapeFailed(f"scrape timed out after {timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise _ScrapeFailed(f"cannot scrape: {exc or type(exc).__name__}") from None
        finally:
            self._fetching = False
        if response.status_code != 200:
            raise _ScrapeFailed(
                f"server returned HTTP status {response.status_code} {response.reason_phrase}"
            )
        content_type = response.headers.get("content-type", "")
        return response.content, content_type.startswith("application/openmetrics-text")

    def _ingest(self, body: bytes | None, openmetrics: bool, ts_ms: int) -> ScrapeResult:
        parsed = None
        if body is not None:
            parsed = self._parse(body, ts_ms, openmetrics=openmetrics, strict=True)
        return self._appender.append_scrape(parsed, ts_ms)

    async def scrape_once(self) -> None:
        """One scrape: fetch, parse, append samples, staleness markers and report series."""
        job = self.target.job
        ts_ms = time.time_ns() // 1_000_000
        start_s = time.perf_counter()
        error = ""
        try:
            body, openmetrics = await self._fetch()
            result = await asyncio.to_thread(self._ingest, body, openmetrics, ts_ms)
        except _ScrapeFailed as exc:
            error = str(exc)
        except ValueError as exc:  # parse errors (IngestError) and invalid series
            error = f"cannot ingest scrape: {exc}"
        if error:
            result = await asyncio.to_thread(self._ingest, None, False, ts_ms)
        duration_s = time.perf_counter() - start_s
        await asyncio.to_thread(self._appender.append_report, ts_ms, not error, duration_s, result)
        self._metrics.scrapes.labels(job).inc()
        self._metrics.duration.labels(job).observe(duration_s)
        self._metrics.samples.labels(job).inc(result.samples_scraped)
        self._metrics.stale_markers.labels(job).inc(result.stale_markers)
        if error:
            self._metrics.failures.labels(job).inc()
            if self._health != "down" or error != self._last_error:
                logger.warning("scrape of %s failed: %s", self.target.url, error)
        self._health = "down" if error else "up"
        self._last_error = error
        self._last_scrape_ms = ts_ms
        self._last_duration_s = duration_s
