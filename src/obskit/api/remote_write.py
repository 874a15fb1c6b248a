"""``POST /api/v1/write`` (Prometheus remote-write 1.0) as plain ASGI, in front of FastAPI.

Remote-write is the one endpoint hit thousands of times a second; FastAPI's routing, request
object and dependency machinery cost about as much CPU per request as decoding 1,000 samples, so
this middleware answers it directly and hands every other request to the app. Semantics are the
route's: 204, or 400 naming what was rejected (the valid samples of the request are still
written); bodies over ``max_body_bytes`` get 413 before they are read; errors use the JSON
envelope and status table of ``obskit.api.errors``. Decoding and appending run in a worker thread
(snappy, the protobuf decoder and the WAL write release the GIL, so two requests proceed on two
cores); the 204 is sent only after ``append_refs`` returned, i.e. after the WAL write.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio

from obskit.api.errors import error_response, status_of
from obskit.api.ingest import finish
from obskit.api.services import Services
from obskit.errors import ObskitError, PayloadTooLargeError
from obskit.ingest.pipeline import AppendOutcome

__all__ = ["PATH", "RemoteWriteMiddleware", "outcome_of"]

logger = logging.getLogger(__name__)

PATH = "/api/v1/write"

Scope = dict[str, Any]
Receive = Any  # Callable[[], Awaitable[Message]]
Send = Any  # Callable[[Message], Awaitable[None]]


def outcome_of(svc: Services, body: bytes) -> AppendOutcome:
    """Decode and append one body (in a worker thread); raises ``IngestError`` for a malformed
    body and ``PayloadTooLargeError`` for one over a size limit."""
    result = svc.remote_write.write(body)
    outcome = AppendOutcome(accepted=result.samples_accepted, errors=list(result.errors))
    if result.samples_rejected:
        outcome.rejected["invalid_series"] += result.samples_rejected
    return outcome


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request body (None if the client went away), refusing more than ``limit`` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise PayloadTooLargeError(
                f"request body of {int(value)} bytes exceeds the limit of {limit}"
            )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class RemoteWriteMiddleware:
    """Serves ``POST /api/v1/write`` with the services in ``app.state.services`` (other methods
    on that path: 405); passes every other request to the app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            response = error_response(405, "bad_data", f"method {scope['method']} not allowed")
            response.headers["allow"] = "POST"
            await response(scope, receive, send)
            return
        svc: Services = scope["app"].state.services
        try:
            body = await _read_body(scope, receive, svc.max_body_bytes)
            if body is None:
                return
            outcome = await anyio.to_thread.run_sync(outcome_of, svc, body)
        except ObskitError as exc:
            status, error_type = status_of(exc)
            if status >= 500:
                logger.error("POST %s failed: %s", PATH, exc)
            await error_response(status, error_type, str(exc))(scope, receive, send)
            return
        await finish(svc, "remote_write", outcome, [])(scope, receive, send)
