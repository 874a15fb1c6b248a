"""What the routers need, built by ``obskit.server`` and kept in ``app.state.services``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter

from obskit.ingest.remote_write import RemoteWriteDecoder, WriteLimits
from obskit.model.protocols import RefAppender

__all__ = ["IngestCounters", "Services", "services"]


class IngestCounters:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "obskit_ingest_requests_total",
            "Ingest requests by protocol and HTTP status code.",
            ["protocol", "code"],
            registry=registry,
        )
        self.samples = Counter(
            "obskit_samples_ingested_total",
            "Samples written by ingest endpoints, by protocol.",
            ["protocol"],
            registry=registry,
        )
        self.rejected = Counter(
            "obskit_samples_rejected_total",
            "Samples rejected by ingest endpoints, by protocol and reason.",
            ["protocol", "reason"],
            registry=registry,
        )


@dataclass
class Services:
    appender: RefAppender
    registry: CollectorRegistry
    counters: IngestCounters
    max_body_bytes: int
    remote_write: RemoteWriteDecoder
    limits: WriteLimits
    flush: Callable[[], dict[str, Any]]
    ready: Callable[[], bool] = field(default=lambda: True)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc
