"""The frames of their own a dispatcher tick sends besides the sessions' deltas: what
changed in the store without changing a session's tasks (store_changes.py reads it).

- Changed registry credentials go to each session holding a task of their service.
- The routing mesh's table is computed again when due (ingress.py ``IngressTracker``, at
  most once per ``INGRESS_INTERVAL``) and, when it changed, sent to every session behind
  it (a session opened later gets it on its first frame: ingress_changes.py).
- A node whose role changed (a promotion or demotion recorded) is told at once: the cue
  to renew its certificate, in a frame rather than its next heartbeat's reply, which can
  be a period away; unless this tick's frames named the role already.
- A changed manager list (a manager joined, left, was promoted or demoted, or moved) goes
  to every open session whose frames have not named it yet, in one frame each however
  many times it changed since the last tick: a worker that is sent nothing else would
  otherwise keep the list it had when its last assignments came, and fail over to none
  of the managers that joined since (SwarmKit pushes it to each session likewise).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from actors.dispatcher.assignments import Delta
from actors.dispatcher.core import DispatcherCore
from actors.dispatcher.front import DispatcherFront
from actors.dispatcher.ingress import IngressPort, IngressTracker, ingress_table
from actors.dispatcher.store_changes import StoreChanges
from actors.dispatcher.streams import SessionStreams
from actors.log import get_logger
from actors.store import MemoryStore, ReadTx
from actors.store import nodes as node_queries
from actors.store import services as service_queries
from actors.store import tasks as task_queries
from api.objects import Service

__all__ = ["INGRESS_INTERVAL", "SessionNotices"]

_log = get_logger("dispatcher")

# the routing mesh's table is computed at most this often (ingress.py IngressTracker)
INGRESS_INTERVAL: Final = 0.25


class SessionNotices:
    def __init__(
        self,
        store: MemoryStore,
        core: DispatcherCore,
        front: DispatcherFront,
        streams: SessionStreams,
        clock: Callable[[], float],
        tick_interval: float,
    ) -> None:
        self._store = store
        self._core = core  # under the front's lock
        self._front = front
        self._streams = streams
        self._clock = clock
        self.ingress = IngressTracker(max(tick_interval, INGRESS_INTERVAL))
        self._auth_changed: set[str] = set()  # services whose credentials changed
        self._roles_changed: set[str] = set()  # nodes whose role changed
        # the manager list (streams.py, by identity) every open session was last sent
        self._managers_told: object = streams.managers

    def note(self, changes: StoreChanges) -> None:
        """What a drain of the store's watch found to tell."""
        self._auth_changed |= changes.auth_changed
        self._roles_changed |= changes.roles_changed

    def send(self) -> bool:
        """Send what is due; whether there was any (changed credentials count, sent to a
        session or not)."""
        resent = bool(self._auth_changed)
        if resent:
            self._resend_auths()
        resent = self._send_ingress() or resent
        resent = self._send_roles() or resent
        return self._send_managers() or resent

    def _resend_auths(self) -> None:
        changed, self._auth_changed = self._auth_changed, set()
        for session in self._front.sessions():
            with self._front.lock:
                tasks = session.assignments.tasks()
            held = [t for t in tasks if t.service_id in changed]
            needs = self._streams.dependencies(held, auth_only=True)
            if needs:
                self._streams.send(session, Delta(False), needs)

    def _send_roles(self) -> bool:
        changed, self._roles_changed = self._roles_changed, set()
        sent = False
        for node_id in changed:
            with self._front.lock:
                session = self._core.sessions.get(node_id)
            if session is not None and session.role_sent != self._front.roles.get(node_id):
                self._streams.send(session, Delta(False))
                sent = True
        return sent

    def _send_managers(self) -> bool:
        managers = self._streams.managers
        if managers is self._managers_told:
            return False
        self._managers_told = managers
        stale = [s for s in self._front.sessions() if s.managers_sent is not managers]
        for session in stale:
            self._streams.send(session, Delta(False))
        _log.info("dispatcher.managers.changed", managers=len(managers), sessions=len(stale))
        return bool(stale)

    def _send_ingress(self) -> bool:
        feed = self._streams.ingress
        count = self._front.session_count()
        if feed.overgrown(count):  # sessions ended since the last change
            feed.stale(s.session_id for s in self._front.sessions())
        now = self._clock()
        if not self.ingress.due(now, count):
            return False

        def read(tx: ReadTx) -> tuple[list[Service], tuple[IngressPort, ...]]:
            found = service_queries.list_all(tx)
            table = ingress_table(
                found, lambda i: task_queries.by_service(tx, i), node_queries.list_all(tx)
            )
            return found, table

        began = time.thread_time()
        found, table = self._store.view(read)
        self.ingress.computed(now, found)
        if not feed.set_table(table):
            return False
        computed = time.thread_time()
        sessions = {s.session_id: s for s in self._front.sessions()}
        stale = feed.stale(sessions)
        for session_id in stale:
            self._streams.send(sessions[session_id], Delta(False))
        _log.info(  # with the feed's running totals and this thread's CPU (bench/mesh_scale.py)
            "dispatcher.ingress.changed",
            ports=len(table),
            backends=sum(len(e.backends) for e in table),
            version=feed.version,
            sessions=len(stale),
            compute_cpu_s=round(computed - began, 6),
            send_cpu_s=round(time.thread_time() - computed, 6),
            sent_changes=feed.sent_changes,
            sent_full=feed.sent_full,
            sent_bytes=feed.sent_bytes,
        )
        return bool(sessions)
