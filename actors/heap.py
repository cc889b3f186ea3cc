"""How this process's cyclic garbage collector runs.

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
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["OLDER", "YOUNG", "tune_collector"]

YOUNG: Final = 50_000  # allocations (net of frees) between two young collections
OLDER: Final = 20  # young collections per middle one, and middle per old one


def tune_collector() -> tuple[int, int, int]:
    """Set the thresholds for a process that holds a cluster; returns the old ones."""
    old = gc.get_threshold()
    gc.set_threshold(YOUNG, OLDER, OLDER)
    return (old[0], old[1], old[2])
