"""The native v2 encoder stages: argument checks of the analysis (its parity with the reference:
tests/encoding/test_residuals.py), the token stage against ``obskit.encoding.rans``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from obskit import kernels
from obskit.encoding import rans

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


@st.composite
def lanes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zigzagged residuals of a few lanes: small, mid-sized and full 64-bit values."""
    sizes = draw(st.lists(st.integers(0, 300), min_size=1, max_size=6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    parts = []
    for n in sizes:
        bits = draw(st.sampled_from([3, 12, 20, 40, 64]))
        top = np.uint64(2**bits - 1)
        parts.append(rng.integers(0, top, n, dtype=np.uint64, endpoint=True))
    lens = np.array(sizes, np.int64)
    return np.concatenate(parts), np.cumsum(lens) - lens, lens


@given(lanes())
def test_lane_symbols_are_the_references_tokens_and_raw_bits(
    lane: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    u, starts, lens = lane
    ctx, tok, raw, nbits = rans.lane_tokens(u, starts)
    want_raw, want_lane_bytes = rans.pack_raw_bits(raw, nbits, starts)
    key, got_raw, lane_bytes = kernels.rans_lane_symbols(u, starts, lens)
    assert key.tolist() == (ctx * rans.N_TOK + tok).tolist()
    assert got_raw == want_raw
    assert lane_bytes.tolist() == want_lane_bytes.tolist()


def test_lanes_outside_the_samples_are_value_errors() -> None:
    u = np.arange(10, dtype=np.uint64)
    with pytest.raises(ValueError, match="rans_lane_symbols"):
        kernels.rans_lane_symbols(u, np.array([0, 5]), np.array([5, 6]))
