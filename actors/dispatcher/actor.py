"""The dispatcher actor (leader-only): the I/O shell around ``DispatcherCore``.

It streams the worker sessions' frames through the remote endpoint's ``Request`` handles.
Heartbeats and status reports never reach its mailbox: the endpoint's handler threads
serve heartbeats through its ``DispatcherFront`` (front.py), which shares the core with
this actor under one lock, and its ``StatusIntake`` (intake.py) judges the status reports
the front queued; session opens are queued there too and taken here in chunks of at most
``open_chunk``, newest first (front.py says why), each chunk opened by its
``SessionOpener`` (opens.py: one store read each) and its first frames sent before the
next chunk is taken: after a leader change ~1,000 agents open at once, and one batch held
every first frame back past their connect timeout. Frames are built and sent by its
``SessionStreams`` (streams.py).

It ticks every ``tick_interval`` seconds, and sooner when work comes (a store change,
judged status reports, opened sessions) after a quiet period: at once when no tick that
had work of its kind ended within the last interval, else an interval after it ended
(tick_window.py), so a lone change is sent and a lone status written without waiting for
the period while a burst is still batched as before; after a tick that sent frames to
many sessions the window is longer, so that a ramp's frames carry a few tasks each
instead of one (pacing.py). Frames out and writes in are the window's two lanes: a tick
that sent an assignment does not hold back the worker's first status, and a tick that
only took in store changes (the tasks a service creates before they are assigned, the
echo of its own status writes) holds back nothing.

Per tick: drains the store's watch (watch_intake.py), lets the core expire nodes, sends
each session its coalesced assignment changes (with the networks and registry
credentials their tasks need: dependencies.py), sends the notices of changes that are no
session's tasks (credentials, the routing mesh's table, a node's role: notices.py),
closes ended sessions with a final frame, and hands node and status writes to its
``StoreWriter`` (one store batch per tick).
When its writer gives up writes (held_writes.py), it closes the sessions of the nodes
they were about, with a final frame (``WRITES_LOST``), so that their agents register
again and resend what the store did not take: SwarmKit's answer to a node whose state
the dispatcher could not record.
Stopping (leadership lost) closes every session with a final frame so agents reconnect;
its first step ends the writer's wait for a store batch in flight (writer.py), so the
writer stops within the dispatcher's stop. Each step is done whatever the ones before
raised, and its waits for the intake and the writer are bounded (stop_steps.py).
A status intake that fails crashes the dispatcher, for its supervisor to start again.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import pykka

from actors.dispatcher.core import DispatcherCore
from actors.dispatcher.front import (
    UNAVAILABLE,
    DispatcherFront,
    DispatcherLink,
    SessionOpen,
    StatusReport,
)
from actors.dispatcher.heartbeats import HeartbeatConfig
from actors.dispatcher.held_writes import HeldWrites
from actors.dispatcher.intake import WAKE, StatusIntake
from actors.dispatcher.notices import SessionNotices
from actors.dispatcher.opens import SessionOpener
from actors.dispatcher.pacing import next_window
from actors.dispatcher.sessions import Session, SessionError
from actors.dispatcher.stop_steps import StopSteps, stop_and_wait
from actors.dispatcher.streams import SessionStreams
from actors.dispatcher.watch_intake import StoreWatch
from actors.dispatcher.wire import ASSIGNMENT_BYTES_PER_FRAME, ManagerAddress
from actors.dispatcher.writer import StoreWriter, Writes
from actors.log import get_logger
from actors.metrics import dispatcher as metrics
from actors.store import MemoryStore
from actors.supervisor import ChildContext, SupervisedActor, ThreadTimer, Timer
from actors.tick_window import TickWindow

__all__ = ["Dispatcher"]

_log = get_logger("dispatcher")
_TICK: Final = "tick"
_OUT: Final = "out"  # the tick window's lanes: frames to the sessions
_IN: Final = "in"  # node and status writes
_OPENS: Final = "opens"
# session opens served per mailbox message: each chunk's first frames go out before the
# next chunk's tasks are read (agents give up on a session without one within 5 s)
OPEN_CHUNK: Final = 20  # ~0.4 s of frames at 100 tasks each on a busy new leader
STOPPED = "dispatcher stopped"
# a closed session's reason when the node's writes were given up (never the words of a
# removal, which end an agent: actors/worker/agent.py)
WRITES_LOST = "the manager could not record this node's state: register again"
# how long the stop waits for its status intake (at most one store read of the reports it
# took before the front closed) and for its writer (whose wait for the store ends as the
# stop begins): together within the 5 s its supervisor waits by default (leader_group.py)
INTAKE_STOP_TIMEOUT: Final = 1.0
WRITER_STOP_TIMEOUT: Final = 3.0


@dataclass(frozen=True, slots=True)
class _WritesLost:
    """The writer gave up writes about these nodes."""

    node_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class _IntakeFailed:
    """The status intake ended on this error (intake.py)."""

    error: BaseException


class Dispatcher(SupervisedActor):
    caller_errors: ClassVar[tuple[type[Exception], ...]] = (SessionError,)

    def __init__(
        self,
        ctx: ChildContext | None,
        store: MemoryStore,
        *,
        managers: Callable[[], Sequence[ManagerAddress]] = tuple,
        heartbeat: HeartbeatConfig | None = None,
        tick_interval: float = 0.1,
        clock: Callable[[], float] | None = None,
        timer: Timer | None = None,
        rng: random.Random | None = None,
        link: DispatcherLink | None = None,
        open_chunk: int = OPEN_CHUNK,
        held_writes: Callable[[], HeldWrites] = HeldWrites,
        frame_bytes: int = ASSIGNMENT_BYTES_PER_FRAME,
    ) -> None:
        """``held_writes``: the writer's bounds on the writes it holds (held_writes.py);
        ``frame_bytes``: the body a session frame carries at most (frame_packing.py)."""
        super().__init__(ctx)
        self._store = store
        self._managers = managers
        self._tick_interval = tick_interval
        self._open_chunk = open_chunk
        self._clock = clock or (ctx.clock if ctx is not None else time.monotonic)
        self._timer: Timer = timer or (ctx.timer if ctx is not None else ThreadTimer())
        self._rng = rng or random.Random()
        self._core = DispatcherCore(heartbeat or HeartbeatConfig(), self._rng, _log)
        self._link = link if link is not None else DispatcherLink()
        self._front = DispatcherFront(self._core, store, self._clock, self._wake_for_opens)
        self._streams = SessionStreams(
            store,
            self._core,
            self._front.lock,
            roles=lambda: self._front.roles,
            frame_bytes=frame_bytes,
        )
        self._notices = SessionNotices(
            store, self._core, self._front, self._streams, self._clock, tick_interval
        )
        self._opener = SessionOpener(
            store, self._core, self._front, self._streams, managers, self._clock
        )
        self._watch = StoreWatch(
            store, self._core, self._front, self._streams, self._notices, self._on_change
        )
        self._writer: pykka.ActorRef[StoreWriter] | None = None
        self._held_writes = held_writes
        self._writer_stopping: Future[None] = Future()  # done: the writer stops waiting
        self._intake: pykka.ActorRef[StatusIntake] | None = None
        self._cancel_tick: Callable[[], None] | None = None
        self._window = TickWindow(tick_interval, lanes=(_OUT, _IN))
        self._window_lock = threading.Lock()  # work is told from the store's and intake's threads
        self._stopping = False

    # --- lifecycle ----------------------------------------------------------------------

    def on_start(self) -> None:
        self._writer = StoreWriter.start(
            self._store,
            timer=self._timer,
            held=self._held_writes(),
            stopping=self._writer_stopping,
            on_lost=self._writes_lost,
        )
        intake = self._intake = StatusIntake.start(
            self._front, self._on_writes, self._intake_failed
        )

        def wake_intake() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                intake.tell(WAKE)

        self._front.wake_intake = wake_intake
        known = self._watch.start()
        self._streams.set_managers(tuple(self._managers()))
        with self._front.lock:
            self._core.start(self._clock(), known)
        self._schedule_tick(lambda now: self._window.at(now, self._tick_interval))
        # last: the front is the handlers' (and tests') sign that a dispatcher runs here
        self._link.attach(self._front)
        _log.info("dispatcher.started", nodes=len(known), heartbeat_period=self._core.config.period)

    def on_stop(self) -> None:
        """Each step whatever the ones before raised, each wait bounded (stop_steps.py)."""
        steps = StopSteps()
        # first: a store batch the writer waits on ends now, not at its proposal timeout
        with steps.step("release_writer", "the writer's batch waits out its proposal timeout"):
            self._writer_stopping.set_result(None)
        with steps.step("stop_ticks", "a tick armed may still run (it does nothing)"):
            with self._window_lock:
                self._stopping = True
                cancel, self._cancel_tick = self._cancel_tick, None
            if cancel is not None:
                cancel()
        waiting: list[SessionOpen | StatusReport] = []
        with steps.step("close_front", "new session opens and status reports still queue"):
            self._link.detach(self._front)
            waiting = self._front.close()
        steps.each(
            "answer_waiting",
            waiting,
            lambda w: w.request.error(UNAVAILABLE, STOPPED),
            "queued requests unanswered: their nodes' calls time out",
        )
        with steps.step("stop_intake", "the status intake stops after the reports it judges"):
            stop_and_wait(self._intake, INTAKE_STOP_TIMEOUT, "the status intake")
        sessions: list[Session] = []
        with steps.step("list_sessions", "no session's final frame"):
            sessions = self._front.sessions()
        steps.each(
            "close_sessions",
            sessions,
            lambda s: self._streams.close(s, STOPPED),
            "sessions' final frames: their agents find out when a heartbeat is refused",
        )
        with steps.step("close_watch", "the store keeps the watch's queue until it is full"):
            self._watch.close()
        with steps.step("stop_writer", "the writer stops once the batch it fills is over"):
            stop_and_wait(self._writer, WRITER_STOP_TIMEOUT, "the writer")
        metrics.SESSIONS.set(0)
        _log.info("dispatcher.stopped", failed_steps=steps.failed)

    def _schedule_tick(self, ask: Callable[[float], float | None]) -> None:
        """Arm the tick ``ask`` answers for (None: the armed one is as soon)."""
        ref = self.actor_ref

        def fire() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(_TICK)

        with self._window_lock:
            if self._stopping:
                return
            delay = ask(self._clock())
            if delay is None:
                return
            if self._cancel_tick is not None:
                self._cancel_tick()
            self._cancel_tick = self._timer.call_later(delay, fire)

    def _after_tick(self, busy: frozenset[str], frames: int) -> Callable[[float], float | None]:
        def ask(now: float) -> float | None:
            # the window from this tick's end on: longer after one of many frames (pacing.py)
            self._window.window = next_window(self._tick_interval, frames)
            sooner = self._window.finished(now, busy)  # work that came while it ran
            return sooner if sooner is not None else self._window.at(now, self._tick_interval)

        return ask

    def _on_change(self) -> None:
        """A store change came (on the store's thread): maybe a frame to send."""
        self._schedule_tick(lambda now: self._window.after_work(now, _OUT))

    def _on_writes(self) -> None:
        """Something to write came (on the intake's or own thread)."""
        self._schedule_tick(lambda now: self._window.after_work(now, _IN))

    def on_receive(self, message: Any) -> Any:
        if self._stopping:
            return None
        if message == _TICK:
            with self._window_lock:
                self._window.started(self._clock())
            busy, frames = frozenset((_OUT, _IN)), 0
            try:
                busy, frames = self._tick()
            finally:
                self._schedule_tick(self._after_tick(busy, frames))
        elif message == _OPENS and self._opener.open(self._front.take_opens(self._open_chunk)):
            self._on_writes()  # their nodes' READY writes
        elif isinstance(message, _WritesLost):
            self._close_unrecorded(message.node_ids)
        elif isinstance(message, _IntakeFailed):  # a crash: the supervisor starts it again
            raise RuntimeError("the dispatcher's status intake failed") from message.error
        return None

    def _writes_lost(self, node_ids: frozenset[str]) -> None:
        """The writer gave up these nodes' writes (on its thread)."""
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(_WritesLost(node_ids))

    def _intake_failed(self, error: BaseException) -> None:
        """The status intake ended on ``error`` (on its thread)."""
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(_IntakeFailed(error))

    def _close_unrecorded(self, node_ids: frozenset[str]) -> None:
        """Close the sessions of nodes whose writes were given up: their agents register
        again, with their READY and description, and resend their statuses. The final
        frames go out with the next tick."""
        closed = 0
        with self._front.lock:
            for node_id in node_ids:
                session = self._core.sessions.get(node_id)
                if session is not None:
                    self._core.close_session(session, WRITES_LOST)
                    closed += 1
        if closed:
            _log.warning("dispatcher.sessions.closing", reason=WRITES_LOST, sessions=closed)
            self._on_change()

    def _wake_for_opens(self) -> None:
        """The front queued the first open of a batch (on a handler thread)."""
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(_OPENS)

    def session_count(self) -> int:
        return self._front.session_count()

    # --- the tick -----------------------------------------------------------------------

    def _tick(self) -> tuple[frozenset[str], int]:
        """The lanes it had work for (frames sent or sessions closed, writes handed on),
        and how many sessions it sent changes to."""
        # the manager list every frame carries, read once per tick or batch of opens:
        # reading it lists every node of the store (1,000 frames a tick at 1,000 nodes)
        self._streams.set_managers(tuple(self._managers()))
        changed = self._watch.drain()
        with self._front.lock:
            out = self._core.tick(self._clock())
        metrics.HEARTBEATS_MISSED.inc(out.expired)
        metrics.SESSIONS.set(len(self._core.sessions))
        self._streams.send_all(out.deltas)
        resent = self._notices.send()
        for session, reason in out.closed:
            self._streams.close(session, reason)
        if (out.node_writes or out.status_writes) and self._writer is not None:
            self._writer.tell(Writes(tuple(out.node_writes), tuple(out.status_writes)))
        sent = changed < 0 or resent or out.deltas or out.closed
        wrote = out.node_writes or out.status_writes
        busy = frozenset(lane for lane, busy in ((_OUT, sent), (_IN, wrote)) if busy)
        return busy, len(out.deltas)
