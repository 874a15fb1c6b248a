"""Service discovery: the target-group model, the ``Discoverer`` protocol, static configs and the
factory that builds a job's discoverers. File and DNS discovery live in ``file_sd.py`` and
``dns_sd.py``; the loop that polls discoverers lives in ``pool.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from obskit.ingest.scrape.config import ScrapeConfig
from obskit.ingest.scrape.target import ADDRESS, LabelPairs

__all__ = ["Discoverer", "StaticDiscoverer", "TargetGroup", "build_discoverers"]


@dataclass(frozen=True, slots=True)
class TargetGroup:
    """Targets sharing labels, as in a file_sd file: each target is a label set (at least
    ``__address__``); ``labels`` apply to all of them unless a target sets the same name."""

    source: str
    targets: tuple[LabelPairs, ...]
    labels: LabelPairs


class Discoverer(Protocol):
    """One discovery mechanism of a job. ``refresh`` returns the complete current list of its
    groups (keeping, on a partial failure, what it last knew) or raises to keep everything."""

    mechanism: str  # "static", "file", "dns": for logs and metrics

    @property
    def poll_interval_s(self) -> float:
        """Seconds between refreshes; infinite for one-shot discovery."""
        ...

    async def refresh(self) -> list[TargetGroup]: ...


class StaticDiscoverer:
    """``static_configs``: one group per entry, known once."""

    mechanism = "static"

    def __init__(self, groups: list[TargetGroup]) -> None:
        self._groups = groups

    @property
    def poll_interval_s(self) -> float:
        return math.inf

    async def refresh(self) -> list[TargetGroup]:
        return list(self._groups)


def build_discoverers(
    cfg: ScrapeConfig, dns_nameserver: tuple[str, int] | None
) -> list[Discoverer]:
    """The discoverers of one job, in config order."""
    from obskit.ingest.scrape.dns_sd import DNSDiscoverer
    from obskit.ingest.scrape.file_sd import FileDiscoverer

    found: list[Discoverer] = []
    if cfg.static_configs:
        groups = [
            TargetGroup(
                source=str(i),
                targets=tuple(((ADDRESS, address),) for address in static.targets),
                labels=tuple(sorted(static.labels.items())),
            )
            for i, static in enumerate(cfg.static_configs)
        ]
        found.append(StaticDiscoverer(groups))
    found.extend(FileDiscoverer(file_cfg) for file_cfg in cfg.file_sd_configs)
    found.extend(DNSDiscoverer(dns_cfg, dns_nameserver) for dns_cfg in cfg.dns_sd_configs)
    return found
