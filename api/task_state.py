"""The task state machine.

Rules (SwarmKit's, DESIGN.md §4):
- States are spaced 64 apart so new ones can be inserted later; 128 is kept free for
  SwarmKit's ALLOCATED, which swarmnode does not use.
- A task's observed state only moves forward: a transition to a lower or equal state is
  refused (``can_transition``).
- Managers own NEW → PENDING → ASSIGNED (orchestrator creates, scheduler assigns); the
  worker owns ACCEPTED and everything after it.
- COMPLETE and later are terminal: the task never runs again; a replacement is a new task.
- A task on a node that has been DOWN for 24 h becomes ORPHANED.
"""

from __future__ import annotations

import enum

__all__ = ["TaskState", "can_transition", "is_terminal", "parse_task_state"]


class TaskState(enum.IntEnum):
    NEW = 0
    PENDING = 64
    ASSIGNED = 192
    ACCEPTED = 256
    PREPARING = 320
    READY = 384
    STARTING = 448
    RUNNING = 512
    COMPLETE = 576
    SHUTDOWN = 640
    FAILED = 704
    REJECTED = 768
    REMOVE = 800
    ORPHANED = 832

    @property
    def label(self) -> str:
        """Lower-case name, as ``docker service ps`` prints it (``running``)."""
        return self.name.lower()

    @property
    def is_terminal(self) -> bool:
        return self >= TaskState.COMPLETE

    @property
    def manager_owned(self) -> bool:
        """True for the states a manager may set (up to ASSIGNED)."""
        return self <= TaskState.ASSIGNED

    def __str__(self) -> str:
        return self.label


def is_terminal(state: TaskState) -> bool:
    """True for COMPLETE and every state after it."""
    return state >= TaskState.COMPLETE


def can_transition(current: TaskState, new: TaskState) -> bool:
    """True when a task may move from ``current`` to ``new``: states only move forward."""
    return new > current


def parse_task_state(name: str) -> TaskState:
    """``'running'`` or ``'RUNNING'`` → ``TaskState.RUNNING``; ValueError names the input."""
    try:
        return TaskState[name.strip().upper()]
    except KeyError:
        choices = ", ".join(s.label for s in TaskState)
        raise ValueError(f"unknown task state {name!r} (expected one of: {choices})") from None
