"""The agent's pure decisions: reconnect backoff, which manager to try, status coalescing.

Rules (SwarmKit's agent):
- After a session fails, wait ``SESSION_BACKOFF.delay(backoff_step(failures, managers))``:
  0.1 s doubled per round of failures through the manager list, capped at 8 s, with
  "equal jitter" (a random point in the upper half of that delay) so workers that lost
  the same manager do not come back in step. A session that was established resets the
  count. Per round, not per failure: while the managers elect a new leader, each live one
  refuses at once and the dead one refuses the connection, so a doubling per failure
  reached seconds before the election ended and left the nodes away long enough to be
  marked DOWN.
- A failed attempt moves on to the next manager of the list; each session frame brings the
  current list, which replaces the old one (the manager in use stays current if listed).
  `SessionRetry` keeps the list and the count of failures.
- Status updates wait coalesced per task: a later state replaces an earlier one, an earlier
  one never replaces a later (states only move forward). Updates that could not be sent are
  put back without overwriting anything newer.
- A new session sends again the status of each task the node holds, unless its first
  frame (the manager's full set, each task as the store holds it) already carries that
  very status. SwarmKit's worker reports every task again; after a failover at 100,000
  tasks the new leader decoded and judged 100,000 statuses it held already, while a
  thousand sessions waited to open.
- Each heartbeat reply says how many frames the manager has streamed on the session; fewer
  received by the next heartbeat, a whole period later, means frames were lost (the
  manager's endpoint restarted under a live session, say): the session is reopened for a
  fresh full set (`lost_frames`). Checked a period later, a frame still on its way when
  the manager counted it is not taken for lost.
- A status batch or heartbeat answered ``busy`` (the manager's request queue is full) keeps
  the session: the batch is put back and the call tried again ``BUSY_RETRY`` later. Ending
  the session made an overloaded leader worse: each node went round the managers and
  opened a new session, whose full set and statuses cost the leader more than the calls
  it had refused (a run at 100,000 tasks: 162 sessions ended so, then 35 s instead of 27).
- So does a status batch with no reply within the request timeout (SwarmKit's agent never
  ends a session for a status update either): the batch is put back and sent again
  ``BUSY_RETRY`` later, and the heartbeat alone says whether the manager is there. A leader
  slowed in bursts (a profiler attached) answered heartbeats but not all status batches in
  time; each node then left for the followers, which refused it, and came back
  after the leader had expired its session: a 100,000-task create lost 150-630 sessions
  so and rescheduled 14,000-36,000 tasks.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Final

from actors.backoff import Backoff
from actors.dispatcher.wire import ManagerAddress
from api.objects import Task, TaskStatus

__all__ = [
    "BUSY_RETRY",
    "SESSION_BACKOFF",
    "ManagerRotation",
    "SessionRetry",
    "StatusCoalescer",
    "backoff_step",
    "lost_frames",
    "statuses_to_resend",
]

SESSION_BACKOFF: Final = Backoff.equal_jitter(initial=0.1, maximum=8.0)
BUSY_RETRY: Final = 0.5  # seconds before a call the manager answered busy is made again


def backoff_step(failures: int, managers: int) -> int:
    """The backoff's step after ``failures`` sessions failed in a row: one per round
    through a list of ``managers`` (1 for the first round)."""
    return max(1, -(-failures // max(1, managers)))


def lost_frames(received: int, expected: int) -> str | None:
    """Why the session must be reopened at a heartbeat: ``received`` frames of the session
    stream so far, against the ``expected`` the manager said it had streamed at the
    heartbeat before; None when none were lost."""
    if received < expected:
        return f"session stream lost frames ({received} of {expected} received)"
    return None


def statuses_to_resend(
    current: Iterable[tuple[str, TaskStatus]], full_set: Iterable[Task] | None
) -> list[tuple[str, TaskStatus]]:
    """Of the node's ``current`` statuses, those a new session's ``full_set`` (None: its
    first frame is not a full set) does not hold as they are; never one in a state
    managers set (a task not stepped yet still has the manager's ASSIGNED), which the
    dispatcher would refuse."""
    held = {task.id: task.status for task in full_set or ()}
    return [
        (task_id, status)
        for task_id, status in current
        if not status.state.manager_owned and held.get(task_id) != status
    ]


class ManagerRotation:
    def __init__(self, managers: Sequence[ManagerAddress]) -> None:
        if not managers:
            raise ValueError("the agent needs at least one manager address")
        self._managers = list(managers)
        self._index = 0

    @property
    def managers(self) -> tuple[ManagerAddress, ...]:
        return tuple(self._managers)

    def current(self) -> ManagerAddress:
        return self._managers[self._index]

    def advance(self) -> ManagerAddress:
        self._index = (self._index + 1) % len(self._managers)
        return self.current()

    def update(self, managers: Sequence[ManagerAddress]) -> None:
        """The list a manager sent; an empty list keeps the one we have."""
        if not managers:
            return
        current = self.current()
        self._managers = list(managers)
        self._index = self._managers.index(current) if current in self._managers else 0


class SessionRetry:
    """Which manager the next session tries, and how long it waits first (the module's
    first two rules)."""

    def __init__(
        self,
        managers: Sequence[ManagerAddress],
        backoff: Backoff,
        rng: random.Random,
    ) -> None:
        self.rotation = ManagerRotation(managers)
        self._backoff = backoff
        self._rng = rng
        self._failures = 0  # sessions failed in a row

    def opened(self) -> None:
        """A session was established: the next failure is the first again."""
        self._failures = 0

    def failed(self) -> float:
        """A session or an attempt ended: the rotation moves on to the next manager; the
        seconds to wait before trying it."""
        self.rotation.advance()
        self._failures += 1
        step = backoff_step(self._failures, len(self.rotation.managers))
        return self._backoff.delay(step, self._rng)


class StatusCoalescer:
    def __init__(self) -> None:
        self._pending: dict[str, TaskStatus] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, updates: Iterable[tuple[str, TaskStatus]]) -> None:
        for task_id, status in updates:
            self.put(task_id, status)

    def put(self, task_id: str, status: TaskStatus) -> None:
        """One update (``add`` of one, without the pair and the list)."""
        current = self._pending.get(task_id)
        if current is None or status.state >= current.state:
            self._pending[task_id] = status

    def requeue(self, updates: Iterable[tuple[str, TaskStatus]]) -> None:
        """Put back updates that were not sent; anything newer queued meanwhile wins."""
        for task_id, status in updates:
            current = self._pending.get(task_id)
            if current is None or status.state > current.state:
                self._pending[task_id] = status

    def take(self, limit: int) -> list[tuple[str, TaskStatus]]:
        """Up to ``limit`` updates, oldest queued first."""
        out: list[tuple[str, TaskStatus]] = []
        for task_id in list(self._pending)[:limit]:
            out.append((task_id, self._pending.pop(task_id)))
        return out
