"""The worker's start queue: the tasks whose runners wait to start, and those on their
way to RUNNING (its user: actors/worker/runner_table.py). Pure: the runner table tells the
worker the wake-ups this says to tell, and starts the runners.

Rules:
- Runners start ``chunk`` at a time, one wake-up (a mailbox message) per chunk, so the
  assignments that come meanwhile are applied between chunks.
- At most ``max_starting`` tasks are on their way to RUNNING at once; the queue's next
  waits for one of them to get there or end (`free`).
- At most one wake-up is in the worker's mailbox at a time: `push`, `free` and `more`
  say True only when the queue holds some and none is there already; `woken` says the
  worker took it.
"""

from __future__ import annotations

from collections import deque

__all__ = ["StartQueue"]


class StartQueue:
    """Task ids waiting to start and those on their way (the module's rules)."""

    def __init__(self, chunk: int, max_starting: int) -> None:
        self.chunk = chunk
        self.max_starting = max_starting
        self._queue: deque[str] = deque()  # task ids whose runners wait to start
        self._starting: set[str] = set()  # task ids on their way to RUNNING
        self._told = False  # a wake-up is in the worker's mailbox

    def push(self, task_id: str) -> bool:
        """Queue ``task_id``; True: tell a wake-up."""
        self._queue.append(task_id)
        return self._wake()

    def woken(self) -> None:
        """The worker took the wake-up: the next one is told again."""
        self._told = False

    def next(self) -> str | None:
        """The task id at the head of the queue (None: empty)."""
        return self._queue[0] if self._queue else None

    def drop(self) -> None:
        """Take the head off the queue (started, or not to start any more)."""
        self._queue.popleft()

    def full(self) -> bool:
        """Whether ``max_starting`` tasks are on their way already."""
        return len(self._starting) >= self.max_starting

    def on_its_way(self, task_id: str) -> None:
        self._starting.add(task_id)

    def is_starting(self, task_id: str) -> bool:
        return task_id in self._starting

    def free(self, task_id: str) -> bool:
        """``task_id`` is no longer on its way; True: tell a wake-up (the queue's next
        may start)."""
        if task_id not in self._starting:
            return False
        self._starting.discard(task_id)
        return self._wake()

    def more(self) -> bool:
        """After a chunk: True to tell a wake-up for the rest."""
        return self._wake()

    def clear(self) -> None:
        self._queue.clear()

    def _wake(self) -> bool:
        if self._queue and not self._told:
            self._told = True
            return True
        return False
