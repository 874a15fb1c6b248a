"""What one target's scrapes append: scraped series with target labels and metric relabeling,
the five report series, and staleness markers. Synchronous (runs in a worker thread).

Relabel results and store refs are cached per distinct scraped series, so relabeling runs per
new series and a steady scrape costs one dict look-up per series plus numpy work per sample.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from obskit.errors import InvalidSeriesError
from obskit.ingest.scrape.relabel import Relabeler
from obskit.ingest.scrape.staleness import stale_values
from obskit.ingest.scrape.target import LabelPairs
from obskit.model import METRIC_NAME, Labels
from obskit.model.protocols import RefAppender

__all__ = [
    "REPORT_SERIES",
    "ParseFunc",
    "ParsedSamplesLike",
    "ScrapeResult",
    "TargetAppender",
    "mutate_sample_labels",
]

logger = logging.getLogger(__name__)

REPORT_SERIES = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)
EXPORTED_PREFIX = "exported_"
_DROPPED = -1  # cache value of a series that metric relabeling (or validation) dropped


class ParsedSamplesLike(Protocol):
    """The parser's result (``obskit.ingest.exposition.ParsedSamples``) as used here."""

    @property
    def series(self) -> Sequence[Labels]: ...
    @property
    def series_index(self) -> npt.NDArray[np.integer]: ...
    @property
    def timestamps_ms(self) -> npt.NDArray[np.int64]: ...
    @property
    def values(self) -> npt.NDArray[np.float64]: ...


class ParseFunc(Protocol):
    """The signature of ``obskit.ingest.exposition.parse_exposition``."""

    def __call__(
        self,
        text: bytes,
        default_ts_ms: int,
        *,
        openmetrics: bool | None = None,
        extra_labels: Mapping[str, str] = ...,
        strict: bool = True,
    ) -> ParsedSamplesLike: ...


@dataclass(frozen=True, slots=True)
class ScrapeResult:
    samples_scraped: int
    samples_appended: int
    series_added: int
    stale_markers: int


def mutate_sample_labels(scraped: Labels, target: LabelPairs, honor_labels: bool) -> dict[str, str]:
    """Add the target's labels to a scraped series as Prometheus does: with ``honor_labels``
    scraped values win; otherwise target values win and clashing scraped values move to
    ``exported_<name>`` (``exported_exported_<name>``… while taken, shortest names first)."""
    labels = dict(scraped)
    if honor_labels:
        for name, value in target:
            if labels.get(name, "") == "":
                labels[name] = value
        return labels
    conflicts = []
    for name, value in target:
        existing = labels.get(name, "")
        if existing != "":
            conflicts.append((name, existing))
        labels[name] = value
    conflicts.sort(key=lambda pair: len(pair[0]))
    for name, value in conflicts:
        new_name = name
        while True:
            new_name = EXPORTED_PREFIX + new_name
            if labels.get(new_name, "") == "":
                labels[new_name] = value
                break
    return labels


