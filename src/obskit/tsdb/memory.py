"""Handing freed heap memory back to the OS after a flush or a compaction step.

Their temporaries (MiBs of numpy columns) are freed into glibc's arenas, where the small
allocations of ingest (made from several threads' arenas meanwhile) keep them fragmented: under
a fast ingest ~0.5 GiB of free arena space stayed resident. ``malloc_trim`` returns the free
pages of every arena; it costs a few ms per call, next to a flush that takes tens to hundreds.
A no-op where the C library has no ``malloc_trim`` (not glibc).

``configure_server_allocator`` is for a server process. glibc gives each thread its own
arena, and frees the top of a thread's arena only beyond a trim threshold that grows to 64 MiB
(malloc_trim leaves it alone), so every request thread kept tens of MiB of free memory
resident; with one arena for all threads (they allocate holding the GIL anyway) malloc_trim
returns it all. glibc's mmap threshold also rises (up to 32 MiB) each time a large block is
freed, after which the MiB-sized numpy columns of head merges and flush and compaction steps
come from the arena, where a few live small allocations above them keep the freed space
resident until the next trim (40-70 MiB under a fast ingest); with a fixed 256 KiB threshold
they are mmapped and go back to the OS when freed, for page faults on their first touch
(~2 % of ingest CPU).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

__all__ = ["configure_server_allocator", "release_free_memory"]

# glibc's mallopt parameter numbers
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# Blocks from this size on are mmapped (and unmapped on free): a remote-write request's columns
# (~40 KiB each) stay in the arena, head parts and flush/compaction steps (MiBs) do not.
_MMAP_THRESHOLD_BYTES = 256 << 10
# Free space at the top of the arena beyond this goes back to the OS on free (glibc's default,
# 128 KiB, becomes 2x the mmap threshold once that moves; fixing it keeps it small).
_TRIM_THRESHOLD_BYTES = 4 << 20


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


def configure_server_allocator() -> None:
    """Make every thread allocate from glibc's main arena, and mmap large blocks (call before
    starting threads)."""
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, 1)
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
