"""The agent's pure decisions: reconnect backoff, which manager to try, status coalescing.

Rules (SwarmKit's agent):
- After a session fails, wait ``SESSION_BACKOFF.delay(failures)``: 0.1 s doubled per
  failure, capped at 8 s, with "equal jitter" (a random point in the upper half of that
  delay) so workers that lost the same manager do not come back in step. A session that
  was established resets the count.
- A failed attempt moves on to the next manager of the list; each session frame brings the
  current list, which replaces the old one (the manager in use stays current if listed).
- A manager whose connection dropped (its process died) is set aside for
  ``UNREACHABLE_S``: the rotation skips it while another manager is not set aside. After
  a leader's crash its agents would otherwise spend a connect timeout on it in turn, while
  the live managers elect the next leader. A manager that refuses a session (a follower:
  "not the leader") answered, and one slow to answer (an overloaded new leader, with every
  node opening its session at once) is alive: both stay in the rotation.
- Status updates wait coalesced per task: a later state replaces an earlier one, an earlier
  one never replaces a later (states only move forward). Updates that could not be sent are
  put back without overwriting anything newer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from actors.backoff import Backoff
from actors.dispatcher.wire import ManagerAddress
from api.objects import TaskStatus

__all__ = ["SESSION_BACKOFF", "UNREACHABLE_S", "ManagerRotation", "StatusCoalescer"]

SESSION_BACKOFF: Final = Backoff.equal_jitter(initial=0.1, maximum=8.0)
# long enough for the live managers to elect a leader and for the agents to find it; short
# enough that a manager restarted at the same address is used again soon
UNREACHABLE_S: Final = 15.0


class ManagerRotation:
    def __init__(self, managers: Sequence[ManagerAddress]) -> None:
        if not managers:
            raise ValueError("the agent needs at least one manager address")
        self._managers = list(managers)
        self._index = 0
        self._unreachable: dict[ManagerAddress, float] = {}  # manager -> set aside until

    @property
    def managers(self) -> tuple[ManagerAddress, ...]:
        return tuple(self._managers)

    def current(self) -> ManagerAddress:
        return self._managers[self._index]

    def advance(self, now: float) -> ManagerAddress:
        """The next manager in the list that is not set aside at ``now``; the next one
        whatever it is when every other one is."""
        count = len(self._managers)
        for step in range(1, count + 1):
            index = (self._index + step) % count
            if self._unreachable.get(self._managers[index], 0.0) <= now:
                self._index = index
                return self.current()
        self._index = (self._index + 1) % count
        return self.current()

    def unreachable(self, manager: ManagerAddress, now: float) -> None:
        """``manager``'s connection dropped: skip it until ``now + UNREACHABLE_S``."""
        self._unreachable[manager] = now + UNREACHABLE_S

    def reached(self, manager: ManagerAddress) -> None:
        """A session with ``manager`` opened: it is in the rotation again."""
        self._unreachable.pop(manager, None)

    def update(self, managers: Sequence[ManagerAddress]) -> None:
        """The list a manager sent; an empty list keeps the one we have."""
        if not managers:
            return
        current = self.current()
        self._managers = list(managers)
        self._index = self._managers.index(current) if current in self._managers else 0
        listed = set(self._managers)
        self._unreachable = {m: t for m, t in self._unreachable.items() if m in listed}


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
