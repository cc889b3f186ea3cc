"""Which proposals of a ``Batch`` are in flight, and which of them last wrote each object.

A batch used to wait for each full proposal to commit before it ran the next write, so
the proposing thread idled for a Raft round trip and an fsync every 500 writes. Now up
to ``max_in_flight`` proposals are sent and not yet answered while the next one fills.
Rules (the batch, actors/store/batch.py, carries them out):

- Proposals are numbered in the order they are filled and sent; they are proposed, and
  so committed, in that order, and their verdicts are taken oldest first (``settle``).
- A later write sees the writes of proposals in flight (the batch's overlay keeps them
  until their proposal is settled: then the store holds them, or their refusal).
- A write in the proposal being filled that changes an object an earlier write of the
  same proposal changed expects ``CHAINED`` (that entry's own index). One that changes an
  object last written by a proposal *in flight* cannot name that version before it is
  known: the batch settles that proposal first (``owners_in_flight``), and the write then
  expects the index its entry committed at (``index_of``): refused, like any stale write,
  if that earlier write was.
"""

from __future__ import annotations

import collections
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

__all__ = ["Pipeline"]

K = TypeVar("K", bound=Hashable)


class Pipeline(Generic[K]):
    def __init__(self, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.max_in_flight = max_in_flight
        self.filling = 0  # the number of the proposal being filled
        self._in_flight: collections.deque[int] = collections.deque()
        self._owner: dict[K, int] = {}  # the proposal that last wrote each object
        self._wrote: dict[int, list[K]] = {}  # what each unsettled proposal wrote
        self._index: dict[int, int] = {}  # the index each settled proposal committed at

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def wrote(self, keys: Iterable[K]) -> None:
        """The proposal being filled writes these objects."""
        mine = self._wrote.setdefault(self.filling, [])
        for key in keys:
            self._owner[key] = self.filling
            mine.append(key)

    def owners_in_flight(self, keys: Iterable[K]) -> dict[K, int]:
        """Of ``keys``, those a proposal in flight (sent, not settled) wrote last, and
        which one; the others are the store's, or the filling proposal's."""
        owners: dict[K, int] = {}
        for key in keys:
            owner = self._owner.get(key)
            if owner is not None and owner != self.filling:
                owners[key] = owner
        return owners

    def send(self) -> int:
        """The proposal being filled is sent: its number; the next one starts filling."""
        sent = self.filling
        self._in_flight.append(sent)
        self.filling += 1
        return sent

    def over_limit(self) -> bool:
        return len(self._in_flight) > self.max_in_flight

    def oldest(self) -> int | None:
        return self._in_flight[0] if self._in_flight else None

    def settle(self, seq: int, index: int | None) -> list[K]:
        """The verdict of ``seq`` (the oldest in flight) is taken; ``index``: where its
        entry committed (None: it failed). Returns the objects it was the last to write,
        which the store now holds as they are to be read (or as they were)."""
        if seq != self.oldest():
            raise ValueError(f"proposal {seq} settled out of order (oldest {self.oldest()})")
        self._in_flight.popleft()
        if index is not None:
            self._index[seq] = index
        settled = []
        for key in self._wrote.pop(seq, []):
            if self._owner.get(key) == seq:
                del self._owner[key]
                settled.append(key)
        return settled

    def index_of(self, seq: int) -> int | None:
        """The index a settled proposal committed at (None: not settled, or it failed)."""
        return self._index.get(seq)
