"""The subset of Prometheus' ``scrape_configs`` that obskit understands, parsed from YAML.

Pydantic models at the edge, with Prometheus' defaults and checks; unknown keys are refused with
their path named. Durations stay in Prometheus' text form (they end up in ``__scrape_interval__``)
and are read through the ``*_ms`` properties. Compiled relabel rules live in ``relabel.py``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from obskit.errors import ConfigError
from obskit.model.durations import format_duration_ms, parse_duration_ms

__all__ = [
    "DNSSDConfig",
    "FileSDConfig",
    "GlobalConfig",
    "RelabelAction",
    "RelabelConfig",
    "ScrapeConfig",
    "ScrapeConfigs",
    "StaticConfig",
    "load_scrape_configs",
    "parse_scrape_configs",
]

RelabelAction = Literal[
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
]

DEFAULT_REGEX = "(.*)"
DEFAULT_SEPARATOR = ";"
DEFAULT_REPLACEMENT = "$1"

# Prometheus' file_sd pattern check: a glob only in the last path element, and a known extension.
_FILE_SD_PATTERN = re.compile(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$")
# ${1}, $1, $name: a template variable makes a target_label dynamic (Go regexp.Expand syntax).
_TEMPLATE_VAR = re.compile(r"\$(?:\{\w+\}|\w+)")


def _check_duration(text: str) -> str:
    try:
        parse_duration_ms(text)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelabelConfig(_Strict):
    """One relabel rule; defaults and checks as Prometheus' ``relabel.Config``."""

    source_labels: tuple[str, ...] = ()
    separator: str = DEFAULT_SEPARATOR
    regex: str = DEFAULT_REGEX
    modulus: int = Field(default=0, ge=0)
    target_label: str = ""
    replacement: str = DEFAULT_REPLACEMENT
    action: RelabelAction = "replace"

    @field_validator("action", mode="before")
    @classmethod
    def _lower_action(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("regex")
    @classmethod
    def _compile_regex(cls, value: str) -> str:
        from obskit.ingest.scrape.relabel import compile_regex  # avoid an import cycle

        compile_regex(value)
        return value

    @model_validator(mode="after")
    def _check_fields(self) -> RelabelConfig:
        action = self.action
        if action == "hashmod" and self.modulus == 0:
            raise ValueError("relabel configuration for hashmod requires non-zero modulus")
        needs_target = ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal")
        if action in needs_target and self.target_label == "":
            raise ValueError(f"relabel configuration for {action} action requires 'target_label'")
        dynamic_ok = action == "replace" and _TEMPLATE_VAR.search(self.target_label) is not None
        if self.target_label and not dynamic_ok and not _valid_label_name(self.target_label):
            raise ValueError(f"{self.target_label!r} is an invalid 'target_label' for {action}")
        if action == "labelmap" and not (
            _TEMPLATE_VAR.search(self.replacement) or _valid_label_name(self.replacement)
        ):
            raise ValueError(f"{self.replacement!r} is an invalid 'replacement' for labelmap")
        if action in ("labeldrop", "labelkeep") and (
            self.source_labels
            or self.target_label
            or self.modulus
            or self.separator != DEFAULT_SEPARATOR
            or self.replacement != DEFAULT_REPLACEMENT
        ):
            raise ValueError(f"{action} action requires only 'regex', and no other fields")
        if action in ("keepequal", "dropequal") and (
            self.regex != DEFAULT_REGEX
            or self.modulus
            or self.separator != DEFAULT_SEPARATOR
            or self.replacement != DEFAULT_REPLACEMENT
        ):
            raise ValueError(
                f"{action} action requires only 'source_labels' and 'target_label', "
                "and no other fields"
            )
        return self


def _valid_label_name(name: str) -> bool:
    # Prometheus 3 validates names as UTF-8 (any non-empty string); obskit's model does the same.
    return name != ""


class StaticConfig(_Strict):
    targets: tuple[str, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)


class FileSDConfig(_Strict):
    files: tuple[str, ...] = Field(min_length=1)
    refresh_interval: str = "5m"

    @field_validator("refresh_interval")
    @classmethod
    def _check_refresh(cls, value: str) -> str:
        return _check_duration(value)

    @field_validator("files")
    @classmethod
    def _check_files(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not _FILE_SD_PATTERN.match(pattern):
                raise ValueError(
                    f"path name {pattern!r} is not valid for file discovery: a glob is allowed "
                    "only in the last path element, which must end in .json, .yml or .yaml"
                )
        return value

    @property
    def refresh_interval_ms(self) -> int:
        return parse_duration_ms(self.refresh_interval)


class DNSSDConfig(_Strict):
    names: tuple[str, ...] = Field(min_length=1)
    type: Literal["SRV", "A", "AAAA"] = "SRV"
    port: int = Field(default=0, ge=0, le=65535)
    refresh_interval: str = "30s"

    @field_validator("refresh_interval")
    @classmethod
    def _check_refresh(cls, value: str) -> str:
        return _check_duration(value)

    @field_validator("type", mode="before")
    @classmethod
    def _upper_type(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_port(self) -> DNSSDConfig:
        if self.type == "SRV" and self.port != 0:
            raise ValueError("a port cannot be set for dns_sd type SRV (the record carries it)")
        if self.type != "SRV" and self.port == 0:
            raise ValueError(f"a port is required in dns_sd type {self.type}")
        return self

    @property
    def refresh_interval_ms(self) -> int:
        return parse_duration_ms(self.refresh_interval)


class GlobalConfig(_Strict):
    scrape_interval: str = "1m"
    scrape_timeout: str | None = None

    @field_validator("scrape_interval")
    @classmethod
    def _check_interval(cls, value: str) -> str:
        return _check_duration(value)

    @field_validator("scrape_timeout")
    @classmethod
    def _check_timeout(cls, value: str | None) -> str | None:
        return None if value is None else _check_duration(value)

    @model_validator(mode="after")
    def _default_timeout(self) -> GlobalConfig:
        interval_ms = parse_duration_ms(self.scrape_interval)
        if self.scrape_timeout is None:
            # As Prometheus: 10s, or the interval when that is shorter.
            timeout = format_duration_ms(min(10_000, interval_ms))
            object.__setattr__(self, "scrape_timeout", timeout)
        elif parse_duration_ms(self.scrape_timeout) > interval_ms:
            raise ValueError("global scrape timeout greater than scrape interval")
        return self


class ScrapeConfig(_Strict):
    """One ``scrape_configs`` entry; interval and timeout are filled in from ``global``."""

    job_name: str = Field(min_length=1)
    scrape_interval: str | None = None
    scrape_timeout: str | None = None
    metrics_path: str = "/metrics"
    scheme: Literal["http", "https"] = "http"
    params: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    honor_labels: bool = False
    static_configs: tuple[StaticConfig, ...] = ()
    file_sd_configs: tuple[FileSDConfig, ...] = ()
    dns_sd_configs: tuple[DNSSDConfig, ...] = ()
    relabel_configs: tuple[RelabelConfig, ...] = ()
    metric_relabel_configs: tuple[RelabelConfig, ...] = ()

    @field_validator("scrape_interval", "scrape_timeout")
    @classmethod
    def _check_durations(cls, value: str | None) -> str | None:
        return None if value is None else _check_duration(value)

    def with_defaults(self, defaults: GlobalConfig) -> ScrapeConfig:
        """This config with interval and timeout resolved against ``defaults`` (as Prometheus)."""
        interval = self.scrape_interval or defaults.scrape_interval
        interval_ms = parse_duration_ms(interval)
        if interval_ms == 0:
            raise ValueError(f"scrape interval cannot be 0 for job {self.job_name!r}")
        timeout = self.scrape_timeout
        if timeout is None:
            assert defaults.scrape_timeout is not None, "BUG: global timeout not defaulted"
            timeout_ms = min(parse_duration_ms(defaults.scrape_timeout), interval_ms)
            timeout = format_duration_ms(timeout_ms)
        elif parse_duration_ms(timeout) > interval_ms:
            raise ValueError(
                f"scrape timeout greater than scrape interval for job {self.job_name!r}"
            )
        return self.model_copy(update={"scrape_interval": interval, "scrape_timeout": timeout})

    @property
    def scrape_interval_ms(self) -> int:
        return parse_duration_ms(self.scrape_interval or "1m")

    @property
    def scrape_timeout_ms(self) -> int:
        return parse_duration_ms(self.scrape_timeout or "10s")


class ScrapeConfigs(_Strict):
    """The ``global`` block and the ``scrape_configs`` list of a Prometheus config file."""

    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    scrape_configs: tuple[ScrapeConfig, ...] = ()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _resolve(self) -> ScrapeConfigs:
        seen: set[str] = set()
        resolved = []
        for job in self.scrape_configs:
            if job.job_name in seen:
                raise ValueError(f"found multiple scrape configs with job name {job.job_name!r}")
            seen.add(job.job_name)
            resolved.append(job.with_defaults(self.global_))
        object.__setattr__(self, "scrape_configs", tuple(resolved))
        return self

    @classmethod
    def parse_obj_checked(cls, data: object) -> ScrapeConfigs:
        """Validate already-loaded YAML/JSON data; raises ``ConfigError`` naming bad keys."""
        if data is None:
            data = {}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"invalid scrape config: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        )
        where = where.lstrip(".") or "(top level)"
        if error["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown key (not supported)")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
    return "; ".join(problems)


def parse_scrape_configs(data: object) -> ScrapeConfigs:
    """Validate already-loaded data (``{"global": ..., "scrape_configs": [...]}``, e.g. from
    obskit's settings file); raises ``ConfigError`` naming every bad key."""
    return ScrapeConfigs.parse_obj_checked(data)


def load_scrape_configs(text: str | bytes) -> ScrapeConfigs:
    """Parse a YAML document with ``global:`` and ``scrape_configs:``; raises ``ConfigError``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse scrape config yaml: {exc}") from None
    return ScrapeConfigs.parse_obj_checked(data)
