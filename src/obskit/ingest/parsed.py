"""``ParsedSamples``, what the text parsers return, and the series table they fill.

Parsers group samples by label set here: each distinct label set is validated once and numbered
in first-seen order, and the per-sample ``series_index`` column points into that list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from obskit.errors import IngestError, InvalidSeriesError
from obskit.model.labels import METRIC_NAME, Labels, validate_labels

__all__ = ["ParsedSamples", "SeriesTable", "check_extra_labels", "raise_or_collect"]


@dataclass(frozen=True, slots=True)
class ParsedSamples:
    """Samples of a parsed body: ``series[series_index[i]]`` is the label set of sample ``i``.

    ``metadata`` maps a metric family to ``(TYPE, HELP)`` as given ("unknown" / "" when only one
    was); ``errors`` describes the lines that were skipped (only with ``strict=False``);
    ``skipped`` counts valid input that has no sample form, by reason.
    """

    series: list[Labels]
    series_index: npt.NDArray[np.int64]
    timestamps_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    metadata: dict[str, tuple[str, str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # e.g. {"string field": 3} (influx)

    def __len__(self) -> int:
        return len(self.values)


def check_extra_labels(extra_labels: Mapping[str, str]) -> dict[str, str]:
    """The caller's extra labels as a dict; raises ``IngestError`` for an unusable one."""
    extra = dict(extra_labels)
    for name, value in extra.items():
        if not isinstance(name, str) or not isinstance(value, str) or name == "":
            raise IngestError(f"invalid extra label {name!r}={value!r}")
        if name == METRIC_NAME:
            raise IngestError("extra labels cannot set __name__")
    return extra


class SeriesTable:
    """Distinct label sets in first-seen order; ``extra`` labels override the body's (an empty
    extra value removes the label), as VictoriaMetrics' ``extra_label`` does."""

    def __init__(self, extra: dict[str, str]) -> None:
        self.series: list[Labels] = []
        self._ids: dict[Labels, int] = {}
        self._extra = extra

    def add(self, pairs: list[tuple[str, str]]) -> int:
        """Index of the label set ``pairs`` (str decoded from UTF-8, so only names need checks);
        raises ``InvalidSeriesError`` when it is invalid."""
        kept = sorted(p for p in pairs if p[1])
        names = {k for k, _ in kept}
        if len(names) == len(kept) and METRIC_NAME in names and all(k for k, _ in pairs):
            labels: Labels = tuple(kept)  # what validate_labels returns, at a fraction of its cost
        else:
            labels = validate_labels(pairs)  # raises, naming the problem
        if self._extra:
            merged = dict(labels)
            merged.update(self._extra)
            labels = validate_labels(merged)
        sid = self._ids.get(labels)
        if sid is None:
            sid = self._ids[labels] = len(self.series)
            self.series.append(labels)
        return sid


def series_error(exc: InvalidSeriesError) -> str:
    """The message of an invalid label set, without the exception class."""
    return str(exc)


def raise_or_collect(errors: list[tuple[int, str]], strict: bool) -> list[str]:
    """``line N: ...`` messages in line order; with ``strict`` the first one is raised."""
    errors.sort(key=lambda e: e[0])
    msgs = [f"line {line}: {what}" for line, what in errors]
    if strict and msgs:
        raise IngestError(msgs[0])
    return msgs
