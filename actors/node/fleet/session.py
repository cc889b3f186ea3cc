"""One fleet node's session with a manager's dispatcher, sans I/O: the agent's rules
(actors/worker/agent.py) as a state machine that a single loop drives for many nodes. The
rules are the agent's own pure ones, shared: which manager to try next and the backoff
(actors/worker/session.py `SessionRetry`), when heartbeats and status batches are due and
frames lost (session_schedule.py `SessionSchedule`), what each call carries, how frames
are read and which failures end the session (session_calls.py), which statuses a new
session sends again (session.py `statuses_to_resend`).

Rules (the agent's):
- A node connects to the current manager of its rotation and asks for a
  ``dispatcher.session``; the first frame must come within ``connect_timeout``. It carries
  the full assignment set, which goes to the node's tasks (``NodeTasks.apply``), and then
  every known status the full set does not hold is queued again for the new session.
- A full set in parts is assembled first (actors/worker/set_assembly.py), each next part
  of a session's first set within ``connect_timeout`` of the one before; a set whose parts
  break its rules ends the session, for a fresh full set. Every frame read counts for the
  heartbeats' check of frames lost, parts too.
- Later frames bring changes; one names the manager list when it changed (the
  dispatcher's streams.py), a frame that names none keeps the list the node has.
- A heartbeat goes out at the period the dispatcher named, one at a time; its reply names
  the next period and how many frames the manager has streamed: fewer received by the
  next heartbeat means frames were lost and the session is reopened.
- Pending statuses go out in one batch of at most ``max_status_batch``, one batch in
  flight at a time; a failed batch is put back.
- A heartbeat or status batch answered busy, and a status batch with no reply within
  ``request_timeout``, keep the session: the call is made again ``BUSY_RETRY`` later, and
  a late reply to it is dropped (``Forget``). The heartbeat says whether the manager is
  there.
- The session ends when its stream ends or fails, a request fails, a heartbeat times out
  (``request_timeout``), its connection drops or is refused, or frames were lost: the
  node waits a backoff and tries the next manager. A session the manager closed because
  the node was removed from the cluster is the node's end: it never reconnects.

Where a fleet node differs from the agent, for one thread to carry a thousand sessions:
its calls are asynchronous, so it keeps their deadlines itself (the agent's client times
its requests out, and its heartbeat blocks the session's thread); it sends a status batch
at most once per ``flush_interval`` (the agent sends the next as soon as the last is
answered); it keeps no manager list on disk and holds no certificate to report or renew.

Effects are returned, never performed: ``Connect`` (open a new connection to a manager,
dropping the old one and every request on it), ``Send`` (a request on the current
connection; its replies come back through ``on_frame``/``on_reply``/``on_failure`` with the
same ``Call``), ``Forget`` (drop the replies still owed to the calls of that ``Call``),
``Disconnect``. ``now`` is the loop's monotonic clock.
"""

from __future__ import annotations

import enum
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from actors.backoff import Backoff
from actors.dispatcher.spec_tables import HeldSpecs
from actors.dispatcher.wire import ManagerAddress, encode_session_request
from actors.node.fleet.tasks import NodeTasks
from actors.worker.session import SESSION_BACKOFF, SessionRetry, statuses_to_resend
from actors.worker.session_calls import (
    STREAM_ENDED,
    Call,
    SessionEnded,
    closed_reason,
    heartbeat_body,
    keeps_session,
    period_and_frames,
    read_frame,
    removes_node,
    status_body,
)
from actors.worker.session_schedule import SessionSchedule
from actors.worker.set_assembly import SetAssembly, SetRefused
from api.errors import ErrorCode
from api.objects import NodeDescription, TaskStatus

__all__ = [
    "DEFAULT_CONFIG",
    "Connect",
    "Disconnect",
    "Effect",
    "FleetSession",
    "Forget",
    "Phase",
    "Send",
    "SessionConfig",
]

_NEVER: Final = float("inf")


class Phase(enum.Enum):
    WAITING = "waiting"  # for the next attempt
    OPENING = "opening"  # session asked, no frame yet
    OPEN = "open"
    REMOVED = "removed"  # the node was removed from the cluster: done for good


@dataclass(frozen=True, slots=True)
class Connect:
    manager: ManagerAddress


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason: str


@dataclass(frozen=True, slots=True)
class Send:
    call: Call
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Forget:
    call: Call


Effect = Connect | Disconnect | Send | Forget


