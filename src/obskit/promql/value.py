"""The values a PromQL query returns, as numpy columns (the shapes of Prometheus' HTTP API).

``Scalar`` and ``String`` are single values at the evaluation time. ``Vector`` is an instant
vector: one value per series at one time. ``Matrix`` is a list of series with their points, for
range queries and for instant queries whose result is a range vector (``x[5m]``). Label sets are
``obskit.model.labels.Labels`` tuples; ``__name__`` is absent where the query dropped it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from obskit.model.labels import Labels
from obskit.model.series import Series

__all__ = ["Matrix", "QueryResult", "Scalar", "String", "Value", "Vector"]


@dataclass(frozen=True, slots=True)
class Scalar:
    """A float at time ``t_ms``."""

    t_ms: int
    value: float


@dataclass(frozen=True, slots=True)
class String:
    """A string at time ``t_ms``."""

    t_ms: int
    value: str


@dataclass(frozen=True, slots=True)
class Vector:
    """An instant vector at ``t_ms``: ``labels[i]`` has ``values[i]``, in result order."""

    t_ms: int
    labels: list[Labels]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True, slots=True)
class Matrix:
    """Series with points; ``Series.timestamps_ms`` ascending. Sorted by label set."""

    series: list[Series]

    def __len__(self) -> int:
        return len(self.series)


Value = Scalar | String | Vector | Matrix


@dataclass(frozen=True, slots=True)
class QueryResult:
    """What a query returns: its value and the annotations Prometheus would attach."""

    value: Value
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
