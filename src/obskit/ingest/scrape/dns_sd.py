"""DNS discovery (``dns_sd_configs``): SRV, A or AAAA records, as Prometheus' ``discovery/dns``.

One group per name. SRV targets are ``target:port`` with the root dot trimmed; A/AAAA targets use
the configured port. A name that does not exist yields an empty group; a failed lookup (timeout,
SERVFAIL, REFUSED) keeps the name's last group. The resolver is dnspython's, pointed at a given
nameserver or at the system's configuration.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from obskit.errors import ConfigError
from obskit.ingest.scrape.config import DNSSDConfig
from obskit.ingest.scrape.discovery import TargetGroup
from obskit.ingest.scrape.target import ADDRESS

__all__ = ["DNSDiscoverer"]

logger = logging.getLogger(__name__)

# Per-query time limit: a scrape interval's worth would stall discovery; Prometheus' resolver
# gives up after a few seconds too.
_LOOKUP_TIMEOUT_S = 5.0

META_DNS_NAME = "__meta_dns_name"
META_SRV_TARGET = "__meta_dns_srv_record_target"
META_SRV_PORT = "__meta_dns_srv_record_port"


def _import_dns() -> Any:
    try:
        import dns.asyncresolver
        import dns.exception
        import dns.resolver
    except ImportError as exc:  # pragma: no cover - dnspython is a dependency
        raise ConfigError("dns_sd_configs need dnspython: pip install 'dnspython>=2.6'") from exc
    return dns


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class DNSDiscoverer:
    """Target groups for the names of one ``dns_sd_configs`` entry."""

    mechanism = "dns"

    def __init__(self, cfg: DNSSDConfig, nameserver: tuple[str, int] | None = None) -> None:
        dns = _import_dns()
        self._cfg = cfg
        self._dns = dns
        if nameserver is None:
            self._resolver = dns.asyncresolver.Resolver()
        else:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [nameserver[0]]
            self._resolver.port = nameserver[1]
        self._resolver.lifetime = _LOOKUP_TIMEOUT_S
        self._groups: dict[str, TargetGroup] = {}

    @property
    def poll_interval_s(self) -> float:
        return self._cfg.refresh_interval_ms / 1000

    async def refresh(self) -> list[TargetGroup]:
        names = self._cfg.names
        results = await asyncio.gather(*(self._lookup(n) for n in names), return_exceptions=True)
        for name, result in zip(names, results, strict=True):
            if isinstance(result, TargetGroup):
                self._groups[name] = result
            else:
                logger.error(
                    "dns_sd lookup of %s failed, keeping its last targets: %s", name, result
                )
        return [self._groups[n] for n in names if n in self._groups]

    async def _lookup(self, name: str) -> TargetGroup:
        dns = self._dns
        try:
            answer = await self._resolver.resolve(name, self._cfg.type, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return TargetGroup(source=name, targets=(), labels=())
        targets = []
        for record in answer:
            labels = {META_DNS_NAME: name}
            if self._cfg.type == "SRV":
                srv_target = record.target.to_text()
                labels[META_SRV_TARGET] = srv_target
                labels[META_SRV_PORT] = str(record.port)
                labels[ADDRESS] = _host_port(srv_target.rstrip("."), record.port)
            else:
                labels[ADDRESS] = _host_port(record.address, self._cfg.port)
            targets.append(tuple(sorted(labels.items())))
        return TargetGroup(source=name, targets=tuple(targets), labels=())
