"""The one table from obskit's exceptions to HTTP status and Prometheus ``errorType``, and the
JSON error envelope Prometheus' API uses: ``{"status": "error", "errorType": ..., "error": ...}``.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import Request
from fastapi.responses import Response

from obskit.errors import (
    ConfigError,
    IngestError,
    InvalidBatchError,
    InvalidSeriesError,
    ObskitError,
    ParseError,
    PayloadTooLargeError,
    QueryError,
    QueryLimitError,
    QueryTimeoutError,
    StorageError,
)

__all__ = ["error_response", "handle_obskit_error", "status_of"]

logger = logging.getLogger(__name__)


_TABLE: list[tuple[type[ObskitError], int, str]] = [
    (PayloadTooLargeError, 413, "bad_data"),
    (ParseError, 400, "bad_data"),
    (QueryTimeoutError, 503, "timeout"),
    (QueryLimitError, 422, "execution"),
    (QueryError, 422, "execution"),
    (IngestError, 400, "bad_data"),
    (InvalidSeriesError, 400, "bad_data"),
    (InvalidBatchError, 400, "bad_data"),
    (ConfigError, 400, "bad_data"),
    (StorageError, 503, "unavailable"),
]


def status_of(exc: ObskitError) -> tuple[int, str]:
    for cls, status, error_type in _TABLE:
        if isinstance(exc, cls):
            return status, error_type
    return 500, "internal"


def error_response(status: int, error_type: str, message: str) -> Response:
    body = orjson.dumps({"status": "error", "errorType": error_type, "error": message})
    return Response(body, status_code=status, media_type="application/json")


async def handle_obskit_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ObskitError)
    status, error_type = status_of(exc)
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(status, error_type, str(exc))
