"""The handler threads' side of a running dispatcher: what the remote endpoint's handlers
call without waiting on the dispatcher's mailbox.

Rules:
- Heartbeats and status reports are served on the handler thread that took them, under
  the lock that guards the ``DispatcherCore`` (the same lock the dispatcher actor takes for
  every use of its core). Store reads happen before the lock is taken; the lock covers
  only the core's pure work. A heartbeat reads no store at all: the node roles it answers
  with are kept here by the actor, from the store's watch (``roles``), so a heartbeat
  never waits for the store's lock either (big reads and commits hold it). So a heartbeat
  never queues behind session opens or the sending of assignments, and no handler thread
  waits while the actor works.
- A status report is queued here too (at most ``MAX_QUEUED_REPORTS``; more are answered
  ``busy``) and judged off the handler threads, by the dispatcher's status intake
  (intake.py): every queued report at once, against one store read, each answered there.
  A report needs the store's tasks, and the store's lock is held by big reads and commits:
  sixteen handler threads waiting for it left heartbeats queued until sessions timed out.
- A session open is queued here, one per node (a second open of the same node before the
  first was served replaces it: the first is answered ``replaced``), and the actor is woken
  once for the whole queue: it opens the queued sessions in chunks, newest first (one
  store read per chunk), and streams each chunk's frames before it takes the next, so a
  thousand opens after a leader change do not hold every first frame back past the
  agents' connect timeout (5 s, actors/worker/agent.py). Newest first, and an open that
  waited longer than ``OPEN_PATIENCE`` (that timeout less the time a chunk's frames take
  on a busy leader) answered ``unavailable`` instead of opened: its agent
  gave up on it and asked again (or will), and a session opened for nobody only expires
  later and marks its node down; when opens come faster than they are served, the
  oldest were served after their agents left, and every retry queued behind them. The
  queue is thus bounded by the cluster's nodes.
- ``DispatcherLink`` is how the endpoint finds the front of the dispatcher running on this
  manager, if any: the dispatcher attaches its front when it starts and detaches it when
  it stops (leadership lost); a closed front refuses new opens.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Final

from actors.dispatcher.core import DispatcherCore
from actors.dispatcher.sessions import Session, SessionError
from actors.store import MemoryStore
from actors.store import tasks as task_queries
from api.errors import CodecError, ErrorCode
from api.objects import NodeDescription, NodeTLSInfo, Task, TaskStatus
from transport.endpoint import Request

__all__ = [
    "MAX_QUEUED_REPORTS",
    "OPEN_PATIENCE",
    "REPLACED_OPEN",
    "UNAVAILABLE",
    "DispatcherFront",
    "DispatcherLink",
    "SessionOpen",
    "StatusReport",
]

MAX_QUEUED_REPORTS: Final = 4096
# how long a queued session open is worth serving: the agents' connect timeout (5 s), less
# a margin for its chunk's frames to be built and sent on a busy new leader (2 s)
OPEN_PATIENCE: Final = 3.0

REPLACED_OPEN: Final = "replaced"
UNAVAILABLE: Final = "unavailable"  # no dispatcher runs here (not the leader), or it stops
BUSY: Final = ErrorCode.BUSY


@dataclass(frozen=True, slots=True)
class SessionOpen:
    """A session request waiting for the dispatcher (``node_id``: the caller's
    certificate's node)."""

    request: Request
    node_id: str
    description: NodeDescription
    addr: str  # where the connection comes from (wire.session_addr)


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A status batch waiting to be judged (``undecodable``: the items that did not
    decode, refused with their reason)."""

    request: Request
    node_id: str
    session_id: str
    updates: Sequence[tuple[str, TaskStatus]]
    undecodable: Sequence[tuple[str, str]] = ()


class DispatcherFront:
    def __init__(
        self,
        core: DispatcherCore,
        store: MemoryStore,
        clock: Callable[[], float],
        wake: Callable[[], None],
        wake_intake: Callable[[], None] = lambda: None,
    ) -> None:
        """``wake``: ask the actor to serve the queued opens, ``wake_intake``: ask the
        status intake to judge the queued reports (each called once per batch)."""
        self.lock = threading.Lock()  # guards ``core``
        self._core = core
        self._store = store
        self._clock = clock
        self._wake = wake
        self.wake_intake = wake_intake
        self._opens_lock = threading.Lock()
        self._opens: dict[str, tuple[SessionOpen, float]] = {}  # node -> (open, queued at)
        self._reports: list[StatusReport] = []
        self._closed = False
        # node id -> role, as committed: from the store's watch, and for a node it has not
        # brought yet, as its session's open read it (written by the actor only; one dict
        # assignment at a time, which readers see whole)
        self.roles: dict[str, str] = {}

    # --- on the handler threads -----------------------------------------------------------

    def heartbeat(
        self,
        node_id: str,
        session_id: str,
        peer_key: bytes | None,
        tls: NodeTLSInfo | None = None,
    ) -> tuple[float, int, str]:
        """The next period, how many frames the session's stream has carried, and the
        node's role in the store ("" if unknown): the agent's cue to renew its certificate
        after a promotion or demotion (api/roles.py). ``tls``: the node's TLS report, when
        the heartbeat carries one (the core writes it when it changed). SessionError for a
        bad session."""
        role = self.roles.get(node_id, "")
        with self.lock:
            period = self._core.heartbeat(self._clock(), node_id, session_id, peer_key, tls)
            session = self._core.sessions.get(node_id)
            # read after the actor's increment means the frame is in the outbox already,
            # before this reply: the worker never counts a frame it cannot have received
            frames = session.frames_sent if session is not None else 0
        return period, frames, role

    def request_report(self, report: StatusReport) -> str | None:
        """Queue a status report; None, or why it was not queued (``busy``: too many wait;
        ``unavailable``: this dispatcher stops)."""
        with self._opens_lock:
            if self._closed:
                return UNAVAILABLE
            if len(self._reports) >= MAX_QUEUED_REPORTS:
                return BUSY
            first = not self._reports
            self._reports.append(report)
        if first:
            self.wake_intake()
        return None

    def request_session(self, opening: SessionOpen) -> bool:
        """Queue a session open; False when this dispatcher is stopping."""
        with self._opens_lock:
            if self._closed:
                return False
            first = not self._opens
            old = self._opens.pop(opening.node_id, None)
            self._opens[opening.node_id] = (opening, self._clock())
        with self.lock:  # alive, though its open may wait (heartbeats.py)
            self._core.session_asked(self._clock(), opening.node_id)
        if old is not None:
            old[0].request.error(REPLACED_OPEN, "a newer session request of this node came")
        if first:
            self._wake()
        return True

    # --- on the status intake ---------------------------------------------------------------

    def judge_reports(self) -> int:
        """Judge every queued report against one store read and answer each; how many."""
        with self._opens_lock:
            reports, self._reports = self._reports, []
        if not reports:
            return 0
        ids = {task_id for r in reports for task_id, _ in r.updates}
        found: dict[str, Task | None] = self._store.view(
            lambda tx: {i: task_queries.get(tx, i) for i in ids}
        )
        for report in reports:
            request = report.request
            try:
                with self.lock:
                    result = self._core.report_status(
                        report.node_id, report.session_id, request.peer_key, report.updates,
                        found.get,
                    )  # fmt: skip
            except SessionError as exc:
                request.error(exc.code, exc.message)
                continue
            refused = [*report.undecodable, *result.refused]
            with contextlib.suppress(CodecError):
                # built here of an int and strings: matching it to its declaration again
                # was a walk for every status batch (codec.encode's check=False)
                request.reply(
                    {
                        "accepted": result.accepted,
                        "refused": [{"task_id": t, "reason": r} for t, r in refused],
                    },
                    check=False,
                )
        return len(reports)

    # --- on the actor ---------------------------------------------------------------------

    def take_opens(self, limit: int | None = None) -> list[SessionOpen]:
        """The newest ``limit`` queued opens (all: None), newest first; those that waited
        longer than ``OPEN_PATIENCE`` are answered ``unavailable`` instead. The actor is
        woken again when more wait, so it serves them after what else it was told."""
        now = self._clock()
        with self._opens_lock:
            newest = list(islice(reversed(self._opens), limit))
            taken = [self._opens.pop(i) for i in newest]
            more = bool(self._opens)
        if more:
            self._wake()
        fresh: list[SessionOpen] = []
        for opening, queued_at in taken:
            if now - queued_at > OPEN_PATIENCE:
                opening.request.error(UNAVAILABLE, "the session request waited too long")
            else:
                fresh.append(opening)
        return fresh

    def sessions(self) -> list[Session]:
        """The core's sessions now."""
        with self.lock:
            return list(self._core.sessions)

    def session_count(self) -> int:
        with self.lock:
            return len(self._core.sessions)

    def close(self) -> list[SessionOpen | StatusReport]:
        """Refuse new opens and reports from now on; those still queued, for the caller
        to answer."""
        with self._opens_lock:
            self._closed = True
            opens, self._opens = self._opens, {}
            reports, self._reports = self._reports, []
        return [*(o for o, _ in opens.values()), *reports]


class DispatcherLink:
    """The front of the dispatcher that runs on this manager now, if any."""

    def __init__(self) -> None:
        self._front: DispatcherFront | None = None

    def attach(self, front: DispatcherFront) -> None:
        self._front = front

    def detach(self, front: DispatcherFront) -> None:
        if self._front is front:
            self._front = None

    def front(self) -> DispatcherFront | None:
        return self._front
