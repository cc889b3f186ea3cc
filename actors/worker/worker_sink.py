"""`WorkerSink`: the ``AssignmentSink`` over a running `Worker` (actors/worker/worker.py)
that the agent and the node hold.

Rules:
- Assignments are told, never asked: the agent's session thread never blocks on the
  worker.
- Statuses are asked with a timeout.
- ``ref`` may be a callable that returns the current ref (``lambda: directory.get(
  "worker")``), so a restarted worker is found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pykka

from api.objects import Task, TaskStatus

__all__ = ["WorkerSink"]


class WorkerSink:
    """An ``AssignmentSink`` over a running ``Worker`` (the module's rules)."""

    def __init__(
        self,
        ref: pykka.ActorRef[Any] | Callable[[], pykka.ActorRef[Any]],
        *,
        timeout: float = 5.0,
    ) -> None:
        self._ref = ref
        self._timeout = timeout

    def _current(self) -> pykka.ActorRef[Any]:
        return self._ref if isinstance(self._ref, pykka.ActorRef) else self._ref()

    def apply_assignments(self, full: bool, tasks: Sequence[Task], removed: Sequence[str]) -> None:
        self._current().proxy().apply_assignments(full, tuple(tasks), tuple(removed))

    def current_statuses(self) -> Sequence[tuple[str, TaskStatus]]:
        result: Sequence[tuple[str, TaskStatus]] = (
            self._current().proxy().current_statuses().get(timeout=self._timeout)
        )
        return result
