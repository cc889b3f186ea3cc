"""Task status reports from workers: which to accept, and coalescing before a write.

Rules (DESIGN.md §4, SwarmKit's ``UpdateTaskStatus``):
- A worker may report only on a task assigned to its own node.
- The worker owns ACCEPTED and later; a report of a manager-owned state is refused.
- States only move forward (``can_transition``): a report behind the stored state is
  refused; one equal to it is a repeat (a resend after reconnecting) and is accepted without
  a write, unless it tells something new of a task not yet finished: a PREPARING task's
  progress (its message) or the host ports a RUNNING task got (``port_status``).
- Accepted reports wait in a ``StatusQueue``, one per task (a later state replaces an
  earlier one, an earlier one never replaces a later), and are written in one store batch
  per flush. The same judgement runs again inside the write, against the task as stored then.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from api.objects import Task, TaskStatus
from api.task_state import can_transition

__all__ = ["Decision", "PendingStatus", "StatusQueue", "StatusVerdict", "judge_status"]


class Decision(enum.Enum):
    WRITE = "write"
    REPEAT = "repeat"  # accepted; the store already has this state
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class StatusVerdict:
    decision: Decision
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.decision is not Decision.REFUSE


_WRITE = StatusVerdict(Decision.WRITE)
_REPEAT = StatusVerdict(Decision.REPEAT)


def judge_status(task: Task | None, node_id: str, status: TaskStatus) -> StatusVerdict:
    """May ``node_id`` set ``status`` on ``task`` (as stored now)?"""
    if task is None:
        return StatusVerdict(Decision.REFUSE, "no such task")
    if task.node_id != node_id:
        return StatusVerdict(Decision.REFUSE, "task is not assigned to this node")
    if status.state.manager_owned:
        return StatusVerdict(Decision.REFUSE, f"state {status.state.label} is set by managers")
    current = task.status.state
    if status.state == current:
        stored = task.status
        news = status.message != stored.message or status.port_status != stored.port_status
        return _WRITE if news and not current.is_terminal else _REPEAT
    if not can_transition(current, status.state):
        return StatusVerdict(
            Decision.REFUSE,
            f"task is {current.label}: cannot move back to {status.state.label}",
        )
    return _WRITE


@dataclass(frozen=True, slots=True)
class PendingStatus:
    task_id: str
    node_id: str
    status: TaskStatus


class StatusQueue:
    """Accepted reports waiting for the next write, coalesced per task."""

    def __init__(self) -> None:
        self._pending: dict[str, PendingStatus] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __iter__(self) -> Iterator[PendingStatus]:
        return iter(self._pending.values())

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._pending

    def add(self, task_id: str, node_id: str, status: TaskStatus) -> None:
        current = self._pending.get(task_id)
        if current is not None and status.state < current.status.state:
            return
        self._pending[task_id] = PendingStatus(task_id, node_id, status)

    def take(self) -> list[PendingStatus]:
        out = list(self._pending.values())
        self._pending.clear()
        return out
