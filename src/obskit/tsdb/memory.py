"""Handing freed heap memory back to the OS after a flush or a compaction step.

Their temporaries (MiBs of numpy columns) are freed into glibc's arenas, where the small
allocations of ingest (made from several threads' arenas meanwhile) keep them fragmented: under
a fast ingest ~0.5 GiB of free arena space stayed resident. ``malloc_trim`` returns the free
pages of every arena; it costs a few ms per call, next to a flush that takes tens to hundreds.
A no-op where the C library has no ``malloc_trim`` (not glibc).

``use_one_arena`` is for a server process: glibc gives each thread its own arena, and frees
the top of a thread's arena only beyond a trim threshold that grows to 64 MiB (malloc_trim
leaves it alone), so every request thread kept tens of MiB of free memory resident. With one
arena for all threads (they allocate holding the GIL anyway) malloc_trim returns it all.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

__all__ = ["release_free_memory", "use_one_arena"]

_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def _libc_function(name: str) -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn: Callable[..., int] = getattr(libc, name)
    except (OSError, AttributeError):  # not glibc
        return None
    return fn


_MALLOC_TRIM = _libc_function("malloc_trim")


def release_free_memory() -> None:
    """Return free heap pages to the OS (glibc ``malloc_trim(0)``)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def use_one_arena() -> None:
    """Make every thread allocate from glibc's main arena (call before starting threads)."""
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, 1)
