"""Settings of ``obskit serve``: one pydantic-settings model, from (highest first) command-line
flags, ``OBSKIT_*`` environment variables (nested with ``__``: ``OBSKIT_STORAGE__RETENTION=30d``)
and an optional YAML file (``--config``). Components get plain option objects built from it and
never read the environment themselves.

YAML layout (Prometheus' ``global``/``scrape_configs`` beside obskit's own sections)::

    data_dir: ./obskit-data
    listen: 127.0.0.1:9201
    storage: {retention: 15d, retention_bytes: 0, fsync: interval, page_cache_bytes: 1073741824}
    ingest: {max_body_bytes: 67108864}
    query: {lookback_delta: 5m, timeout: 2m, max_samples: 50000000, max_concurrency: 20,
            results_cache_bytes: 134217728, results_cache_settle: 5m,
            buffer_pool_bytes: 536870912}
    global: {scrape_interval: 1m, scrape_timeout: 10s}
    scrape_configs: [...]
"""

from __future__ import annotations

import contextvars
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from obskit.errors import ConfigError
from obskit.model.durations import parse_duration_ms

__all__ = ["IngestSettings", "QuerySettings", "Settings", "StorageSettings", "load_settings"]


def _duration(text: str) -> str:
    parse_duration_ms(text)
    return text


Duration = Annotated[str, AfterValidator(_duration)]
_CONFIG_FILE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("config", default=None)


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fsync: Literal["always", "interval", "none"] = "interval"
    fsync_interval: Duration = "1s"
    retention: Duration = "15d"  # Prometheus' default; "0" keeps data forever
    retention_bytes: int = Field(0, ge=0)
    head_max_samples: int = Field(50_000_000, gt=0)
    head_max_bytes: int = Field(16 << 20, gt=0)
    page_cache_bytes: int = Field(1 << 30, ge=0)  # decoded block pages kept for queries
    read_threads: int = Field(0, ge=0)  # threads decoding one select's pages; 0 = cores, <= 4


class IngestSettings(BaseModel):
    """Limits on ingest requests (each breach is a clear 4xx and a counted rejection)."""

    model_config = ConfigDict(extra="forbid")
    max_body_bytes: int = Field(64 << 20, gt=0)  # compressed request body (413 beyond)
    max_decompressed_bytes: int = Field(256 << 20, gt=0)  # checked against snappy's header
    max_labels_per_series: int = Field(64, gt=0)
    max_label_name_bytes: int = Field(1024, gt=0)
    max_label_value_bytes: int = Field(16 * 1024, gt=0)
    max_series_per_request: int = Field(1_000_000, gt=0)
    max_samples_per_request: int = Field(10_000_000, gt=0)  # bounds decoded columns (20 B each)


class QuerySettings(BaseModel):
    """PromQL limits and defaults (Prometheus' ``--query.*`` flags and their defaults)."""

    model_config = ConfigDict(extra="forbid")
    lookback_delta: Duration = "5m"  # how far back an instant selector looks for a sample
    timeout: Duration = "2m"  # a request's ``timeout`` parameter can only shorten it
    max_samples: int = Field(50_000_000, gt=0)  # samples loaded at once (~16 B each)
    max_concurrency: int = Field(20, gt=0)  # queries evaluated at once; others wait
    # Range-query results kept per step for reuse (0: off); only steps older than
    # ``results_cache_settle`` are kept (VictoriaMetrics' -search.cacheTimestampOffset).
    results_cache_bytes: int = Field(128 << 20, ge=0)
    results_cache_settle: Duration = "5m"
    # Memory kept for the big temporary arrays of queries (select and kernel outputs), so that
    # queries reuse it instead of faulting fresh pages in (0: off); see obskit.kernels.buffers.
    buffer_pool_bytes: int = Field(512 << 20, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OBSKIT_", env_nested_delimiter="__", extra="forbid", populate_by_name=True
    )
    data_dir: Path = Path("obskit-data")
    listen: str = "127.0.0.1:9201"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    storage: StorageSettings = StorageSettings()
    ingest: IngestSettings = IngestSettings()
    query: QuerySettings = QuerySettings()
    global_: dict[str, Any] = Field(default_factory=dict, alias="global")
    scrape_configs: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _CONFIG_FILE.get()
        if path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from flags (``overrides``, None values ignored), environment and YAML file.

    Raises ``ConfigError`` naming the file and every bad setting."""
    path = Path(config_file) if config_file is not None else None
    if path is not None and not path.is_file():
        raise ConfigError(f"cannot read config file {path}: no such file")
    token = _CONFIG_FILE.set(path)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        where = f"config file {path}" if path else "settings"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid {where}: {problems}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse config file {path}: {exc}") from None
    finally:
        _CONFIG_FILE.reset(token)
