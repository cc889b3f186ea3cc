"""The dispatcher's pure core: sessions, heartbeats, assignments and status batching.

The actor (``actors.dispatcher.actor``) feeds it requests and store changes and carries out
what it returns; the core does no I/O and reads no clock. Order of a tick, which the actor
follows: ``observe`` the committed changes, then ``tick(now)``, then send each delta, close
each closed session (final frame) and write the node and status writes in one store batch.

- ``start`` (a new dispatcher: a leader change) marks every known node that is not DOWN as
  UNKNOWN, with the unknown grace (heartbeats.py).
- ``open_session`` registers a session, replacing the node's previous one, and asks for the
  node to be written READY with its description and address.
- ``heartbeat`` pushes the node's deadline back and returns the next period; one that
  carries a TLS report other than the session's last asks for it to be written to the
  node's description (the node installed a renewed certificate, or dropped a root): a
  root CA rotation completes by these reports (actors/ca/rotation.py). The node of a
  session in use is READY, so that write says so too.
- ``report_status`` judges each update (statuses.py) and queues the accepted ones.
- ``tick`` expires nodes: a node past its deadline is written DOWN ("heartbeat failure") and
  its session closed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from actors.dispatcher.assignments import AssignmentSet, Delta
from actors.dispatcher.heartbeats import HeartbeatConfig, HeartbeatTracker
from actors.dispatcher.sessions import Session, SessionTable
from actors.dispatcher.statuses import (
    Decision,
    PendingStatus,
    StatusQueue,
    judge_status,
)
from api.enums import NodeState
from api.ids import new_id
from api.objects import Node, NodeDescription, NodeTLSInfo, Task, TaskStatus

__all__ = [
    "LEADER_CHANGE",
    "REPLACED",
    "DispatcherCore",
    "EventLog",
    "NodeWrite",
    "StatusResult",
    "TaskChange",
    "TickOutput",
    "merge_node_writes",
]

LEADER_CHANGE = "node moved to unknown state after a leader change"
REPLACED = "replaced by a new session"
NODE_REMOVED = "node removed from the cluster"


class EventLog(Protocol):
    def info(self, event: str, **kw: Any) -> Any: ...

    def warning(self, event: str, **kw: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class NodeWrite:
    """Set a node's status (and, at session start, its description and address; after a
    heartbeat's report, its description's TLS info); a node the store no longer holds is
    left alone (never created: callers.py)."""

    node_id: str
    state: NodeState
    message: str = ""
    description: NodeDescription | None = None
    addr: str | None = None
    tls: NodeTLSInfo | None = None


@dataclass(frozen=True, slots=True)
class TaskChange:
    """A committed change of a task, from the store's watch queue."""

    task: Task
    version: int
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class StatusResult:
    accepted: int
    refused: tuple[tuple[str, str], ...]  # (task id, reason)


@dataclass(slots=True)
class TickOutput:
    deltas: list[tuple[Session, Delta]] = field(default_factory=list)
    closed: list[tuple[Session, str]] = field(default_factory=list)
    node_writes: list[NodeWrite] = field(default_factory=list)
    status_writes: list[PendingStatus] = field(default_factory=list)
    expired: int = 0  # nodes whose heartbeats stopped (marked DOWN) this tick


