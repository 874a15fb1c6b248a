"""What the Prometheus query API routers share: their services (engine, store, limits, kept in
``app.state.query``), reading the form, running work off the event loop, and answering in
Prometheus' envelope with its status codes (gzip when the client accepts it)."""

from __future__ import annotations

import functools
import logging
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import anyio
from fastapi import Request
from fastapi.responses import Response

from obskit.api.errors import error_response, status_of
from obskit.api.ingest import read_body
from obskit.api.promparams import BadParameter, Form
from obskit.errors import ObskitError, ParseError
from obskit.model.labels import Labels
from obskit.model.matchers import Matcher
from obskit.model.protocols import Querier
from obskit.promql.value import QueryResult

__all__ = [
    "QueryEngine",
    "QueryServices",
    "SeriesQuerier",
    "answer",
    "prom_endpoint",
    "query_services",
    "read_form",
    "respond",
    "run",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Go's ParseForm refuses urlencoded bodies over 10 MB; a query or a list of match[] selectors
# is far smaller.
_MAX_FORM_BYTES = 10 << 20
# Bodies under ~1 KiB gain nothing from gzip; level 1 compresses JSON 5-10x at >100 MB/s.
_GZIP_MIN_BYTES = 1024
_GZIP_LEVEL = 1


class QueryEngine(Protocol):
    """The part of ``obskit.promql.Engine`` the API calls (tests substitute a fake)."""

    def instant_query(
        self,
        query: str,
        time_ms: int,
        *,
        timeout_s: float | None = None,
        lookback_delta_ms: int | None = None,
    ) -> QueryResult: ...

    def range_query(
        self,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        timeout_s: float | None = None,
        lookback_delta_ms: int | None = None,
        use_cache: bool = True,
    ) -> QueryResult: ...

    def cached_range_query(
        self,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        lookback_delta_ms: int | None = None,
        max_points: int = 100_000,
    ) -> QueryResult | None: ...


class SeriesQuerier(Querier, Protocol):
    """A querier that also lists label sets without reading samples (``tsdb.DB.series``)."""

    def series(
        self, matchers: Sequence[Matcher], mint_ms: int | None = None, maxt_ms: int | None = None
    ) -> list[Labels]: ...


@dataclass
class QueryServices:
    """Built by ``obskit.server`` in the app's lifespan. ``timeout_s`` caps every query (a
    request's ``timeout`` can only shorten it); ``limiter`` bounds concurrent queries as
    Prometheus' ``--query.max-concurrency``."""

    engine: QueryEngine
    querier: SeriesQuerier
    timeout_s: float
    limiter: anyio.CapacityLimiter


def query_services(request: Request) -> QueryServices:
    svc: QueryServices | None = getattr(request.app.state, "query", None)
    if svc is None:
        raise _NotReady
    return svc


class _NotReady(Exception):
    pass


async def read_form(request: Request) -> Form:
    """URL parameters plus, on a urlencoded POST, the body's (Go's ``ParseForm``)."""
    body = None
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
        body = await read_body(request, _MAX_FORM_BYTES)
    return Form.parse(request.url.query, body)


async def run(svc: QueryServices, fn: Callable[[], T]) -> T:
    """``fn`` in a worker thread, at most ``limiter`` at once (engine and store are sync)."""
    return await anyio.to_thread.run_sync(fn, limiter=svc.limiter)


async def respond(request: Request, svc: QueryServices, make_body: Callable[[], bytes]) -> Response:
    """Build the body with ``make_body`` (and gzip it when the client accepts it) in a worker
    thread; answer it as JSON."""
    gzip = "gzip" in request.headers.get("accept-encoding", "")
    body, gzipped = await run(svc, lambda: _maybe_gzip(make_body(), gzip))
    return _json_response(body, gzipped)


def answer(request: Request, body: bytes) -> Response:
    """``respond`` for a body already built (small: gzipped here, on the caller's thread)."""
    gzip = "gzip" in request.headers.get("accept-encoding", "")
    return _json_response(*_maybe_gzip(body, gzip))


def _maybe_gzip(body: bytes, gzip: bool) -> tuple[bytes, bool]:
    if gzip and len(body) >= _GZIP_MIN_BYTES:
        compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return compressor.compress(body) + compressor.flush(), True
    return body, False


def _json_response(body: bytes, gzipped: bool) -> Response:
    headers = {"Vary": "Accept-Encoding"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)


def _error_of(exc: Exception) -> tuple[int, str, str]:
    """Prometheus' (status, errorType, message) for what an endpoint raised."""
    if isinstance(exc, BadParameter):
        return 400, "bad_data", str(exc)
    if isinstance(exc, ParseError):
        return 400, "bad_data", f'invalid parameter "query": {exc}'
    if isinstance(exc, ObskitError):
        status, error_type = status_of(exc)
        return status, error_type, str(exc)
    if isinstance(exc, NotImplementedError):
        return 422, "execution", f"not implemented yet: {exc}".rstrip(": ")
    if isinstance(exc, _NotReady):
        return 503, "unavailable", "obskit is not ready"
    return 500, "internal", f"internal error: {type(exc).__name__}: {exc}"


def prom_endpoint(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Answer anything ``handler`` raises with Prometheus' error envelope and status code:
    bad_data 400, execution 422, timeout 503, internal 500 (logged)."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            status, error_type, message = _error_of(exc)
            if status >= 500 and status != 503:
                logger.exception("%s %s failed", request.method, request.url.path)
            return error_response(status, error_type, message)

    return wrapper
