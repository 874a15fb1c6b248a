"""Reusable memory for the big temporary arrays of queries (select outputs, kernel outputs).

A 24 h select of 200 series is ~18 MB of fresh columns; with the server's allocator settings
(``obskit.tsdb.memory``: blocks from 256 KiB on are mmapped and returned on free) every query
faults those pages in again, and the kernel's page zeroing and fault handling took ~30 % of a
query like ``count(up)``. ``empty`` hands out arrays carved from pooled buffers instead: a buffer
is taken again only once no array refers to it (its reference count is back to the pool's own),
so reuse can never alias live data. Buffers below ``MIN_BYTES`` are plain ``np.empty``; the
pool keeps at most ``max_bytes`` (``configure``; 0 turns it off), dropping idle buffers first.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MIN_BYTES", "configure", "empty", "pool_bytes"]

MIN_BYTES = 1 << 20
_GRAIN = 1 << 20  # buffer sizes are multiples of this (a little headroom for the next query)

_lock = threading.Lock()
_buffers: list[npt.NDArray[np.uint8]] = []
_max_bytes = 512 << 20


def configure(max_bytes: int) -> None:
    """Keep at most ``max_bytes`` of pooled buffers (0: no pooling); idle ones beyond it go."""
    global _max_bytes
    with _lock:
        _max_bytes = max(0, max_bytes)
        _trim(0)


def pool_bytes() -> int:
    """Bytes held by the pool (in use or idle)."""
    with _lock:
        return sum(b.nbytes for b in _buffers)


def _idle(i: int) -> bool:
    # the list's reference and getrefcount's argument: no array is carved from it
    return sys.getrefcount(_buffers[i]) == 2


def _trim(need: int) -> None:
    """Drop idle buffers until ``need`` more bytes fit under the bound."""
    total = sum(b.nbytes for b in _buffers)
    i = 0
    while total + need > _max_bytes and i < len(_buffers):
        if _idle(i):
            total -= _buffers.pop(i).nbytes
        else:
            i += 1


def empty(shape: int | tuple[int, ...], dtype: Any) -> npt.NDArray[Any]:
    """``np.empty(shape, dtype)``, from a pooled buffer when it is big (contents undefined)."""
    dt = np.dtype(dtype)
    count = int(np.prod(shape)) if isinstance(shape, tuple) else int(shape)
    nbytes = count * dt.itemsize
    if nbytes < MIN_BYTES or _max_bytes == 0:
        return np.empty(shape, dt)
    with _lock:
        best = -1
        for i in range(len(_buffers)):  # no loop variable may hold a buffer (see _idle)
            size = _buffers[i].nbytes
            fits = nbytes <= size <= 2 * nbytes
            if fits and (best < 0 or size < _buffers[best].nbytes) and _idle(i):
                best = i
        if best < 0:
            size = -(-nbytes * 5 // 4 // _GRAIN) * _GRAIN
            _trim(size)
            if sum(b.nbytes for b in _buffers) + size > _max_bytes:
                return np.empty(shape, dt)
            _buffers.append(np.empty(size, np.uint8))
            best = len(_buffers) - 1
        out: npt.NDArray[Any] = _buffers[best][:nbytes].view(dt).reshape(shape)
        return out
