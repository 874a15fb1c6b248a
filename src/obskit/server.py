"""Composition root of ``obskit serve``: builds the store, decoders, scraper and HTTP app from
``Settings`` and runs them under uvicorn.

Lifecycle: the store is opened (and its directory locked) when the app starts; a background
thread runs flush/compaction/retention (``DB.maintain``) so no request waits for one; on SIGTERM
or SIGINT uvicorn stops accepting connections and finishes in-flight requests, then the scraper
writes staleness markers and stops, and the store closes its WAL cleanly. A restart replays the
WAL, so nothing acknowledged is lost.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

import obskit.tsdb as tsdb
from obskit import __version__
from obskit.api import ingest as ingest_api
from obskit.api import remote_write as remote_write_api
from obskit.api import status as status_api
from obskit.api.errors import handle_obskit_error
from obskit.api.services import IngestCounters, Services
from obskit.config import Settings
from obskit.errors import ObskitError
from obskit.ingest.remote_write import RemoteWriteDecoder, WriteLimits
from obskit.model.durations import parse_duration_ms
from obskit.tsdb.memory import configure_server_allocator

if TYPE_CHECKING:
    from obskit.promql import EngineOptions

__all__ = ["build_app", "engine_options", "run", "store_options"]

logger = logging.getLogger(__name__)

# How often the background thread checks whether the head is due for a flush: at ~1 M samples/s
# of ingest the head grows ~1 M samples per check; a check that finds nothing to do costs ~10 us.
_MAINTENANCE_INTERVAL_S = 1.0


def store_options(settings: Settings) -> tsdb.Options:
    st = settings.storage
    return tsdb.Options(
        fsync=st.fsync,
        fsync_interval_s=parse_duration_ms(st.fsync_interval) / 1000,
        retention_ms=parse_duration_ms(st.retention),
        retention_bytes=st.retention_bytes,
        head_max_samples=st.head_max_samples,
        head_max_bytes=st.head_max_bytes,
        page_cache_bytes=st.page_cache_bytes,
        read_threads=st.read_threads,
        maintenance_in_append=False,
    )


def engine_options(settings: Settings) -> EngineOptions:
    from obskit.promql import EngineOptions

    q = settings.query
    return EngineOptions(
        lookback_delta_ms=parse_duration_ms(q.lookback_delta),
        max_samples=q.max_samples,
        timeout_s=parse_duration_ms(q.timeout) / 1000,
    )


def write_limits(settings: Settings) -> WriteLimits:
    return WriteLimits(**settings.ingest.model_dump())


class _Maintenance:
    """Background thread calling ``db.maintain()`` every second, and at once when an append
    finds the head full (``db.maintenance_due``)."""

    def __init__(self, db: tsdb.DB) -> None:
        self._db = db
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="obskit-maintenance", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while True:
            self._db.maintenance_due.wait(_MAINTENANCE_INTERVAL_S)
            if self._stop:
                return
            try:
                self._db.maintain()
            except ObskitError:
                logger.exception("background maintenance failed")

    def stop(self) -> None:
        self._stop = True
        self._db.maintenance_due.set()
        self._thread.join()


# Paths served without the query API: an ingest-only server never imports PromQL.
_QUERY_API_PREFIX = "/api/v1/"
_NOT_QUERY_API = frozenset(
    [remote_write_api.PATH, "/api/v1/admin/flush"]
    + [getattr(route, "path", "") for route in ingest_api.router.routes]
)


class _QueryApiLoader:
    """ASGI middleware that adds the query and metadata routes and the PromQL engine on the first
    request for an ``/api/v1/`` path they may serve (once the store is open). Importing them
    (the engine, promql-parser, the query API's response encoders) costs ~5 MiB of RSS and
    startup time that a server used only for ingest never needs; the first query pays ~0.1 s.
    It runs on the event loop, so no other request runs while the routes are added. Once
    loaded, it calls the query endpoints Grafana polls (``query_api.DIRECT_ROUTES``) itself,
    ahead of the router's matching and dependency resolution."""

    def __init__(self, app: Any, load: Callable[[], dict[str, Any] | None]) -> None:
        self.app = app
        self._load: Callable[[], dict[str, Any] | None] | None = load
        self._direct: dict[str, Any] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if (
                self._load is not None
                and path.startswith(_QUERY_API_PREFIX)
                and path not in _NOT_QUERY_API
            ):
                direct = self._load()
                if direct is not None:
                    self._load, self._direct = None, direct
            endpoint = self._direct.get(path)
            if endpoint is not None and scope["method"] in ("GET", "POST"):
                from starlette.requests import Request

                response = await endpoint(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _ResultsCacheCollector:
    """The query results cache's counts, read when ``/metrics`` is scraped."""

    def __init__(self, cache: Any) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        st = self._cache.stats
        p = "obskit_query_results_cache_"
        yield CounterMetricFamily(p + "hits", "Range queries that reused cached steps.", st.hits)
        yield CounterMetricFamily(
            p + "misses", "Cacheable range queries evaluated whole.", st.misses
        )
        yield CounterMetricFamily(
            p + "steps_cached", "Steps answered from the cache.", st.steps_cached
        )
        yield CounterMetricFamily(
            p + "steps_evaluated", "Steps of cacheable queries evaluated.", st.steps_evaluated
        )
        yield CounterMetricFamily(
            p + "invalidations",
            "Writes into cached time ranges (cached steps dropped).",
            st.invalidations,
        )
        yield GaugeMetricFamily(p + "entries", "Cached queries.", st.entries)
        yield GaugeMetricFamily(p + "bytes", "Bytes of cached results.", st.bytes)


def _scrape_manager(settings: Settings, db: tsdb.DB, registry: CollectorRegistry) -> Any:
    if not settings.scrape_configs:
        return None
    from obskit.ingest.scrape import ScrapeManager, parse_scrape_configs

    configs = parse_scrape_configs(
        {"global": settings.global_, "scrape_configs": settings.scrape_configs}
    )
    return ScrapeManager(configs, db, registry)


def build_app(settings: Settings) -> FastAPI:
    """The HTTP app; the store opens when the app starts and closes when it stops."""
    registry = CollectorRegistry(auto_describe=True)
    counters = IngestCounters(registry)
    limits = write_limits(settings)
    ready = threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = tsdb.open(settings.data_dir, store_options(settings), registry=registry)
        maintenance = _Maintenance(db)

        def flush() -> dict[str, Any]:
            db.flush()
            db.compact()
            return {"blocks": len(db.blocks), "head_samples": db.head.num_samples()}

        app.state.services = Services(
            appender=db,
            registry=registry,
            counters=counters,
            max_body_bytes=limits.max_body_bytes,
            remote_write=RemoteWriteDecoder(db, limits),
            limits=limits,
            flush=flush,
            ready=ready.is_set,
        )
        app.state.store = db
        scraper = _scrape_manager(settings, db, registry)
        try:
            maintenance.start()
            if scraper is not None:
                await scraper.start()
            ready.set()
            logger.info(
                "obskit is ready",
                extra={"fields": {"listen": settings.listen, "data_dir": str(settings.data_dir)}},
            )
            yield
        finally:
            ready.clear()
            logger.info("shutting down")
            if scraper is not None:
                await scraper.stop()
            maintenance.stop()
            db.close()
            logger.info("store closed")

    def load_query_api() -> dict[str, Any] | None:
        db: tsdb.DB | None = getattr(app.state, "store", None)
        if db is None:  # not started (uvicorn serves nothing before the lifespan has run)
            return None
        from obskit.api import metadata as metadata_api
        from obskit.api import query as query_api
        from obskit.api.promhttp import QueryServices
        from obskit.kernels import buffers
        from obskit.promql import Engine, ResultsCache

        buffers.configure(settings.query.buffer_pool_bytes)

        app.include_router(query_api.router)
        app.include_router(metadata_api.router)
        cache = None
        if settings.query.results_cache_bytes:
            cache = ResultsCache(
                settings.query.results_cache_bytes,
                settle_ms=parse_duration_ms(settings.query.results_cache_settle),
            )
            db.add_change_listener(cache.invalidate_from)
            registry.register(_ResultsCacheCollector(cache))
        app.state.query = QueryServices(
            engine=Engine(db, engine_options(settings), results_cache=cache),
            querier=db,
            timeout_s=parse_duration_ms(settings.query.timeout) / 1000,
            limiter=anyio.CapacityLimiter(settings.query.max_concurrency),
        )
        return query_api.DIRECT_ROUTES

    app = FastAPI(title="obskit", version=__version__, lifespan=lifespan, docs_url=None)
    app.add_exception_handler(ObskitError, handle_obskit_error)
    app.include_router(ingest_api.router)
    app.include_router(status_api.router)
    app.add_middleware(_QueryApiLoader, load=load_query_api)
    app.add_middleware(remote_write_api.RemoteWriteMiddleware)
    return app


def run(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT (graceful: in-flight requests finish, the WAL is closed),
    then return normally, so the process exits 0 as Prometheus does."""
    import uvicorn

    class _Server(uvicorn.Server):
        # uvicorn re-raises the signal after a graceful shutdown (exit status -15); a clean
        # shutdown is a success for obskit, so forget the captured signals instead.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    host, port = settings.listen_host_port
    configure_server_allocator()  # before uvicorn starts its threads (see obskit.tsdb.memory)
    config = uvicorn.Config(
        build_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
    )
    _Server(config).run()