class TargetAppender:
    """Appends one target's scrapes; not thread-safe (one scrape of a target at a time)."""

    def __init__(
        self,
        appender: RefAppender,
        target_labels: LabelPairs,
        honor_labels: bool,
        metric_relabeler: Relabeler,
    ) -> None:
        self._appender = appender
        self._target_labels = target_labels
        self._honor_labels = honor_labels
        self._relabeler = metric_relabeler
        self._cache: dict[Labels, int] = {}
        self._report_refs: npt.NDArray[np.int64] | None = None
        # Refs appended without explicit timestamps by the last scrape: the staleness candidates.
        self._previous: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._pending_settings: tuple[bool, Relabeler] | None = None

    def update_settings(self, honor_labels: bool, metric_relabeler: Relabeler) -> None:
        """New honor_labels/metric_relabel_configs, taking effect at the next scrape."""
        self._pending_settings = (honor_labels, metric_relabeler)

    def _final_labels(self, scraped: Labels) -> Labels | None:
        labels = mutate_sample_labels(scraped, self._target_labels, self._honor_labels)
        if self._relabeler and not self._relabeler.process(labels):
            return None
        if labels.get(METRIC_NAME, "") == "":
            # Prometheus fails the scrape here; dropping the one series loses less.
            logger.warning("series %s lost its metric name in relabeling; dropped", scraped)
            return None
        return tuple(sorted((k, v) for k, v in labels.items() if v != ""))

    def _resolve(self, new: list[Labels]) -> int:
        """Cache refs (or the dropped mark) for new scraped series; returns how many were added."""
        finals = [self._final_labels(s) for s in new]
        wanted = [(s, f) for s, f in zip(new, finals, strict=True) if f is not None]
        for scraped, final in zip(new, finals, strict=True):
            if final is None:
                self._cache[scraped] = _DROPPED
        if not wanted:
            return 0
        try:
            refs = self._appender.series_refs([f for _, f in wanted])
            pairs = list(zip(wanted, refs.tolist(), strict=True))
        except InvalidSeriesError:
            pairs = []
            for item in wanted:
                try:
                    pairs.append((item, int(self._appender.series_refs([item[1]])[0])))
                except InvalidSeriesError as exc:
                    logger.warning("dropping scraped series: %s", exc)
                    pairs.append((item, _DROPPED))
        added = 0
        for (scraped, _final), ref in pairs:
            self._cache[scraped] = ref
            added += ref != _DROPPED
        return added

    def append_scrape(self, parsed: ParsedSamplesLike | None, ts_ms: int) -> ScrapeResult:
        """Append a parsed scrape (None for a failed one) and stale markers for vanished series."""
        if self._pending_settings is not None:
            self._honor_labels, self._relabeler = self._pending_settings
            self._pending_settings = None
            self._cache.clear()
        if parsed is None or len(parsed.timestamps_ms) == 0:
            stale = self._append_stale(self._previous, ts_ms)
            self._previous = np.empty(0, dtype=np.int64)
            return ScrapeResult(0, 0, 0, stale)
        series = parsed.series
        new = [s for s in dict.fromkeys(series) if s not in self._cache]
        added = self._resolve(new) if new else 0
        series_refs = np.fromiter(
            (self._cache[s] for s in series), dtype=np.int64, count=len(series)
        )
        sample_refs = series_refs[np.asarray(parsed.series_index, dtype=np.intp)]
        keep = sample_refs != _DROPPED
        refs = sample_refs[keep]
        timestamps = np.asarray(parsed.timestamps_ms, dtype=np.int64)[keep]
        values = np.asarray(parsed.values, dtype=np.float64)[keep]
        if len(refs):
            self._appender.append_refs(refs, timestamps, values)
        # Series with explicit timestamps are not tracked for staleness (as Prometheus).
        current = np.unique(refs[timestamps == ts_ms])
        stale = self._append_stale(np.setdiff1d(self._previous, current), ts_ms)
        self._previous = current
        self._forget_unused(series)
        return ScrapeResult(len(parsed.timestamps_ms), len(refs), added, stale)

    def _forget_unused(self, series: Sequence[Labels]) -> None:
        # Keep the cache to what the target exposes now, so churning series do not pile up.
        if len(self._cache) > 2 * len(series):
            present = set(series)
            self._cache = {s: r for s, r in self._cache.items() if s in present}

    def append_report(self, ts_ms: int, up: bool, duration_s: float, result: ScrapeResult) -> None:
        """The five synthetic series of a scrape, with the target's labels."""
        if self._report_refs is None:
            sets = [((METRIC_NAME, name), *self._target_labels) for name in REPORT_SERIES]
            self._report_refs = self._appender.series_refs([tuple(sorted(s)) for s in sets])
        values = np.array(
            [
                1.0 if up else 0.0,
                duration_s,
                result.samples_scraped,
                result.samples_appended,
                result.series_added,
            ],
            dtype=np.float64,
        )
        timestamps = np.full(len(REPORT_SERIES), ts_ms, dtype=np.int64)
        self._appender.append_refs(self._report_refs, timestamps, values)

    def append_stale_all(self, ts_ms: int) -> int:
        """Stale markers for every series of the last scrape and the report series (the target
        went away); returns how many were written."""
        refs = self._previous
        if self._report_refs is not None:
            refs = np.concatenate([refs, self._report_refs])
        self._previous = np.empty(0, dtype=np.int64)
        return self._append_stale(refs, ts_ms)

    def _append_stale(self, refs: npt.NDArray[np.int64], ts_ms: int) -> int:
        if len(refs) == 0:
            return 0
        self._appender.append_refs(
            refs, np.full(len(refs), ts_ms, dtype=np.int64), stale_values(len(refs))
        )
        return len(refs)
