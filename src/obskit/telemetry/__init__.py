"""Self-observability helpers: logfmt logging (obskit can ingest its own logs)."""

from obskit.telemetry.logfmt import LogfmtFormatter, configure_logging

__all__ = ["LogfmtFormatter", "configure_logging"]
