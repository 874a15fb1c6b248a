"""Ingest: wire formats parsed into numpy columns and appended through ``model.protocols``.

Remote-write, text exposition / OpenMetrics, Influx line protocol and the scraper. Layer L5: sees
storage only through ``RefAppender``; never imports ``obskit.tsdb``.
"""

__all__: list[str] = []
