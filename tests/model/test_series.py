"""SeriesColumns: flat columns of many series, to and from ``Series``."""

from __future__ import annotations

import numpy as np

from obskit.model import Series, SeriesColumns, make_labels


def test_from_series_and_back() -> None:
    a = Series(make_labels("m", i="a"), np.array([1, 2], np.int64), np.array([0.5, 1.5]))
    b = Series(make_labels("m", i="b"), np.array([3], np.int64), np.array([-1.0]))
    cols = SeriesColumns.from_series([a, b])
    assert len(cols) == 2
    assert cols.offsets.tolist() == [0, 2, 3]
    assert cols.timestamps_ms.tolist() == [1, 2, 3]
    back = cols.series()
    assert [s.labels for s in back] == [a.labels, b.labels]
    assert back[0].values.tolist() == [0.5, 1.5] and back[1].timestamps_ms.tolist() == [3]
    assert np.shares_memory(back[1].values, cols.values)  # views, not copies


def test_empty() -> None:
    cols = SeriesColumns.from_series([])
    assert len(cols) == 0 and cols.offsets.tolist() == [0] and cols.series() == []
    assert cols.timestamps_ms.dtype == np.int64 and cols.values.dtype == np.float64
