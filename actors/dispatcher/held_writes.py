"""Writes the store did not take, held by the dispatcher's writer (writer.py) for another
attempt: nothing a node reported and this manager acknowledged is lost while it leads. A
session's READY with its description, a heartbeat's TLS report (an agent sends a report
once, so a root rotation would wait for that node's next session), a DOWN, and the task
statuses a worker was answered ``accepted`` for (its status book resends them only in a
new session).

Rules:
- A batch the store failed as a whole (a ``StoreError``: not the leader, a proposal
  dropped or timed out; part of it may have committed) is held whole and written again
  after a backoff (``RETRY_BACKOFF``), for as long as the dispatcher runs: once it stops
  (leadership lost) the new leader's sessions resend. Each attempt judges every write
  against the store as it is then (writer.py), so a write that did commit is a repeat: a
  status as stored writes nothing, a node is written the same again; a late commit of a
  timed-out proposal after a newer write fails on its stale version.
- While writes are held, the writes the core hands on join them and go in the next
  attempt, never before them, so the core's newest decision wins. A node's later write
  brings its state and message and keeps the held one's description, address and TLS
  report where it brings none (``merge_node_writes``, as the core merges a tick's
  writes): a DOWN of an expired session after a READY the store did not take is written
  DOWN, with that session's description. A task's later status replaces the held one
  unless it is behind (``StatusQueue``).
- Bounds: at most ``max_nodes`` nodes' and ``max_statuses`` tasks' writes are held (one
  each: later ones merge), a write of another node or task is given up; after ``limit``
  failed attempts in a row everything held is given up. What is given up comes back as
  ``Lost``, for the writer to log, with every node it was about (its own writes and its
  tasks' statuses): the dispatcher closes those nodes' sessions, as SwarmKit has a node
  whose state it could not record register again, and their agents' new sessions bring
  their READY, description and TLS report, and resend their tasks' statuses (writer.py).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from actors.backoff import Backoff
from actors.dispatcher.core import NodeWrite, merge_node_writes
from actors.dispatcher.statuses import PendingStatus, StatusQueue

__all__ = [
    "MAX_HELD_NODES",
    "MAX_HELD_STATUSES",
    "RETRY_BACKOFF",
    "RETRY_LIMIT",
    "HeldWrites",
    "Lost",
    "Writes",
]

# 0.1 s doubling to 10 s: a dropped proposal (a leadership transfer, a configuration
# change) is written again at once, a longer outage (a full disk: StorageFull) costs one
# failed batch every 10 s
RETRY_BACKOFF: Final = Backoff(initial=0.1, maximum=10.0, jitter=0.2)
RETRY_LIMIT: Final = 120  # failed attempts in a row: about 20 minutes when each fails at once
MAX_HELD_NODES: Final = 50_000
MAX_HELD_STATUSES: Final = 1_000_000
LOST_SAMPLE: Final = 10  # ids of what was given up named in its log


@dataclass(frozen=True, slots=True)
class Writes:
    """Node and task status writes, in the order the core decided them."""

    nodes: tuple[NodeWrite, ...] = ()
    statuses: tuple[PendingStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class Lost:
    """Writes given up: how many of each, the first few nodes' and tasks' ids (for the
    log), and every node they were about: the node writes' and the statuses' nodes."""

    nodes: int = 0
    statuses: int = 0
    node_ids: tuple[str, ...] = ()
    task_ids: tuple[str, ...] = ()
    affected: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.nodes or self.statuses)


def _lost(node_ids: Iterable[str], statuses: Iterable[PendingStatus]) -> Lost:
    nodes, given_up = list(node_ids), list(statuses)
    tasks = [p.task_id for p in given_up]
    return Lost(
        len(nodes),
        len(tasks),
        tuple(nodes[:LOST_SAMPLE]),
        tuple(tasks[:LOST_SAMPLE]),
        frozenset(nodes).union(p.node_id for p in given_up),
    )


class HeldWrites:
    def __init__(
        self,
        backoff: Backoff = RETRY_BACKOFF,
        limit: int = RETRY_LIMIT,
        max_nodes: int = MAX_HELD_NODES,
        max_statuses: int = MAX_HELD_STATUSES,
    ) -> None:
        self._backoff = backoff
        self._limit = limit
        self._max_nodes = max_nodes
        self._max_statuses = max_statuses
        self._nodes: dict[str, NodeWrite] = {}
        self._statuses = StatusQueue()
        self.failures = 0  # failed attempts in a row

    def __len__(self) -> int:
        return len(self._nodes) + len(self._statuses)

    def hold(self, writes: Writes) -> Lost:
        """Hold ``writes``, decided after those held; those over the bounds are given up."""
        held = self._nodes
        dropped_nodes: list[str] = []
        for write in writes.nodes:
            earlier = held.get(write.node_id)
            if earlier is not None:
                held[write.node_id] = merge_node_writes(earlier, write)
            elif len(held) < self._max_nodes:
                held[write.node_id] = write
            else:
                dropped_nodes.append(write.node_id)
        statuses = self._statuses
        dropped_statuses: list[PendingStatus] = []
        for p in writes.statuses:
            if p.task_id in statuses or len(statuses) < self._max_statuses:
                statuses.add(p.task_id, p.node_id, p.status)
            else:
                dropped_statuses.append(p)
        return _lost(dropped_nodes, dropped_statuses)

    def take(self) -> Writes:
        """Everything held, for the next attempt (held again if it fails)."""
        nodes, self._nodes = tuple(self._nodes.values()), {}
        return Writes(nodes, tuple(self._statuses.take()))

    def failed(self, rng: random.Random | None = None) -> float | None:
        """An attempt failed: the delay before the next one; None after ``limit`` in a
        row (``give_up``)."""
        self.failures += 1
        if self.failures >= self._limit:
            return None
        return self._backoff.delay(self.failures, rng)

    def succeeded(self) -> int:
        """An attempt was taken: how many failed before it."""
        failures, self.failures = self.failures, 0
        return failures

    def give_up(self) -> Lost:
        """Everything held, given up; the count of failures starts again."""
        lost = _lost(self._nodes, self._statuses)
        self._nodes = {}
        self._statuses.take()
        self.failures = 0
        return lost
