"""glibc's allocator, told to give memory back: most of a loaded timer's RSS was freed memory it kept.

Measured (decision 0026): after consuming 900,000 jobs in a burst, a timer holding none of them in RAM sat at 474 MiB
RSS, and the same process restarted with the 1,000,000 jobs on disk at 52 MiB. The difference was free memory in
glibc's heaps: librdkafka's threads each take a malloc arena (up to 8 per core), and its fetch buffers, once freed,
raise glibc's dynamic mmap threshold so that later ones come from the heaps, where small live blocks pin them.
A fixed mmap threshold sends large buffers to mmap (returned on free); fewer arenas bound the heaps; a periodic
trim returns the free pages left inside them. On anything but glibc these are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("chronohook.timer.memory")

# mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024
ARENA_MAX = 2


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def bound_allocator() -> None:
    """Call before any thread starts (librdkafka's start with the first client)."""
    if _LIBC is None:
        return
    _LIBC.mallopt(_M_ARENA_MAX, ARENA_MAX)
    _LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def release_free_memory() -> None:
    """Return free pages inside the heaps to the OS (a few ms; called every few seconds)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
