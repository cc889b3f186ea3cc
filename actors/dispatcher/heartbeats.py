"""Heartbeat deadlines of the nodes a dispatcher watches.

Rules (SwarmKit's dispatcher, DESIGN.md §5):
- A session's worker heartbeats at a period the dispatcher names in each reply: the cluster's
  ``heartbeat_period`` with a random jitter of ± ``jitter`` of it (at most ``max_jitter``
  seconds), so the workers of a cluster do not beat in step.
- A node's deadline is its last beat plus ``grace`` (3) times the period it was given; a
  node that passes it has missed three periods: it is DOWN ("heartbeat failure").
- When a dispatcher starts (a leader change), every node it knows that is not DOWN starts
  UNKNOWN with ``unknown_grace`` (6) periods to open a session before it is DOWN too.
  A node that asks for a session is alive even while its open waits to be served: its
  deadline is then at least ``grace`` periods away (``unknown_grace`` while unknown).
  After a leader change the new leader serves 1,000 opens while it reads every task;
  nodes whose opens it had not served yet went DOWN and their tasks were rescheduled.
- Pure: time (``now``) and randomness (``rng``) are given by the caller.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from actors.backoff import Backoff

__all__ = [
    "HEARTBEAT_FAILURE",
    "UNKNOWN_HEARTBEAT_FAILURE",
    "Expiry",
    "HeartbeatConfig",
    "HeartbeatTracker",
]

HEARTBEAT_FAILURE = "heartbeat failure"
UNKNOWN_HEARTBEAT_FAILURE = "heartbeat failure for node in unknown state"


@dataclass(frozen=True, slots=True)
class HeartbeatConfig:
    period: float = 5.0
    grace: int = 3  # periods missed before a node is DOWN
    unknown_grace: int = 6  # periods given to every node after a leader change
    jitter: float = 0.1  # fraction of the period
    max_jitter: float = 0.5  # seconds

    def __post_init__(self) -> None:
        if self.period <= 0:
            raise ValueError(f"heartbeat period must be positive, got {self.period}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"heartbeat jitter must be in [0, 1), got {self.jitter}")

    def next_period(self, rng: random.Random) -> float:
        """The period to give a worker for its next heartbeat."""
        spread = min(self.jitter, self.max_jitter / self.period)  # a fraction of the period
        return Backoff(self.period, self.period, jitter=spread).delay(1, rng)


@dataclass(frozen=True, slots=True)
class Expiry:
    node_id: str
    unknown: bool  # the node never beat since this dispatcher started

    @property
    def message(self) -> str:
        return UNKNOWN_HEARTBEAT_FAILURE if self.unknown else HEARTBEAT_FAILURE


class HeartbeatTracker:
    def __init__(self, config: HeartbeatConfig) -> None:
        self.config = config
        self._deadlines: dict[str, tuple[float, bool]] = {}
        # at most every deadline: ``expired`` before it has nothing to scan for (a
        # dispatcher ticks many times a second; a scan of 1,000 deadlines each time was
        # 3% of a leader's interpreter during a drain)
        self._earliest = math.inf

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._deadlines

    def __len__(self) -> int:
        return len(self._deadlines)

    def deadline(self, node_id: str) -> float | None:
        entry = self._deadlines.get(node_id)
        return entry[0] if entry is not None else None

    def is_unknown(self, node_id: str) -> bool:
        entry = self._deadlines.get(node_id)
        return entry is not None and entry[1]

    def watch_unknown(self, node_id: str, now: float) -> None:
        """A node known from the store, not yet heard from since this dispatcher started."""
        deadline = now + self.config.period * self.config.unknown_grace
        self._deadlines[node_id] = (deadline, True)
        self._earliest = min(self._earliest, deadline)

    def beat(self, node_id: str, now: float, period: float) -> None:
        """The node beat (or opened a session) and was told to beat again in ``period``."""
        deadline = now + period * self.config.grace
        self._deadlines[node_id] = (deadline, False)
        self._earliest = min(self._earliest, deadline)

    def asked(self, node_id: str, now: float) -> None:
        """A watched node asked for a session: alive, though not served yet. Its deadline
        is at least ``grace`` periods from now, ``unknown_grace`` if it is unknown still
        (after a leader change an agent whose open was not served tries the other
        managers, a dead one's connect timeout and growing back-offs between, before it
        asks this one again)."""
        entry = self._deadlines.get(node_id)
        if entry is not None:
            deadline, unknown = entry
            periods = self.config.unknown_grace if unknown else self.config.grace
            self._deadlines[node_id] = (max(deadline, now + self.config.period * periods), unknown)

    def forget(self, node_id: str) -> None:
        self._deadlines.pop(node_id, None)

    @property
    def next_due(self) -> float:
        """A time no deadline comes before (inf: none is watched): ``expired`` returns
        nothing until then."""
        return self._earliest

    def expired(self, now: float) -> list[Expiry]:
        """Nodes whose deadline passed, in deadline order; they are forgotten."""
        if now < self._earliest:
            return []
        due = sorted(
            (deadline, node_id, unknown)
            for node_id, (deadline, unknown) in self._deadlines.items()
            if deadline <= now
        )
        for _, node_id, _ in due:
            del self._deadlines[node_id]
        self._earliest = min((d for d, _ in self._deadlines.values()), default=math.inf)
        return [Expiry(node_id, unknown) for _, node_id, unknown in due]
