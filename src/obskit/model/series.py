"""Series: one label set with its samples as numpy columns, as returned by a select;
``SeriesColumns``, many series as one pair of flat columns (what engines evaluate over); and
``StepSamples``, the samples an instant selector picks at each step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from obskit.model.labels import Labels

__all__ = ["Series", "SeriesColumns", "StepSamples"]


@dataclass(frozen=True, slots=True)
class Series:
    """Samples of one series in ascending timestamp order, one sample per timestamp."""

    labels: Labels
    timestamps_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.timestamps_ms)


@dataclass(frozen=True, slots=True)
class SeriesColumns:
    """Series ``i`` is ``labels[i]`` with the samples ``[offsets[i], offsets[i + 1])`` of
    ``timestamps_ms`` and ``values`` (ascending, one per timestamp); ``offsets`` has one entry
    more than ``labels`` and starts at 0. No Python object per series besides its labels."""

    labels: list[Labels]
    timestamps_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    offsets: npt.NDArray[np.int64]
    # True when no value is a staleness marker (a reader may skip looking); False: one may be.
    stale_free: bool = False

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_series(cls, series: Sequence[Series]) -> SeriesColumns:
        """The columns of ``series`` (copied, in the given order)."""
        offsets = np.zeros(len(series) + 1, np.int64)
        np.cumsum([len(s) for s in series], out=offsets[1:])
        if not series:
            return cls([], np.empty(0, np.int64), np.empty(0, np.float64), offsets)
        return cls(
            [s.labels for s in series],
            np.concatenate([s.timestamps_ms for s in series]),
            np.concatenate([s.values for s in series]),
            offsets,
        )

    def series(self) -> list[Series]:
        """One ``Series`` per series, its columns views of these."""
        bounds = self.offsets.tolist()
        return [
            Series(labels, self.timestamps_ms[a:b], self.values[a:b])
            for labels, (a, b) in zip(self.labels, pairwise(bounds), strict=True)
        ]


@dataclass(frozen=True, slots=True)
class StepSamples:
    """An instant selector's read at steps ``ends`` with a lookback: series ``i`` is
    ``labels[i]``; where ``timestamps_ms[i, k] > ends[k] - lookback``, ``(timestamps_ms,
    values)[i, k]`` is its last sample with timestamp <= ``ends[k]`` (staleness markers
    included), and elsewhere the series has no sample in that window (the timestamp there is
    <= ``ends[k] - lookback``, ``INT64_MIN`` when no sample at all is <= ``ends[k]``, and the
    value is unspecified)."""

    labels: list[Labels]
    values: npt.NDArray[np.float64]
    timestamps_ms: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.labels)
