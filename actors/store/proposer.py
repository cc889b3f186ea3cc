"""The store's one dependency for writing: a ``Proposer``.

``propose(data)`` hands an encoded batch to consensus and returns a future. The proposer
must call ``MemoryStore.apply(index, data)`` for every committed entry, in log order, on
every manager (including entries proposed elsewhere). The future completes after the
entry is committed (its result is ignored) or fails with a ``ProposalError`` — usually
``NotLeader`` or ``ProposalDropped``. The store delivers the verdict of a write from its
own ``apply``, so the future may complete before or after the local apply.

``LocalProposer`` is the proposer of a store without Raft (tests, single process):
it numbers entries 1, 2, 3... and applies each at once, in the caller's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

__all__ = ["LocalProposer", "Proposer"]


class Proposer(Protocol):
    def propose(self, data: bytes) -> Future[Any]: ...


class LocalProposer:
    """Commits every proposal at once: index = last index + 1, then ``apply``."""

    def __init__(self, apply: Callable[[int, bytes], object], *, start_index: int = 0) -> None:
        self._apply = apply
        self._index = start_index
        self._lock = threading.Lock()

    @property
    def index(self) -> int:
        return self._index

    def propose(self, data: bytes) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            self._index += 1
            index = self._index
            self._apply(index, data)
        future.set_result(index)
        return future