class DispatcherCore:
    def __init__(self, config: HeartbeatConfig, rng: random.Random, log: EventLog) -> None:
        self._heartbeats = HeartbeatTracker(config)
        self._rng = rng
        self._log = log
        self.sessions = SessionTable()
        self._statuses = StatusQueue()
        self._node_writes: dict[str, NodeWrite] = {}
        self._closed: list[tuple[Session, str]] = []
        # services whose removal was committed: their tasks are told desired REMOVE
        self.removed_services: set[str] = set()

    @property
    def config(self) -> HeartbeatConfig:
        return self._heartbeats.config

    def set_config(self, config: HeartbeatConfig) -> None:
        """A new heartbeat period (the cluster spec changed); used from the next beat on."""
        self._heartbeats.config = config

    # --- inputs -------------------------------------------------------------------------

    def start(self, now: float, nodes: Iterable[Node]) -> None:
        for node in nodes:
            if node.status.state is NodeState.DOWN:
                continue
            self._heartbeats.watch_unknown(node.id, now)
            self._write(NodeWrite(node.id, NodeState.UNKNOWN, LEADER_CHANGE))

    def open_session(
        self,
        now: float,
        node_id: str,
        peer_key: bytes | None,
        description: NodeDescription,
        addr: str,
        base_version: int,
        tasks: Iterable[Task],
    ) -> Session:
        """Register a new session with the tasks read at ``base_version``; send its
        ``assignments.full()`` first."""
        period = self.config.next_period(self._rng)
        session = Session(
            session_id=new_id(self._rng),
            node_id=node_id,
            peer_key=peer_key,
            assignments=AssignmentSet(node_id, base_version, tasks, self.removed_services),
            opened_at=now,
            period=period,
        )
        session.tls = description.tls_info
        old = self.sessions.open(session)
        if old is not None:
            self._closed.append((old, REPLACED))
        self._heartbeats.beat(node_id, now, period)
        self._write(NodeWrite(node_id, NodeState.READY, "", description, addr))
        self._log.info(
            "dispatcher.session.opened",
            peer_node=node_id,
            session_id=session.session_id,
            tasks=len(session.assignments),
            replaced=old is not None,
        )
        return session

    def session_asked(self, now: float, node_id: str) -> None:
        """``node_id`` (its certificate's) asked for a session, queued to be opened."""
        self._heartbeats.asked(node_id, now)

    def heartbeat(
        self,
        now: float,
        node_id: str,
        session_id: str,
        peer_key: bytes | None,
        tls: NodeTLSInfo | None = None,
    ) -> float:
        """The next period; SessionError when the session may not be used. ``tls``: the
        node's TLS report, when the heartbeat carries one."""
        session = self.sessions.check(node_id, session_id, peer_key)
        period = self.config.next_period(self._rng)
        session.period = period
        self._heartbeats.beat(node_id, now, period)
        if tls is not None and tls != session.tls:
            session.tls = tls
            self._write(NodeWrite(node_id, NodeState.READY, tls=tls))
            self._log.info("dispatcher.node.tls_reported", peer_node=node_id)
        return period

    def report_status(
        self,
        node_id: str,
        session_id: str,
        peer_key: bytes | None,
        updates: Sequence[tuple[str, TaskStatus]],
        lookup: Callable[[str], Task | None],
    ) -> StatusResult:
        """Judge a batch; queue the accepted writes. SessionError for a bad session."""
        self.sessions.check(node_id, session_id, peer_key)
        accepted = 0
        refused: list[tuple[str, str]] = []
        for task_id, status in updates:
            verdict = judge_status(lookup(task_id), node_id, status)
            if verdict.decision is Decision.REFUSE:
                refused.append((task_id, verdict.reason))
                continue
            accepted += 1
            if verdict.decision is Decision.WRITE:
                self._statuses.add(task_id, node_id, status)
        if refused:
            self._log.info(
                "dispatcher.status.refused",
                peer_node=node_id,
                refused=len(refused),
                first=refused[0][1],
            )
        return StatusResult(accepted, tuple(refused))

    def observe(self, changes: Iterable[TaskChange]) -> None:
        """Committed task changes, in commit order."""
        sessions = self.sessions
        for change in changes:
            task = change.task
            session = sessions.get(task.node_id) if task.node_id else None
            if session is None:
                continue
            if change.deleted:
                session.assignments.observe_delete(task.id, change.version)
            else:
                session.assignments.observe_update(task, change.version)

    def service_removed(self, service_id: str) -> None:
        """A service's removal was committed (``pending_delete``): every session tells
        its worker the service's tasks are to be removed (assignments.py)."""
        if service_id in self.removed_services:
            return
        self.removed_services.add(service_id)
        for session in self.sessions:
            session.assignments.services_removed((service_id,))

    def service_deleted(self, service_id: str) -> None:
        """The service is gone from the store (its tasks were deleted before it)."""
        self.removed_services.discard(service_id)

    def node_removed(self, node_id: str) -> None:
        """The node was deleted from the store: end its session, stop watching it."""
        self._heartbeats.forget(node_id)
        self._node_writes.pop(node_id, None)
        session = self.sessions.close(node_id)
        if session is not None:
            self._closed.append((session, NODE_REMOVED))

    def close_session(self, session: Session, reason: str) -> None:
        """The shell ends the session: its worker cannot be reached (its stream is gone),
        or its node's writes were given up (its agent is to register again)."""
        if self.sessions.get(session.node_id) is session:
            self.sessions.close(session.node_id)
            self._closed.append((session, reason))

    # --- outputs ------------------------------------------------------------------------

    def tick(self, now: float) -> TickOutput:
        out = TickOutput()
        for expiry in self._heartbeats.expired(now):
            out.expired += 1
            session = self.sessions.close(expiry.node_id)
            if session is not None:
                self._closed.append((session, expiry.message))
            self._write(NodeWrite(expiry.node_id, NodeState.DOWN, expiry.message))
            self._log.warning(
                "dispatcher.session.expired",
                peer_node=expiry.node_id,
                unknown=expiry.unknown,
                had_session=session is not None,
            )
        for session in self.sessions:
            if session.assignments.touched:
                delta = session.assignments.take()
                if not delta.empty:
                    out.deltas.append((session, delta))
        out.closed, self._closed = self._closed, []
        out.node_writes = list(self._node_writes.values())
        self._node_writes.clear()
        out.status_writes = self._statuses.take()
        return out

    def _write(self, write: NodeWrite) -> None:
        previous = self._node_writes.get(write.node_id)
        self._node_writes[write.node_id] = (
            write if previous is None else merge_node_writes(previous, write)
        )


def merge_node_writes(earlier: NodeWrite, later: NodeWrite) -> NodeWrite:
    """One write of a node that does what ``earlier`` then ``later`` would: the later
    state and message, with the description (and address) of a session opened in between
    and a TLS report taken in between, unless ``later`` brings a description of its own
    (a newer session's request, with its own report)."""
    if later.description is not None:
        return later
    return NodeWrite(
        later.node_id,
        later.state,
        later.message,
        earlier.description,
        earlier.addr if earlier.description else later.addr,
        later.tls or earlier.tls,
    )
