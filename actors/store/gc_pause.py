"""The cyclic garbage collector paused while a snapshot is encoded or decoded.

Decoding 100,000 tasks allocates millions of containers; each allocation burst starts a
collection that walks every tracked object, the whole store included, so the collector
took about 45% of a restore and 30% of an encoding (bench/store.py). The objects made are
acyclic and long-lived: nothing for it to find. Pauses nest across threads (the Raft
loop may restore while the snapshotter thread encodes): the collector runs again when the
last one ends, and only if it was running before the first.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused", "reset_after_fork", "to_oldest_generation"]

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


def reset_after_fork() -> None:
    """In a child just forked (raft_node/snapshotter.py encodes a snapshot in one): only
    the thread that forked runs there, so a lock another thread held at the fork would
    never be released."""
    global _lock
    _lock = threading.Lock()


def to_oldest_generation() -> None:
    """Move every object the collector tracks into its oldest generation, scanning none
    (``gc.freeze`` then ``gc.unfreeze``), while a pause holds (a restore, at its end).

    A restore makes the store's millions of objects while the collector is paused, all of
    them young; the first allocation after the pause then started a young collection that
    walked them all (0.1 s of a 100,000-task restore's 0.75) and passed them on to the
    middle generation, to be walked again. In the oldest they wait for a full collection,
    which heap.py's thresholds make rare, as they do for a store built by writes. Nothing
    is frozen: a cycle among them is found at the next full collection."""
    gc.freeze()
    gc.unfreeze()
