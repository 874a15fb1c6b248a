"""Handing freed heap memory back to the OS after a flush or a compaction step.

Their temporaries (MiBs of numpy columns) are freed into glibc's arenas, where the small
allocations of ingest (made from several threads' arenas meanwhile) keep them fragmented: under
a fast ingest ~0.5 GiB of free arena space stayed resident. ``malloc_trim`` returns the free
pages of every arena; it costs a few ms per call, next to a flush that takes tens to hundreds.
A no-op where the C library has no ``malloc_trim`` (not glibc).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

__all__ = ["release_free_memory"]


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def release_free_memory() -> None:
    """Return free heap pages to the OS (glibc ``malloc_trim(0)``)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
