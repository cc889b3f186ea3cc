"""Futures of proposals waiting for their entries, owned by the Raft loop thread.

Rules:
- `Proposals` (leader side): a proposal made at index i in term t succeeds when the
  committed entry at i has term t, once it is applied locally; a committed entry of
  another term at i means it was overwritten (ProposalDropped). Losing leadership fails
  every pending proposal with ProposalDropped: the outcome is unknown (SwarmKit does the
  same), a new leader may still commit it.
- `AppliedWaiters` (any node): futures resolved once the local applied index reaches an
  index; used for writes forwarded to the leader, so that a write is readable on the node
  that made it when its future completes.
Only the loop thread touches these; futures are completed outside any lock.
"""

from __future__ import annotations

import contextlib
import heapq
from typing import Any, Protocol

from actors.proposal_errors import ProposalDropped, ProposalError

__all__ = ["AppliedWaiters", "Completion", "Proposals", "reject", "resolve"]


class Completion(Protocol):
    """Where a proposal's outcome goes: a `concurrent.futures.Future`, or a lighter object
    that answers a peer's request itself (handlers.py), on the loop thread."""

    def set_result(self, result: Any) -> None: ...

    def set_exception(self, exception: BaseException) -> None: ...

    def done(self) -> bool: ...


def resolve(future: Completion, value: Any) -> None:
    try:  # noqa: SIM105  (hot path: one condition round, not a done() check first)
        future.set_result(value)
    except Exception:  # done already: cancelled meanwhile
        pass


def reject(future: Completion, error: BaseException) -> None:
    if not future.done():
        with contextlib.suppress(Exception):
            future.set_exception(error)


class Proposals:
    """index -> (term, future) for proposals this leader appended."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: dict[int, tuple[int, Completion]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, index: int, term: int, future: Completion) -> None:
        self._pending[index] = (term, future)

    def add_run(self, first: int, term: int, futures: list[Completion]) -> None:
        pending = self._pending
        for i, future in enumerate(futures, first):
            pending[i] = (term, future)

    def applied(self, index: int, term: int) -> None:
        """The committed entry (index, term) was applied locally."""
        if not self._pending:
            return
        got = self._pending.pop(index, None)
        if got is None:
            return
        if got[0] == term:
            resolve(got[1], index)
        else:
            reject(
                got[1],
                ProposalDropped(
                    f"entry {index} proposed in term {got[0]} was overwritten by term {term}"
                ),
            )

    def fail_all(self, error: ProposalError) -> None:
        pending, self._pending = self._pending, {}
        for _, future in pending.values():
            reject(future, error)

    def fail_through(self, index: int, error: ProposalError) -> None:
        """Fail the proposals at or below `index` (covered by an installed snapshot)."""
        for i in [i for i in self._pending if i <= index]:
            reject(self._pending.pop(i)[1], error)


class AppliedWaiters:
    """Futures resolved (with their index) when the applied index reaches that index."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Completion]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, index: int, future: Completion) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (index, self._seq, future))

    def applied(self, index: int) -> None:
        heap = self._heap
        while heap and heap[0][0] <= index:
            i, _, future = heapq.heappop(heap)
            resolve(future, i)

    def fail_all(self, error: ProposalError) -> None:
        heap, self._heap = self._heap, []
        for _, _, future in heap:
            reject(future, error)
