"""Ingest endpoints, at the paths Prometheus and VictoriaMetrics use:

- ``POST /api/v1/write``: Prometheus remote-write 1.0 (protobuf + snappy), served as plain ASGI
  by ``obskit.api.remote_write`` in front of this router; 204, or 400 naming what was rejected
  (the valid samples of the request are still written);
- ``POST /api/v1/import/prometheus``: text exposition / OpenMetrics, ``extra_label=name=value``
  query parameters (repeatable), optional ``timestamp`` (ms) for lines without one;
- ``POST /write``, ``POST /api/v2/write``: Influx line protocol (``precision``), series named
  ``measurement_field`` with tags as labels (VictoriaMetrics' mapping).

Bodies over ``max_body_bytes`` get 413 before they are read; ``Content-Encoding: gzip`` is
accepted for text and Influx. Decoding and appending run in worker threads (the C decoders and
the store release the GIL).
"""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Callable, Mapping

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from obskit.api.errors import error_response
from obskit.api.services import Services, services
from obskit.errors import IngestError, PayloadTooLargeError
from obskit.ingest.exposition import parse_exposition
from obskit.ingest.influx import parse_influx
from obskit.ingest.parsed import ParsedSamples
from obskit.ingest.pipeline import AppendOutcome, append_parsed

__all__ = ["finish", "router"]

router = APIRouter()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) more than ``limit`` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body of {declared} bytes exceeds the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    if not encoding or encoding == "identity":
        return body
    if encoding != "gzip":
        raise IngestError(f"unsupported content-encoding {encoding!r}: use gzip or none")
    try:
        out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, limit + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise IngestError(f"cannot decompress gzip body: {exc}") from None
    if len(out) > limit:
        raise PayloadTooLargeError(f"decompressed body exceeds the limit of {limit} bytes")
    return out


def _extra_labels(request: Request) -> dict[str, str]:
    out = {}
    for item in request.query_params.getlist("extra_label"):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise IngestError(f"invalid extra_label {item!r}: expected name=value")
        out[name] = value
    return out


def finish(svc: Services, protocol: str, outcome: AppendOutcome, errors: list[str]) -> Response:
    """Count what a request wrote and rejected; 204, or 400 naming the first problems."""
    svc.counters.samples.labels(protocol).inc(outcome.accepted)
    for reason, count in outcome.rejected.items():
        svc.counters.rejected.labels(protocol, reason).inc(count)
    problems = errors + outcome.errors
    if problems:
        svc.counters.requests.labels(protocol, "400").inc()
        rejected = sum(outcome.rejected.values())
        message = (
            f"wrote {outcome.accepted} samples, rejected {rejected}"
            f"{' and skipped bad lines' if errors else ''}: " + "; ".join(problems[:5])
        )
        return error_response(400, "bad_data", message)
    svc.counters.requests.labels(protocol, "204").inc()
    return Response(status_code=204)


async def _parsed_ingest(
    request: Request,
    protocol: str,
    parse: Callable[[bytes, int, Mapping[str, str]], ParsedSamples],
) -> Response:
    svc = services(request)
    body = await read_body(request, svc.max_body_bytes)
    body = _decompress(
        body, request.headers.get("content-encoding"), svc.limits.max_decompressed_bytes
    )
    extra = _extra_labels(request)
    now_ms = int(time.time() * 1000)

    def work() -> tuple[AppendOutcome, list[str]]:
        parsed = parse(body, now_ms, extra)
        return append_parsed(svc.appender, parsed, svc.limits), parsed.errors

    outcome, errors = await anyio.to_thread.run_sync(work)
    return finish(svc, protocol, outcome, errors)


@router.post("/api/v1/import/prometheus")
async def import_prometheus(request: Request) -> Response:
    ts_param = request.query_params.get("timestamp")
    if ts_param is not None and not ts_param.lstrip("-").isdigit():
        raise IngestError(f"invalid timestamp {ts_param!r}: expected milliseconds")
    content_type = request.headers.get("content-type", "")
    openmetrics = True if "openmetrics" in content_type else None

    def parse(body: bytes, now_ms: int, extra: Mapping[str, str]) -> ParsedSamples:
        default = int(ts_param) if ts_param is not None else now_ms
        return parse_exposition(
            body, default, openmetrics=openmetrics, extra_labels=extra, strict=False
        )

    return await _parsed_ingest(request, "prometheus_text", parse)


async def _influx(request: Request) -> Response:
    precision = request.query_params.get("precision", "ns")

    def parse(body: bytes, now_ms: int, extra: Mapping[str, str]) -> ParsedSamples:
        return parse_influx(body, now_ms, precision=precision, extra_labels=extra, strict=False)

    return await _parsed_ingest(request, "influx", parse)


router.add_api_route("/write", _influx, methods=["POST"])
router.add_api_route("/api/v2/write", _influx, methods=["POST"])
