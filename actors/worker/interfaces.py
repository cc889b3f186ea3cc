"""The seam between the agent (session to a manager's dispatcher) and the worker (runs
tasks). The agent hands assignments down; the worker reports task statuses up in batches.
Neither side knows how the other is built, so each can be tested alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from api.objects import Task, TaskStatus

__all__ = ["AssignmentSink", "StatusReporter"]


class AssignmentSink(Protocol):
    """Implemented by the worker."""

    def apply_assignments(self, full: bool, tasks: Sequence[Task], removed: Sequence[str]) -> None:
        """`full`: `tasks` is the complete set for this node (session start): any task the
        worker runs that is not in it is shut down and removed. Otherwise `tasks` are added
        or changed assignments and `removed` ids of tasks no longer assigned."""
        ...

    def current_statuses(self) -> Sequence[tuple[str, TaskStatus]]:
        """Latest known status of every task the worker holds: resent on a new session."""
        ...


class StatusReporter(Protocol):
    """Implemented by the agent. Must not block: it queues and sends in batches."""

    def report_status(self, updates: Sequence[tuple[str, TaskStatus]]) -> None: ...
