"""How this process's cyclic garbage collector and its C allocator run.

A manager holds every object of the cluster in memory (100,000 tasks are millions of
Python objects) and makes new ones at a high rate while it applies entries (each decoded
object is a tree of dicts, lists and dataclasses). With CPython's default thresholds
(700, 10, 10) a collection of the young generation runs every 700 allocations and the
oldest generation is scanned whenever a quarter as many objects as it holds have survived
into it since the last full scan, which is often while the store grows: unpacking and
decoding an entry cost several times what they cost in an empty process.

Our objects are immutable trees without cycles, freed by reference counting, so the
collector only has cycles to find (tracebacks, pykka's internals): rarer young
collections (``YOUNG``) and older generations scanned after many more of them lose
nothing that matters and spare most of that time.

The C allocator (glibc's malloc, which CPython uses for every block over 512 bytes):
a block of at least ``MMAP_THRESHOLD`` bytes is mapped on its own and unmapped when
freed. glibc raises that threshold by default each time such a block is freed, up to
32 MiB, so once a snapshot (tens of MB), a Raft entry (up to 2 MiB) or a frame has been
freed, the next ones come from the heap, between long-lived objects, and the memory they
leave is rarely handed back: at 100,000 tasks a third of a manager's resident memory was
such free space (bench/store.py: 2,976 B per task, 2,059 with the threshold fixed).
``tune_malloc`` fixes the threshold, which also stops glibc moving it, at 1 MiB rather
than glibc's initial 128 KiB: each mapped block is fresh pages the kernel must fault in,
and with 128 KiB every entry and frame was one (bench/store.py at 30,000 tasks: 1,920 B
per task but 1.0 s more system time for 90,000 writes, 4.7 times the page faults; with
1 MiB 2,200 B per task and the untuned process's CPU time; untuned 3,100 B).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from typing import Final

__all__ = ["MMAP_THRESHOLD", "OLDER", "YOUNG", "tune_collector", "tune_malloc"]

YOUNG: Final = 50_000  # allocations (net of frees) between two young collections
OLDER: Final = 20  # young collections per middle one, and middle per old one


def tune_collector() -> tuple[int, int, int]:
    """Set the thresholds for a process that holds a cluster; returns the old ones."""
    old = gc.get_threshold()
    gc.set_threshold(YOUNG, OLDER, OLDER)
    return (old[0], old[1], old[2])


MMAP_THRESHOLD: Final = 1 << 20
_M_MMAP_THRESHOLD: Final = -3  # mallopt's parameter number (malloc.h)


def tune_malloc() -> bool:
    """Fix glibc's mmap threshold (see the module doc); False where the C library is
    not glibc (nothing to tune: musl and others map large blocks on their own)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
