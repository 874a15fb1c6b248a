"""Health, readiness, self-metrics and admin endpoints (Prometheus' paths)."""

from __future__ import annotations

import anyio
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from obskit.api.errors import error_response
from obskit.api.services import services

__all__ = ["router"]

router = APIRouter()


@router.get("/-/healthy")
async def healthy() -> Response:
    return PlainTextResponse("obskit is healthy.\n")


@router.get("/-/ready")
async def ready(request: Request) -> Response:
    if services(request).ready():
        return PlainTextResponse("obskit is ready.\n")
    return PlainTextResponse("obskit is not ready.\n", status_code=503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    data = await anyio.to_thread.run_sync(generate_latest, services(request).registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)


@router.post("/api/v1/admin/flush")
async def flush(request: Request) -> Response:
    """Write the head out as blocks, then compact (used by benchmarks and before backups)."""
    svc = services(request)
    if not svc.ready():
        return error_response(503, "unavailable", "obskit is not ready")
    result = await anyio.to_thread.run_sync(svc.flush)
    body = orjson.dumps({"status": "success", "data": result})
    return Response(body, media_type="application/json")
