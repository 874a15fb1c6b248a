"""The engine's working values: everything is evaluated at all steps of a query at once.

A range query at steps ``T[0..N)`` (an instant query is the case N = 1) evaluates every node
of the expression to one of:

* ``StepScalar`` — one float per step;
* ``StepString`` — a string literal;
* ``StepVector`` — S series x N steps: ``values[S, N]`` and ``present[S, N]`` (NaN is a value,
  so absence needs its own mask), the series' label sets, and ``drop_name[S]`` for Prometheus'
  delayed ``__name__`` removal (functions and operators mark the name, the result drops it);
* ``RangeInput`` — the argument of a range function (``x[5m]`` or a subquery): the samples of
  S series as flat columns (``ts``/``vals`` with ``offsets[S+1]``, staleness markers removed) and
  the window ``(ends[k] - range_ms, ends[k]]`` for each step k.

Windows are located for all series and steps by one kernel call (``kernels.pq_window_bounds``,
a two-pointer walk in C), so no Python loop runs per step or per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from obskit import kernels
from obskit.model.labels import METRIC_NAME, Labels

__all__ = [
    "NAME_LABELS",
    "STALE_NAN_BITS",
    "RangeInput",
    "StepScalar",
    "StepString",
    "StepVector",
    "Value",
    "is_stale",
    "without_name",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

STALE_NAN_BITS = 0x7FF0000000000002


def is_stale(values: F64) -> Bool:
    """Which values are Prometheus' staleness marker (one NaN bit pattern)."""
    out: Bool = values.view(np.uint64) == np.uint64(STALE_NAN_BITS)
    return out


# Dropped together with the name: Prometheus' metadata labels for type and unit (PROM-39).
NAME_LABELS = frozenset((METRIC_NAME, "__type__", "__unit__"))


def without_name(labels: Labels) -> Labels:
    """``labels`` without ``__name__`` (and the ``__type__``/``__unit__`` that go with it)."""
    return tuple(p for p in labels if p[0] not in NAME_LABELS)


@dataclass(slots=True)
class StepScalar:
    values: F64


@dataclass(slots=True)
class StepString:
    value: str


@dataclass(slots=True)
class StepVector:
    labels: list[Labels]
    values: F64
    present: Bool
    drop_name: Bool

    @staticmethod
    def empty(n_steps: int) -> StepVector:
        return StepVector(
            [],
            np.empty((0, n_steps), np.float64),
            np.zeros((0, n_steps), np.bool_),
            np.zeros(0, np.bool_),
        )

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, rows: npt.NDArray[np.intp] | Bool) -> StepVector:
        idx = np.flatnonzero(rows) if rows.dtype == np.bool_ else rows
        return StepVector(
            [self.labels[i] for i in idx],
            self.values[idx],
            self.present[idx],
            self.drop_name[idx],
        )

    def compact(self) -> StepVector:
        """Drop series that have no point at any step."""
        keep: Bool = np.asarray(self.present.any(axis=1), np.bool_)
        return self if keep.all() else self.take(keep)

    def effective_labels(self) -> list[Labels]:
        """Label sets as they will be returned (marked names dropped)."""
        return [
            without_name(lab) if drop else lab
            for lab, drop in zip(self.labels, self.drop_name.tolist(), strict=True)
        ]


@dataclass(slots=True)
class RangeInput:
    labels: list[Labels]
    ts: I64
    vals: F64
    offsets: I64
    ends: I64
    range_ms: int
    drop_name: Bool
    _windows: tuple[I64, I64] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def has_windows(self) -> bool:
        """Whether ``windows()`` was computed already."""
        return self._windows is not None

    def windows(self) -> tuple[I64, I64]:
        """Flat indices ``lo[S, N]``, ``hi[S, N]``: window k of series s is ``[lo, hi)``
        (computed once, then cached)."""
        if self._windows is None:
            self._windows = kernels.pq_window_bounds(
                self.ts, self.offsets, self.ends, self.range_ms
            )
        return self._windows


Value = StepScalar | StepString | StepVector | RangeInput
