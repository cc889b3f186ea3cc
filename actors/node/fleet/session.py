"""One fleet node's session with a manager's dispatcher, sans I/O: the agent's rules
(actors/worker/agent.py) as a state machine that a single loop drives for many nodes.

Rules (the agent's):
- A node connects to the current manager of its ``ManagerRotation`` and asks for a
  ``dispatcher.session``; the first frame must come within ``connect_timeout``. It carries
  the full assignment set, which goes to the node's tasks (``NodeTasks.apply``), and then
  every known status is queued again for the new session.
- Later frames bring changes; one names the manager list when it changed (the
  dispatcher's streams.py), a frame that names none keeps the list the node has.
- A heartbeat goes out at the period the dispatcher named, one at a time; its reply names
  the next period and how many frames the manager has streamed: fewer received by the
  next heartbeat means frames were lost and the session is reopened (``lost_frames``).
- Pending statuses go out in one batch of at most ``max_status_batch`` per
  ``flush_interval``, one batch in flight at a time; a failed batch is put back.
- A status batch with no reply within ``request_timeout`` keeps the session, as one
  answered busy does: the batch is put back and sent again ``BUSY_RETRY`` later, and a late
  reply to it is dropped (``Forget``). The heartbeat says whether the manager is there
  (actors/worker/session.py).
- The session ends when its stream ends or fails, a request fails, a heartbeat times out
  (``request_timeout``), its connection drops or is refused, or frames were lost: the
  node waits a backoff (``SESSION_BACKOFF``, a step per round through the managers) and
  tries the next manager. A session the manager closed because
  the node was removed from the cluster is the node's end: it never reconnects.

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
from actors.dispatcher.core import NODE_REMOVED
from actors.dispatcher.spec_tables import HeldSpecs
from actors.dispatcher.wire import (
    SESSION,
    SESSION_HEARTBEAT,
    SESSION_STATUS,
    ManagerAddress,
    encode_session_request,
    encode_status_updates,
    parse_frame,
)
from actors.node.fleet.tasks import NodeTasks
from actors.worker.session import (
    BUSY_RETRY,
    SESSION_BACKOFF,
    ManagerRotation,
    backoff_step,
    lost_frames,
    statuses_to_resend,
)
from api.codec_objects import ObjectDecodeError
from api.errors import ErrorCode
from api.objects import NodeDescription, TaskStatus

__all__ = [
    "DEFAULT_CONFIG",
    "Call",
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


class Call(enum.Enum):
    SESSION = SESSION
    HEARTBEAT = SESSION_HEARTBEAT
    STATUS = SESSION_STATUS


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
        self._rotation = ManagerRotation(managers)
        self._rng = rng
        self._failures = 0  # sessions failed in a row (one that was established resets it)
        self.phase = Phase.WAITING
        self.session_id = ""
        self.manager = ""
        self._held_specs = HeldSpecs()  # the task specs this session's frames gave
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
        self._next_beat = _NEVER
        self._beat_deadline = _NEVER
        self._status_deadline = _NEVER
        self._next_flush = now
        self._in_flight: list[tuple[str, TaskStatus]] = []
        self._received = 0
        self._expected = 0

    # -- time ------------------------------------------------------------------------------
    def next_wakeup(self) -> float:
        phase = self.phase
        if phase is Phase.WAITING:
            return self._retry_at
        if phase is Phase.OPENING:
            return self._open_deadline
        if phase is Phase.REMOVED:
            return _NEVER
        # a heartbeat in flight waits for its reply (or its deadline), not its past due time
        beat = self._next_beat if self._beat_deadline == _NEVER else self._beat_deadline
        due = min(beat, self._status_deadline)
        if len(self.tasks.statuses) and not self._in_flight:
            due = min(due, self._next_flush)
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
        if phase is Phase.REMOVED:
            return []
        if now >= self._beat_deadline:
            return self._end(now, "heartbeat timed out")
        out: list[Effect] = []
        if now >= self._status_deadline:
            self.late_status_batches += 1
            self._put_back(now)
            out.append(Forget(Call.STATUS))
        if now >= self._next_beat and self._beat_deadline == _NEVER:
            lost = lost_frames(self._received, self._expected)
            if lost is not None:
                return self._end(now, lost)
            self._beat_deadline = now + self._config.request_timeout
            out.append(
                Send(Call.HEARTBEAT, {"node_id": self.node_id, "session_id": self.session_id})
            )
        if not self._in_flight and now >= self._next_flush and len(self.tasks.statuses):
            batch = self.tasks.statuses.take(self._config.max_status_batch)
            self._in_flight = batch
            self.status_batches += 1
            self.status_updates += len(batch)
            self._status_deadline = now + self._config.request_timeout
            self._next_flush = now + self._config.flush_interval
            body = {
                "node_id": self.node_id,
                "session_id": self.session_id,
                "updates": encode_status_updates(batch),
            }
            out.append(Send(Call.STATUS, body))
        return out

    # -- replies ---------------------------------------------------------------------------
    def on_frame(self, now: float, body: Mapping[str, Any], wall: float) -> list[Effect]:
        """A frame of the session stream (``wall``: the time for task statuses)."""
        if self.phase not in (Phase.OPENING, Phase.OPEN):
            return []
        try:
            frame = parse_frame(body, self._held_specs)
        except (ObjectDecodeError, KeyError, ValueError) as exc:
            return self._end(now, f"undecodable session frame: {exc}")
        self.frames_received += 1
        if frame.closed is not None:
            removed = NODE_REMOVED in frame.closed
            return self._end(now, f"the manager closed the session: {frame.closed}", removed)
        if frame.managers:
            self._rotation.update(frame.managers)
        if self.phase is Phase.OPENING:
            self.phase = Phase.OPEN
            self.session_id = frame.session_id
            self.sessions_opened += 1
            self._failures = 0
            self._open_deadline = _NEVER
            self._next_beat = now + frame.heartbeat_period
            self._received, self._expected = 1, 0
            self.tasks.apply(frame.full, frame.tasks, frame.removed, wall)
            current = self.tasks.current_statuses()
            self.tasks.statuses.requeue(
                statuses_to_resend(current, frame.tasks if frame.full else None)
            )
            return []
        self._received += 1
        self.tasks.apply(frame.full, frame.tasks, frame.removed, wall)
        return []

    def on_reply(self, now: float, call: Call, body: Mapping[str, Any]) -> list[Effect]:
        if self.phase is not Phase.OPEN:
            return []
        if call is Call.HEARTBEAT:
            self._beat_deadline = _NEVER
            self._next_beat = now + float(body["period"])
            self._expected = int(body.get("frames", 0))
        elif call is Call.STATUS:
            self._in_flight = []
            self._status_deadline = _NEVER
            self.refused_statuses += len(body.get("refused", ()))
        elif call is Call.SESSION:  # the stream's last frame without ``closed``
            return self._end(now, "the manager ended the stream")
        return []

    def on_failure(self, now: float, call: Call, reason: str, code: str = "") -> list[Effect]:
        """An error reply (``code``: its code), or a reply that did not decode."""
        if self.phase not in (Phase.OPENING, Phase.OPEN):
            return []
        if code == ErrorCode.BUSY and self.phase is Phase.OPEN and call is not Call.SESSION:
            return self._busy(now, call)
        what = {Call.SESSION: "session stream", Call.HEARTBEAT: "heartbeat"}.get(
            call, "status batch"
        )
        removed = NODE_REMOVED in reason
        return self._end(now, f"{what} failed: {reason}", removed)

    def _busy(self, now: float, call: Call) -> list[Effect]:
        """The manager refused a status batch or heartbeat for its full queue: the session
        stays, the call is made again ``BUSY_RETRY`` later (actors/worker/session.py)."""
        if call is Call.HEARTBEAT:
            self._beat_deadline = _NEVER
            self._next_beat = now + BUSY_RETRY
        else:
            self._put_back(now)
        return []

    def _put_back(self, now: float) -> None:
        """The status batch in flight waits again, to be sent ``BUSY_RETRY`` from now."""
        self.tasks.statuses.requeue(self._in_flight)
        self._in_flight = []
        self._status_deadline = _NEVER
        self._next_flush = now + BUSY_RETRY

    # -- steps -----------------------------------------------------------------------------
    def _attempt(self, now: float) -> list[Effect]:
        manager = self._rotation.current()
        self.manager = manager.addr
        self.phase = Phase.OPENING
        self._open_deadline = now + self._config.connect_timeout
        self._held_specs = HeldSpecs()
        body = encode_session_request(self.node_id, self._description)
        return [Connect(manager), Send(Call.SESSION, body)]

    def _end(self, now: float, reason: str, removed: bool = False) -> list[Effect]:
        if self._in_flight:
            self.tasks.statuses.requeue(self._in_flight)
            self._in_flight = []
        self.last_end = reason
        self.ends[reason] += 1
        self.session_id = ""
        self._open_deadline = self._next_beat = _NEVER
        self._beat_deadline = self._status_deadline = _NEVER
        if removed:
            self.phase = Phase.REMOVED
            return [Disconnect(reason)]
        self.phase = Phase.WAITING
        self._rotation.advance()
        self._failures += 1
        step = backoff_step(self._failures, len(self._rotation.managers))
        self._retry_at = now + self._config.backoff.delay(step, self._rng)
        return [Disconnect(reason)]
