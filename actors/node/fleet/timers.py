"""The fleet loop's timers (loop.py): every node's session wake-up and its tasks' timers on
one heap, so that each turn of the loop waits until the earliest and fires what is due.

- A node has one session wake-up that counts: the earliest asked for. A later one is
  ignored while it waits (the loop polls the session when it fires and asks for the next
  then); an earlier one supersedes it, and the entry it superseded, still on the heap, is
  skipped when it comes due.
- A task timer (tasks.py ``Timer``) is handed back as it was asked for: a stale one is
  for the node's tasks to ignore (its token).
- Entries due at the same time come in the order they were asked for.

Pure: the loop passes ``now``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator

from actors.node.fleet.tasks import Timer

__all__ = ["FleetTimers"]

_NEVER = float("inf")


class FleetTimers:
    def __init__(self, nodes: int) -> None:
        # (due, order asked, node index, the task timer; None: the session's wake-up)
        self._heap: list[tuple[float, int, int, Timer | None]] = []
        self._order = itertools.count()
        self._wake = [_NEVER] * nodes  # each node's wake-up that counts

    def wake_at(self, index: int, due: float) -> None:
        """Node ``index``'s session asks to be polled at ``due`` (inf: not at all)."""
        if due < self._wake[index]:
            self._wake[index] = due
            self._push(due, index, None)

    def task_at(self, index: int, due: float, timer: Timer) -> None:
        """Hand ``timer`` back to node ``index``'s tasks at ``due``."""
        self._push(due, index, timer)

    def next_due(self) -> float | None:
        """When the earliest entry is due (maybe a superseded wake-up); None: none."""
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> Iterator[tuple[int, Timer | None]]:
        """Each entry due by ``now``, taken off as it is read: the node's index and the
        task timer, or None for the node's session wake-up."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _order, index, timer = heapq.heappop(heap)
            if timer is None:
                if due != self._wake[index]:
                    continue  # superseded by an earlier wake-up
                self._wake[index] = _NEVER
            yield index, timer

    def _push(self, due: float, index: int, timer: Timer | None) -> None:
        if due != _NEVER:
            heapq.heappush(self._heap, (due, next(self._order), index, timer))
