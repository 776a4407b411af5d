"""The service process's memory: allocator settings at start, freed memory given back after
each export (docs/SERVICE.md, "Limits").

What the service holds between exports is Python objects (the clinic's patients as read, the
export memo, the plan and cache of the published objects): at 50,000 patients about 310 MiB
of live small objects in Python's own allocator, and 60-100 MiB in glibc's heap. glibc adds
two costs of its own on top, which these settings remove:

- each thread that allocates gets its own heap ("arena"), up to 8 per core: the upload pool's
  threads each left one behind, 8-9 heaps at 50,000 patients, each holding freed memory
  that ``malloc_trim`` returns only page by page. Two arenas: the main thread's (the export)
  and one shared by every other thread (uploads, the watcher, the heartbeat);
- the size from which a block gets its own mapping grows with the largest block freed
  (sealed objects and index JSON are megabytes at 50,000 patients), so later blocks that
  size are carved from the heap instead and stay mapped after they are freed. A fixed
  threshold keeps every large block in its own mapping, returned to the system on free.

Only glibc has these knobs; elsewhere (macOS, Windows, musl) nothing is changed.
"""
from __future__ import annotations

import ctypes
import sys

# mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

ARENA_MAX = 2
MMAP_THRESHOLD = 256 * 1024  # glibc starts at 128 KiB and lets it grow to 32 MiB


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # only glibc has it; musl's mallopt does nothing
    except (OSError, AttributeError):
        return None
    return libc


def tune_allocator() -> bool:
    """Apply the settings above to this process; True when the C library took them.

    Call it before the service starts any thread: a thread that already made its arena
    keeps it."""
    libc = _glibc()
    if libc is None:
        return False
    ok = libc.mallopt(M_ARENA_MAX, ARENA_MAX) == 1
    return libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and ok


def give_back_memory() -> None:
    """Return the heap pages an export freed to the system: glibc keeps freed memory for later
    allocations, so the service's RSS would stay at its highest point (after the startup
    export, which reads every row) instead of what the memo holds."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