@dataclass(frozen=True, slots=True)
class SessionConfig:
    connect_timeout: float = 5.0
    request_timeout: float = 5.0
    flush_interval: float = 0.05
    max_status_batch: int = 1000
    backoff: Backoff = SESSION_BACKOFF


DEFAULT_CONFIG: Final = SessionConfig()


class FleetSession:
    def __init__(
        self,
        node_id: str,
        description: NodeDescription,
        managers: Sequence[ManagerAddress],
        tasks: NodeTasks,
        rng: random.Random,
        config: SessionConfig = DEFAULT_CONFIG,
        *,
        now: float = 0.0,
    ) -> None:
        self.node_id = node_id
        self.tasks = tasks
        self._description = description
        self._config = config
        self._retries = SessionRetry(managers, config.backoff, rng)
        self.phase = Phase.WAITING
        self.session_id = ""
        self.manager = ""
        self._held_specs = HeldSpecs()  # the task specs this session's frames gave
        self._assembly = SetAssembly()  # a full set's parts, until the last
        self._session_frames = 0  # frames of this session read (parts each)
        self.last_end = ""  # why the last session ended
        self.ends: Counter[str] = Counter()  # why each session or attempt ended, counted
        self.sessions_opened = 0
        self.refused_statuses = 0
        self.late_status_batches = 0  # status batches put back for no reply in time
        # messages carried, for the bench's per-message figures: session frames received
        # (each decoded), status batches sent and the updates they held
        self.frames_received = 0
        self.status_batches = 0
        self.status_updates = 0
        self._retry_at = now
        self._open_deadline = _NEVER
        self._schedule: SessionSchedule | None = None  # the open session's
        # the deadlines of the calls in flight (the agent's client keeps its own)
        self._beat_deadline = _NEVER
        self._status_deadline = _NEVER
        self._in_flight: list[tuple[str, TaskStatus]] = []

    # -- time ------------------------------------------------------------------------------
    def next_wakeup(self) -> float:
        phase = self.phase
        if phase is Phase.WAITING:
            return self._retry_at
        if phase is Phase.OPENING:
            return self._open_deadline
        schedule = self._schedule
        if schedule is None:  # removed (only an open session has a schedule)
            return _NEVER
        # a heartbeat in flight waits for its reply (or its deadline), not its past due time
        beat = schedule.next_beat if self._beat_deadline == _NEVER else self._beat_deadline
        due = min(beat, self._status_deadline)
        if len(self.tasks.statuses) and not self._in_flight:
            due = min(due, schedule.statuses_after)
        return due

    def poll(self, now: float) -> list[Effect]:
        """What is due at ``now``: an attempt, a heartbeat, a status batch or a timeout."""
        phase = self.phase
        if phase is Phase.WAITING:
            return self._attempt(now) if now >= self._retry_at else []
        if phase is Phase.OPENING:
            if now >= self._open_deadline:
                return self._end(now, f"no session within {self._config.connect_timeout}s")
            return []
        schedule = self._schedule
        if schedule is None:  # removed (only an open session has a schedule)
            return []
        if now >= self._beat_deadline:
            return self._failed(now, Call.HEARTBEAT, "heartbeat timed out", timed_out=True)
        out: list[Effect] = []
        if now >= self._status_deadline:
            self.late_status_batches += 1
            out += self._failed(now, Call.STATUS, "status batch timed out", timed_out=True)
            if self.phase is not Phase.OPEN:
                return out
        # the schedule's times read here, not through beat_due and statuses_may_go: every
        # node is polled at each of its wake-ups, and each call cost more than its check
        if now >= schedule.next_beat and self._beat_deadline == _NEVER:
            lost = schedule.lost_frames()
            if lost is not None:
                return self._end(now, lost)
            self._beat_deadline = now + self._config.request_timeout
            tls = schedule.tls_report(self._description.tls_info)
            out.append(Send(Call.HEARTBEAT, heartbeat_body(self.node_id, self.session_id, tls)))
        statuses = self.tasks.statuses
        if not self._in_flight and now >= schedule.statuses_after and len(statuses):
            batch = statuses.take(self._config.max_status_batch)
            self._in_flight = batch
            self.status_batches += 1
            self.status_updates += len(batch)
            self._status_deadline = now + self._config.request_timeout
            schedule.hold_statuses(now, self._config.flush_interval)
            out.append(Send(Call.STATUS, status_body(self.node_id, self.session_id, batch)))
        return out

    # -- replies ---------------------------------------------------------------------------
    def on_frame(self, now: float, body: Mapping[str, Any], wall: float) -> list[Effect]:
        """A frame of the session stream (``wall``: the time for task statuses)."""
        if self.phase not in (Phase.OPENING, Phase.OPEN):
            return []
        try:
            part = read_frame(body, self._held_specs)
        except SessionEnded as exc:
            return self._end(now, str(exc))
        self.frames_received += 1
        self._session_frames += 1
        closed = closed_reason(part)
        if closed is not None:
            return self._end(now, closed, removes_node(closed))
        schedule = self._schedule
        if schedule is not None:
            schedule.frame_received()
        try:
            frame = self._assembly.take(part)
        except SetRefused as exc:
            return self._end(now, str(exc))
        if frame is None:  # a part of a full set (of the first: the next part within the timeout)
            if schedule is None:
                self._open_deadline = now + self._config.connect_timeout
            return []
        if frame.managers:
            self._retries.rotation.update(frame.managers)
        if schedule is None:  # the session's first frame
            self.phase = Phase.OPEN
            self.session_id = frame.session_id
            self.sessions_opened += 1
            self._retries.opened()
            self._open_deadline = _NEVER
            tls = self._description.tls_info  # what the session request carried
            self._schedule = SessionSchedule(
                now, frame.heartbeat_period, tls, received=self._session_frames
            )
            self.tasks.apply(frame.full, frame.tasks, frame.removed, wall)
            current = self.tasks.current_statuses()
            self.tasks.statuses.requeue(
                statuses_to_resend(current, frame.tasks if frame.full else None)
            )
            return []
        self.tasks.apply(frame.full, frame.tasks, frame.removed, wall)
        return []

    def on_reply(self, now: float, call: Call, body: Mapping[str, Any]) -> list[Effect]:
        schedule = self._schedule
        if self.phase is not Phase.OPEN or schedule is None:
            return []
        if call is Call.HEARTBEAT:
            self._beat_deadline = _NEVER
            period, frames = period_and_frames(body)
            schedule.beat_answered(now, period, frames, self._description.tls_info)
        elif call is Call.STATUS:
            self._in_flight = []
            self._status_deadline = _NEVER
            self.refused_statuses += len(body.get("refused", ()))
        elif call is Call.SESSION:  # the stream's last frame without ``closed``
            return self._end(now, STREAM_ENDED)
        return []

    def on_failure(self, now: float, call: Call, reason: str, code: str = "") -> list[Effect]:
        """An error reply (``code``: its code), or a reply that did not decode."""
        if self.phase not in (Phase.OPENING, Phase.OPEN):
            return []
        return self._failed(now, call, call.failed(reason), busy=code == ErrorCode.BUSY)

    def _failed(
        self, now: float, call: Call, ended: str, *, busy: bool = False, timed_out: bool = False
    ) -> list[Effect]:
        """``call`` failed: made again ``BUSY_RETRY`` later when that keeps the session
        (``keeps_session``), a late reply to it dropped; else the session ends: ``ended``."""
        schedule = self._schedule
        if schedule is None or not keeps_session(call, busy=busy, timed_out=timed_out):
            return self._end(now, ended, removes_node(ended))
        if call is Call.HEARTBEAT:
            self._beat_deadline = _NEVER
            schedule.beat_busy(now)
        else:  # the status batch in flight waits again
            self.tasks.statuses.requeue(self._in_flight)
            self._in_flight = []
            self._status_deadline = _NEVER
            schedule.statuses_busy(now)
        return [Forget(call)] if timed_out else []

    # -- steps -----------------------------------------------------------------------------
    def _attempt(self, now: float) -> list[Effect]:
        manager = self._retries.rotation.current()
        self.manager = manager.addr
        self.phase = Phase.OPENING
        self._open_deadline = now + self._config.connect_timeout
        self._held_specs = HeldSpecs()
        self._assembly = SetAssembly()
        self._session_frames = 0
        body = encode_session_request(self.node_id, self._description)
        return [Connect(manager), Send(Call.SESSION, body)]

    def _end(self, now: float, reason: str, removed: bool = False) -> list[Effect]:
        if self._in_flight:
            self.tasks.statuses.requeue(self._in_flight)
            self._in_flight = []
        self.last_end = reason
        self.ends[reason] += 1
        self.session_id = ""
        self._schedule = None
        self._open_deadline = self._beat_deadline = self._status_deadline = _NEVER
        if removed:
            self.phase = Phase.REMOVED
            return [Disconnect(reason)]
        self.phase = Phase.WAITING
        self._retry_at = now + self._retries.failed()
        return [Disconnect(reason)]
