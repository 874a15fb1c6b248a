"""An app with the Prometheus query routers over a real store in a temporary directory and a
fake engine (the tests decide what a query returns), driven in-process through httpx's ASGI
transport (Starlette's TestClient warns about its httpx dependency)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pytest
from fastapi import FastAPI

import obskit.tsdb as tsdb
from obskit.api import metadata, query
from obskit.api.promhttp import QueryServices
from obskit.model.batch import SampleBatch
from obskit.model.labels import make_labels
from obskit.promql import QueryResult, Scalar


class Client:
    """A synchronous face on ``httpx.AsyncClient`` over the ASGI app, one event loop for all."""

    def __init__(self, app: FastAPI) -> None:
        self._loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://obskit")

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kw))

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.run_until_complete(self._loop.shutdown_default_executor())
        self._loop.close()


@dataclass
class FakeEngine:
    """Records each call; answers with ``answer(call)`` (a QueryResult, or raises)."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    answer: Callable[[dict[str, Any]], QueryResult] = lambda call: QueryResult(
        Scalar(call.get("time_ms", call.get("start_ms", 0)), 2.0)
    )

    def instant_query(self, query: str, time_ms: int, **kw: Any) -> QueryResult:
        call = {"kind": "instant", "query": query, "time_ms": time_ms, **kw}
        self.calls.append(call)
        return self.answer(call)

    def cached_range_query(self, *args: Any, **kw: Any) -> QueryResult | None:
        return None  # nothing cached: every range query reaches range_query

    def range_query(
        self, query: str, start_ms: int, end_ms: int, step_ms: int, **kw: Any
    ) -> QueryResult:
        call = {"kind": "range", "query": query, "start_ms": start_ms, "end_ms": end_ms}
        call |= {"step_ms": step_ms, **kw}
        self.calls.append(call)
        return self.answer(call)


# Series in the store: name, labels, sample timestamps (ms)
SERIES = [
    ("up", {"job": "api", "instance": "a:1"}, [1000, 2000]),
    ("up", {"job": "api", "instance": "b:1"}, [1000]),
    ("up", {"job": "db", "instance": "c:1"}, [50_000]),
    ("http_requests_total", {"job": "api", "code": "200", "my_label": "x"}, [1000, 2000]),
    ("http_requests_total", {"job": "api", "code": "500"}, [2000]),
    ("otel_metric", {"http.status": "404"}, [3000]),  # a UTF-8 label name (Prometheus 3)
]


def fill(db: tsdb.DB) -> None:
    labels = [make_labels(name, **extra) for name, extra, _ in SERIES]
    index = np.concatenate([np.full(len(ts), i) for i, (_, _, ts) in enumerate(SERIES)])
    ts_ms = np.concatenate([np.array(ts, np.int64) for _, _, ts in SERIES])
    db.append(SampleBatch(labels, index, ts_ms, np.arange(len(ts_ms), dtype=np.float64)))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tsdb.DB]:
    with tsdb.open(tmp_path / "data", tsdb.Options(retention_ms=0)) as db:
        fill(db)
        yield db


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def client(store: tsdb.DB, engine: FakeEngine) -> Iterator[Client]:
    app = FastAPI()
    app.include_router(query.router)
    app.include_router(metadata.router)
    app.state.query = QueryServices(
        engine=engine, querier=store, timeout_s=120.0, limiter=anyio.CapacityLimiter(4)
    )
    c = Client(app)
    try:
        yield c
    finally:
        c.close()
