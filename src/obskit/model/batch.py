"""SampleBatch: the columnar unit that moves from parsers to the store.

Label sets are per series (Python objects); timestamps, values and the per-sample series index
are numpy columns, so no Python object exists per sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from obskit.errors import InvalidBatchError
from obskit.model.labels import LabelsLike

__all__ = ["AppendResult", "SampleBatch", "check_sample_columns"]


def check_sample_columns(
    index: npt.NDArray[np.integer], timestamps_ms: object, values: object, n_series: int, what: str
) -> None:
    """Raise ``InvalidBatchError`` unless the three columns are 1-D, equally long, correctly typed
    (index: any integer dtype within ``[0, n_series)``, timestamps int64, values float64)."""
    for name, arr in (("timestamps_ms", timestamps_ms), ("values", values), (what, index)):
        if not isinstance(arr, np.ndarray):
            raise InvalidBatchError(f"{name} must be a numpy array, not {type(arr).__name__}")
        if arr.ndim != 1:
            raise InvalidBatchError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    assert isinstance(timestamps_ms, np.ndarray) and isinstance(values, np.ndarray)
    if timestamps_ms.dtype != np.int64:
        raise InvalidBatchError(f"timestamps_ms must have dtype int64, got {timestamps_ms.dtype}")
    if values.dtype != np.float64:
        raise InvalidBatchError(f"values must have dtype float64, got {values.dtype}")
    if not np.issubdtype(index.dtype, np.integer):
        raise InvalidBatchError(f"{what} must have an integer dtype, got {index.dtype}")
    n = len(index)
    if len(timestamps_ms) != n or len(values) != n:
        raise InvalidBatchError(
            f"column lengths differ: {what} {n}, timestamps_ms {len(timestamps_ms)}, "
            f"values {len(values)}"
        )
    if n and (int(index.min()) < 0 or int(index.max()) >= n_series):
        raise InvalidBatchError(
            f"{what} out of range: values must lie in [0, {n_series}), "
            f"got [{int(index.min())}, {int(index.max())}]"
        )


@dataclass(frozen=True, slots=True)
class SampleBatch:
    """Samples of many series: ``series[series_index[i]]`` is the label set of sample ``i``."""

    series: Sequence[LabelsLike]
    series_index: npt.NDArray[np.integer]
    timestamps_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.timestamps_ms)

    def validate(self) -> None:
        """Check shapes and dtypes (not the label sets; the store checks those)."""
        if not isinstance(self.series_index, np.ndarray):
            raise InvalidBatchError(
                f"series_index must be a numpy array, not {type(self.series_index).__name__}"
            )
        check_sample_columns(
            self.series_index, self.timestamps_ms, self.values, len(self.series), "series_index"
        )


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did: ``accepted`` samples are durable; the others were rejected, by reason
    (samples older than the store's retention are rejected, as VictoriaMetrics does)."""

    accepted: int
    out_of_retention: int = 0

    @property
    def rejected(self) -> int:
        return self.out_of_retention
