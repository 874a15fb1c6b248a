"""Prometheus' staleness marker: the NaN with bit pattern 0x7ff0000000000002.

Written when a series vanishes from a target's scrape, when a scrape fails (for every series of
the previous scrape) and when a target goes away (for all its series, the report ones included),
so queries stop returning the series at once instead of after the 5 minute lookback.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["STALE_NAN", "STALE_NAN_BITS", "is_stale_nan", "stale_values"]

STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = float(np.array([STALE_NAN_BITS], dtype=np.uint64).view(np.float64)[0])


def stale_values(count: int) -> npt.NDArray[np.float64]:
    """``count`` stale markers, bit-exact (arithmetic on NaN would not keep the payload)."""
    return np.full(count, STALE_NAN_BITS, dtype=np.uint64).view(np.float64)


def is_stale_nan(values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which of ``values`` are stale markers (compared by bits, not by NaN-ness)."""
    bits: npt.NDArray[np.uint64] = np.asarray(values, dtype=np.float64).view(np.uint64)
    return np.equal(bits, np.uint64(STALE_NAN_BITS))
