"""The capabilities engines and ingest see storage through (as Prometheus' storage/interface.go).

PromQL, LogQL, alerting and ingest depend on these protocols only, never on ``obskit.tsdb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from obskit.model.batch import AppendResult, SampleBatch
from obskit.model.labels import LabelsLike
from obskit.model.matchers import Matcher
from obskit.model.series import Series, SeriesColumns, StepSamples

__all__ = ["Appender", "Querier", "RefAppender"]


class Appender(Protocol):
    """Something samples can be appended to; returns once they are durable (in the WAL)."""

    def append(self, batch: SampleBatch) -> AppendResult:
        """Append a batch; returns how many samples were accepted and rejected (by reason)."""
        ...


class RefAppender(Appender, Protocol):
    """An appender with Prometheus-style series refs: resolve label sets once, then append
    numpy columns by ref (the ingest fast path caches refs by the raw bytes of a label set)."""

    def series_refs(self, labels: Sequence[LabelsLike]) -> npt.NDArray[np.int64]:
        """Refs of these label sets (validated; created durably when new). Raises
        ``InvalidSeriesError`` naming the first bad label set."""
        ...

    def append_refs(
        self,
        refs: npt.NDArray[np.int64],
        timestamps_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> AppendResult:
        """Append samples by ref; returns once they are durable."""
        ...


class Querier(Protocol):
    """Read access to series by label matchers and time range (both ends inclusive, in ms)."""

    def select(self, matchers: Sequence[Matcher], mint_ms: int, maxt_ms: int) -> list[Series]:
        """Matching series with samples in the range, sorted by labels (series without any
        are left out)."""
        ...

    def select_flat(self, matchers: Sequence[Matcher], mint_ms: int, maxt_ms: int) -> SeriesColumns:
        """What ``select`` returns, as flat columns (``SeriesColumns.from_series(select(...))``
        in a querier without a faster way): engines read this, with no object per series."""
        ...

    def select_instant(
        self, matchers: Sequence[Matcher], ends_ms: npt.NDArray[np.int64], lookback_ms: int
    ) -> StepSamples:
        """The samples an instant selector picks at each of ``ends_ms`` (ascending) for the
        matching series, sorted by labels; series without samples in ``(ends_ms[0] -
        lookback_ms, ends_ms[-1]]`` are left out (``select_flat`` then
        ``kernels.pq_sample_columns`` in a querier without a faster way)."""
        ...

    def label_names(
        self,
        matchers: Sequence[Matcher] = (),
        mint_ms: int | None = None,
        maxt_ms: int | None = None,
    ) -> list[str]: ...

    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint_ms: int | None = None,
        maxt_ms: int | None = None,
    ) -> list[str]: ...
