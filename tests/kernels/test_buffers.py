"""The pool of big temporary arrays (``obskit.kernels.buffers``): reuse only what nothing uses."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from obskit.kernels import buffers

N = (buffers.MIN_BYTES // 8) * 2  # int64s of a pooled array


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[None]:
    buffers.configure(0)  # drops every idle buffer
    buffers.configure(64 << 20)
    yield
    buffers.configure(0)
    buffers.configure(512 << 20)


def test_small_arrays_are_plain() -> None:
    a = buffers.empty(100, np.float64)
    assert a.base is None and buffers.pool_bytes() == 0


def test_memory_is_reused_only_once_nothing_refers_to_it() -> None:
    a = buffers.empty(N, np.int64)
    a[:] = 7
    view = a[10:20]
    del a
    b = buffers.empty(N, np.int64)  # the first buffer is still seen through `view`
    assert not np.shares_memory(b, view)
    b[:] = 1
    assert (view == 7).all()
    first = id(view.base)
    del view
    c = buffers.empty((N // 4, 4), np.float64)  # now it is free again
    assert id(c.base) == first and c.shape == (N // 4, 4)


def test_the_bound_is_kept_and_zero_turns_pooling_off() -> None:
    buffers.configure(3 * N * 8)
    live = [buffers.empty(N, np.int64) for _ in range(4)]  # the fourth does not fit
    assert buffers.pool_bytes() <= 3 * N * 8
    assert live[3].base is None or live[3].base.nbytes <= 3 * N * 8
    del live
    buffers.configure(0)
    assert buffers.pool_bytes() == 0
    assert buffers.empty(N, np.int64).base is None
