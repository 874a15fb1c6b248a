"""Argument checks of the native v2 encoder analysis (its parity: tests/encoding/test_residuals)."""

from __future__ import annotations

import numpy as np
import pytest

from obskit import kernels

pytestmark = pytest.mark.skipif(
    kernels.BACKEND != "native", reason="obskit._native is not built: no C kernel to check"
)


@pytest.mark.parametrize(
    "counts",
    [[0, 10], [5, 4], [11], [-1, 11], [4, 4, 4]],
    ids=["empty-column", "short", "long", "negative", "beyond"],
)
def test_counts_that_do_not_tile_the_values_are_value_errors(counts: list[int]) -> None:
    with pytest.raises(ValueError, match="analyse_value_page"):
        kernels.analyse_value_page(np.arange(10.0), np.array(counts, np.int64))


def test_rows_hold_the_fields_of_every_column() -> None:
    values = np.concatenate([np.full(4, 2.5), np.arange(6.0) * 0.5])
    rows, resid, exc_pos, exc_bits = kernels.analyse_value_page(values, np.array([4, 6]))
    assert rows.shape == (2, kernels.ANALYSE_FIELDS)
    assert rows[:, 0].tolist() == [0x01, 0x07]  # const, decimal
    assert rows[:, 1].tolist() == [4, 6]
    assert resid.size == 5 and exc_pos.size == exc_bits.size == 0
