"""HTTP APIs (FastAPI lives only here and in ``obskit.server``): ingest endpoints, status."""

__all__: list[str] = []
