"""The worker's pure decisions about each task's runner. No I/O: the worker's runner
table carries them out (actors/worker/runner_table.py).

Rules:
- A task's runner is in one `Phase`: HELD (from disk, not started: waits for a manager's
  full set), QUEUED, STARTED, SETTLED (finished before any runner ran) or DONE.
- A task loaded from disk starts from the later of the status its assignment carries
  and the one the worker persisted (`initial_status`). It is held until a manager's full
  set says it is still assigned unless it had got to RUNNING or later (`held_at_start`):
  its runner then re-adopts a container, never starts one.
- A task never reported on that is to stop needs no runner: its first step takes no
  executor call (controller.py ``step``), so it is settled where it waits (`settle`):
  SHUTDOWN, and a removed one forgotten.
- A runner started for a task not yet RUNNING, and not being removed, takes a start slot
  (`takes_start_slot`); the task frees it when it gets there, ends, or waits at READY as
  desired (`reached_start`).
- A removed task (`removal`): a running runner is told to remove it; one never reported
  on (so never prepared), or settled, has no container and is forgotten; a held or done
  one may have a container, so a runner is queued to remove it; a queued one starts
  removing.
- A runner that crashes more than the limit within the window (`recent_crashes`) fails
  its task (`failed_by_crashes`), unless the task has ended already.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, replace

from actors.worker.controller import step
from api.objects import Task, TaskStatus
from api.task_state import TaskState

__all__ = [
    "Phase",
    "Removal",
    "Settled",
    "describe_crash",
    "failed_by_crashes",
    "held_at_start",
    "initial_status",
    "reached_start",
    "recent_crashes",
    "removal",
    "settle",
    "takes_start_slot",
]


class Phase(enum.Enum):
    """Where a task's runner is."""

    HELD = "held"  # from disk, not started yet: waits for a manager's full set
    QUEUED = "queued"  # waits its turn to start
    STARTED = "started"  # a runner runs it (or is restarted after a crash)
    SETTLED = "settled"  # finished before any runner ran: holds no thread
    DONE = "done"  # terminal; its runner ended (a removal starts one to remove it)


class Removal(enum.Enum):
    """What a task's removal takes, by where its runner is."""

    TELL_RUNNER = "tell runner"  # a runner runs it (a crashed one restarts removing)
    FORGET = "forget"  # no container was ever made
    QUEUE_RUNNER = "queue runner"  # a container may be there: a runner removes it
    QUEUED = "queued"  # already queued: its runner starts removing


@dataclass(frozen=True, slots=True)
class Settled:
    """A task settled without a runner: its final status, or forgotten (removed)."""

    status: TaskStatus
    forget: bool


def initial_status(task: Task, persisted: TaskStatus | None) -> TaskStatus:
    """The later of the assignment's status and the persisted one."""
    candidates = [task.status] + ([persisted] if persisted is not None else [])
    return max(candidates, key=lambda status: (status.state, status.timestamp))


def held_at_start(persisted: TaskStatus | None) -> bool:
    """Whether a task loaded from disk with the ``persisted`` status waits for a manager's
    full set before its runner starts (it never got to RUNNING)."""
    return persisted is None or persisted.state < TaskState.RUNNING


def settle(
    task: Task,
    status: TaskStatus,
    *,
    removing: bool,
    now: float,
    prepare_refuses_started: bool,
) -> Settled | None:
    """How ``task`` ends without a runner; None if it needs one (reported on before,
    so inspected first, or its first step calls the executor)."""
    if status.state >= TaskState.ACCEPTED:
        return None
    decision = step(
        desired=task.desired_state,
        status=status,
        outcome=None,
        removing=removing,
        now=now,
        prepare_refuses_started=prepare_refuses_started,
    )
    if decision.action is not None or not decision.status.state.is_terminal:
        return None
    return Settled(decision.status, forget=decision.finished)


def takes_start_slot(state: TaskState, *, removing: bool) -> bool:
    """Whether a runner started for a task in ``state`` is on its way to RUNNING."""
    return not removing and state < TaskState.RUNNING


def reached_start(state: TaskState, desired: TaskState | None) -> bool:
    """Whether a task on its way to RUNNING got there, ended, or waits at READY as
    ``desired`` (None: the task is gone)."""
    parked = desired is not None and desired < TaskState.RUNNING
    return state >= TaskState.RUNNING or (parked and state >= TaskState.READY)


def removal(phase: Phase, state: TaskState) -> Removal:
    """What removing a task in ``phase`` whose status is ``state`` takes."""
    if phase is Phase.STARTED:
        return Removal.TELL_RUNNER
    if state < TaskState.ACCEPTED or phase is Phase.SETTLED:
        return Removal.FORGET
    if phase in (Phase.HELD, Phase.DONE):
        return Removal.QUEUE_RUNNER
    return Removal.QUEUED


def recent_crashes(crashes: deque[float], now: float, window: float) -> int:
    """Record a crash at ``now`` in ``crashes`` and drop those older than ``window``
    seconds; how many remain."""
    crashes.append(now)
    while crashes and crashes[0] < now - window:
        crashes.popleft()
    return len(crashes)


def describe_crash(error: BaseException) -> str:
    """A runner's crash in one line, with its cause."""
    text = f"{type(error).__name__}: {error}"
    cause = error.__cause__
    if cause is not None:
        text = f"{text} ({type(cause).__name__}: {cause})"
    return text


def failed_by_crashes(status: TaskStatus, error: str, now: float) -> TaskStatus | None:
    """The task's status once its runner crashed too often; None if it ended already."""
    if status.state.is_terminal:
        return None
    return replace(
        status,
        state=TaskState.FAILED,
        message="failed",
        err=f"task runner crashed repeatedly: {error}",
        timestamp=now,
    )
