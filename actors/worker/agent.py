"""The agent: a worker's session with a manager's dispatcher (DESIGN.md §2, §6).

Each session runs on a thread of its own (the first started in ``on_start``; the one
running is closed in ``on_stop``): connect to a manager with CURVE (the node's key pair,
the manager's server key), open a ``dispatcher.session`` stream (read by one more thread,
since the stream blocks: agent_stream.py), and then, until the session breaks:

- hand the first frame (the full assignment set, assembled first when it comes in parts:
  agent_stream.py) and every later frame (changes) to the
  ``AssignmentSink`` (the worker), from this thread, after giving what the frame's tasks
  need to the ``TaskResources`` and the secrets and configs it brings to the node's
  ``DependencyStore`` (agent_frames.py ``FrameApplier``, which states the order);
- on a new session, first requeue the sink's ``current_statuses()``;
- then serve the session (agent_loop.py ``SessionLoop``): heartbeat at the period the
  dispatcher names in each reply, and send queued status updates (agent_calls.py
  ``StatusOutbox``, the ``StatusReporter`` the worker holds) in batches of up to
  ``max_status_batch``, one in flight at a time;
- build the routing mesh's table from the frames' changes and pass each table to
  ``on_ingress`` (``FrameApplier``);
- report the certificate the node uses (``tls_info``: actors/ca/tls_info.py) in the
  session request, and again in the next heartbeat once it changed (session_schedule.py);
- pass the node's role each frame (the session's first, and one as soon as the role
  changed) and each heartbeat reply names to ``on_role`` (the node's renewer renews its
  certificate when it differs: promotion, demotion) and each manager list a frame brings
  to ``on_managers``; after a session ends, managers ``refresh_managers``
  names that the list lacks are added (the node keeps it in STATE_DIR/managers.json);
- notice a lost stream: fewer frames received by a heartbeat than the manager said it had
  streamed at the one before, and the session is reopened for a fresh full set
  (session.py ``lost_frames``).

A removed node (``node rm``) says so and ends: a manager that closes the session because
the node was removed, or refuses the node's key at the CURVE handshake (the remote
endpoint refuses nothing else there: actors/ca/authorization.py), makes the agent log
``agent.node.removed`` and call ``on_removed`` with the reason (the node stops, exit 1)
instead of retrying forever.

A session breaks when the stream ends or fails, its connection drops or is refused (the
client watches it: a manager killed is noticed at once, not at the next heartbeat, and
one that no longer listens fails the attempt at once, not after ``connect_timeout``), a
heartbeat fails or times out, or a status batch fails (one answered busy or not in time
is put back and sent again later: agent_calls.py, session.py); the session thread then
ends and tells the actor, which waits an exponential backoff with jitter on the
supervisor's timer (``ctx.timer``) and starts a session with the next manager of the list
the dispatcher sent last (actors/worker/session.py). Statuses not sent are kept for the
next session. An unexpected error in a session thread crashes the actor, so its
supervisor restarts it.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import pykka

from actors.backoff import Backoff
from actors.dispatcher.wire import (
    ManagerAddress,
    SessionFrame,
)
from actors.log import get_logger
from actors.supervised import Cancel, ChildContext, SupervisedActor, ThreadTimer, Timer
from actors.worker.agent_calls import StatusOutbox
from actors.worker.agent_frames import FrameApplier
from actors.worker.agent_loop import SessionLoop
from actors.worker.agent_stream import SessionStream
from actors.worker.dependencies import DependencyStore
from actors.worker.interfaces import AssignmentSink
from actors.worker.resources import TaskResources
from actors.worker.session import SESSION_BACKOFF, SessionRetry, statuses_to_resend
from actors.worker.session_calls import NodeRemoved, SessionEnded, removes_node
from api.objects import NodeDescription, NodeTLSInfo
from transport.client import Client
from transport.keys import KeyPair

__all__ = ["REMOVED_MESSAGE", "Agent", "AgentState"]

REMOVED_MESSAGE: Final = (
    "this node was removed from the cluster (swarmctl node rm): every manager refuses its "
    "certificate, so it cannot come back; to join again, start it with a new state dir "
    "and a join token"
)

_log = get_logger("agent")


@dataclass(frozen=True, slots=True)
class AgentState:
    connected: bool
    manager: str  # address of the manager in use (or being tried)
    session_id: str
    sessions_opened: int


@dataclass(frozen=True, slots=True)
class _Crashed:
    error: BaseException


@dataclass(frozen=True, slots=True)
class _SessionOver:
    manager: ManagerAddress
    established: bool


@dataclass(frozen=True, slots=True)
class _Retry:
    pass


class Agent(SupervisedActor):
    def __init__(
        self,
        ctx: ChildContext | None,
        *,
        node_id: str,
        keypair: KeyPair,
        managers: Sequence[ManagerAddress],
        sink: AssignmentSink,
        description: NodeDescription,
        statuses: StatusOutbox | None = None,
        dependencies: DependencyStore | None = None,
        connect_timeout: float = 5.0,
        request_timeout: float = 5.0,
        flush_interval: float = 0.05,
        max_status_batch: int = 1000,
        backoff: Backoff = SESSION_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        source: str | None = None,
        on_role: Callable[[str], None] | None = None,
        on_ca: Callable[[Any], None] | None = None,
        on_managers: Callable[[Sequence[ManagerAddress]], None] | None = None,
        refresh_managers: Callable[[], Sequence[ManagerAddress]] | None = None,
        resources: TaskResources | None = None,
        on_removed: Callable[[str], None] | None = None,
        on_ingress: Callable[[Any], None] | None = None,
        tls_info: Callable[[], NodeTLSInfo | None] = lambda: None,
    ) -> None:
        super().__init__(ctx)
        self._tls_info = tls_info
        self._on_removed = on_removed
        self._refresh_managers = refresh_managers
        self._node_id = node_id
        self._source = source  # the local address sessions leave from (transport.source)
        self._keypair = keypair
        # the next session's manager and backoff (a session that was established resets it)
        self._retries = SessionRetry(managers, backoff, rng or random.Random())
        self._rotation = self._retries.rotation
        self._sink = sink
        self._description = description
        self.statuses = statuses if statuses is not None else StatusOutbox()
        self.dependencies = dependencies if dependencies is not None else DependencyStore()
        self._applier = FrameApplier(
            sink=sink,
            dependencies=self.dependencies,
            rotation=self._rotation,
            resources=resources,
            on_role=on_role,
            on_ca=on_ca,
            on_managers=on_managers,
            on_ingress=on_ingress,
        )
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._timer: Timer = ctx.timer if ctx is not None else ThreadTimer()
        self._retry: Cancel | None = None
        self._halt = threading.Event()
        self._loop = SessionLoop(
            node_id=node_id,
            statuses=self.statuses,
            applier=self._applier,
            tls_info=tls_info,
            halt=self._halt,
            clock=clock,
            flush_interval=flush_interval,
            max_batch=max_status_batch,
        )
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._thread: threading.Thread | None = None
        self._state = AgentState(False, "", "", 0)
        self._clients = 0
        self._removed = False  # a manager closed our session: this node was removed

    # --- lifecycle ----------------------------------------------------------------------

    def on_start(self) -> None:
        self._open_session()

    def on_stop(self) -> None:
        self._halt.set()
        if self._retry is not None:
            self._retry()
        with self._lock:
            client = self._client
        if client is not None:
            client.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Crashed):
            raise message.error
        if isinstance(message, _SessionOver):
            self._session_over(message)
        elif isinstance(message, _Retry) and not self._halt.is_set():
            self._open_session()
        return None

    def state(self) -> AgentState:
        with self._lock:
            return self._state

    # --- between sessions (the actor's thread) ------------------------------------------

    def _open_session(self) -> None:
        self._retry = None
        manager = self._rotation.current()
        self._thread = threading.Thread(
            target=self._session, args=(manager,), name="agent-session", daemon=True
        )
        self._thread.start()

    def _session_over(self, over: _SessionOver) -> None:
        if self._halt.is_set():
            return
        if self._removed and self._on_removed is not None:
            self._on_removed(REMOVED_MESSAGE)  # the node stops: no more sessions
            return
        if over.established:
            self._retries.opened()
        self._refresh()
        delay = self._retries.failed()
        _log.info(
            "agent.session.retrying",
            manager=over.manager.addr,
            next_manager=self._rotation.current().addr,
            delay=round(delay, 3),
        )
        self._retry = self._timer.call_later(delay, lambda: self._tell(_Retry()))

    def _tell(self, message: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(message)

    # --- a session (its own thread) -----------------------------------------------------

    def _session(self, manager: ManagerAddress) -> None:
        try:
            established = self._attempt(manager)
        except BaseException as exc:  # a bug: let the supervisor restart the agent
            _log.exception("agent.session.crashed", error=repr(exc))
            self._tell(_Crashed(exc))
            return
        self._tell(_SessionOver(manager, established))

    def _refresh(self) -> None:
        """After a session: the node's own current list (a manager's follows its store,
        which may have changed after the session's last frame)."""
        if self._refresh_managers is None:
            return
        try:
            fresh = self._refresh_managers()
        except Exception as exc:
            _log.warning("agent.managers.refresh_failed", error=repr(exc)[:200])
            return
        known = set(self._rotation.managers)
        self._rotation.update([*self._rotation.managers, *(m for m in fresh if m not in known)])

    def _set_state(self, **changes: Any) -> None:
        with self._lock:
            s = self._state
            self._state = AgentState(
                changes.get("connected", s.connected),
                changes.get("manager", s.manager),
                changes.get("session_id", s.session_id),
                changes.get("sessions_opened", s.sessions_opened),
            )

    def _attempt(self, manager: ManagerAddress) -> bool:
        """One session with ``manager``; True if it was established."""
        self._clients += 1
        client = Client(
            manager.addr,
            server_key=manager.server_key,
            keypair=self._keypair,
            timeout=self._request_timeout,
            name=f"agent-{self._node_id[:8]}-{self._clients}",
            source=self._source,
            watch_connection=True,
        )
        with self._lock:
            self._client = client
        self._set_state(manager=manager.addr, connected=False, session_id="")
        tls = self._tls_info()  # what this session reports, until it changes
        described = replace(self._description, tls_info=tls)
        stream = SessionStream(client, self._node_id, described)
        established = False
        _log.info("agent.session.connecting", manager=manager.addr)
        try:
            if self._halt.is_set():
                return False
            stream.start()
            first = stream.first_frame(self._connect_timeout)
            if first is None:
                raise SessionEnded(f"no session within {self._connect_timeout}s")
            established = True
            self._serve(client, manager, first, stream, tls)
        except SessionEnded as exc:
            _log.warning(
                "agent.session.ended",
                manager=manager.addr,
                established=established,
                reason=str(exc),
            )
            if removes_node(str(exc)) or isinstance(exc, NodeRemoved):
                self._removed = True
            if self._removed:
                _log.error("agent.node.removed", manager=manager.addr, error=REMOVED_MESSAGE)
        finally:
            with self._lock:
                self._client = None
            client.close()
            stream.join(timeout=2.0)
            self._set_state(connected=False, session_id="")
        return established

    def _serve(
        self,
        client: Client,
        manager: ManagerAddress,
        first: SessionFrame,
        stream: SessionStream,
        tls: NodeTLSInfo | None,
    ) -> None:
        session_id = first.session_id
        period = first.heartbeat_period
        self._applier.managers_from(first)
        opened = self._state.sessions_opened + 1
        self._set_state(connected=True, session_id=session_id, sessions_opened=opened)
        _log.info(
            "agent.session.opened",
            manager=manager.addr,
            session_id=session_id,
            tasks=len(first.tasks),
            heartbeat_period=round(period, 3),
        )
        self._applier.new_session()  # the first frame brings a full mesh table
        self._applier.apply(first)
        current = self._sink.current_statuses()
        self.statuses.requeue(statuses_to_resend(current, first.tasks if first.full else None))
        self.statuses.set_on_pending(stream.wake)
        try:
            self._loop.run(client, session_id, period, stream, tls)
        finally:
            self.statuses.set_on_pending(None)
