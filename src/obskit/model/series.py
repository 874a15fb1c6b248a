"""Series: one label set with its samples as numpy columns, as returned by a select."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from obskit.model.labels import Labels

__all__ = ["Series"]


@dataclass(frozen=True, slots=True)
class Series:
    """Samples of one series in ascending timestamp order, one sample per timestamp."""

    labels: Labels
    timestamps_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.timestamps_ms)
