"""An established agent session's loop, on the session's thread (the agent:
actors/worker/agent.py; when each thing is due: actors/worker/session_schedule.py).

Until the session breaks or the agent stops, each turn:
- waits for the next frame of the stream (agent_stream.py) at most until the next
  heartbeat or the statuses waiting are due, and no longer than ``flush_interval``, and
  hands a frame that came (a full set in parts: once whole) to the ``FrameApplier``
  (agent_frames.py), counting every frame read, parts too, for the heartbeats' check;
- heartbeats when one is due, at the period the dispatcher names in each reply, carrying
  the node's TLS report when it changed (a renewed certificate installed, a root dropped
  after a root CA rotation); frames lost by then end the session;
- sends queued status updates (agent_calls.py ``StatusOutbox``) in batches of up to
  ``max_batch``, coalesced per task: at once when the outbox goes from empty to holding
  some (it wakes the loop; the worker's status book has batched them already), and those
  that queued meanwhile after each batch's reply; one batch is in flight at a time and its
  reply is awaited beside the heartbeats, so a batch the manager is slow to judge never
  holds a heartbeat back.

The session ends with `SessionEnded` (agent_calls.py says which failures end it); a batch
still in flight then is put back, for the next session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NoReturn

from actors.worker.agent_calls import (
    StatusCall,
    StatusOutbox,
    heartbeat,
    send_statuses,
    status_answered,
)
from actors.worker.agent_frames import FrameApplier
from actors.worker.agent_stream import SessionStream
from actors.worker.session_calls import ManagerBusy, SessionEnded, period_and_frames
from actors.worker.session_schedule import SessionSchedule
from api.objects import NodeTLSInfo
from transport.client import Client

__all__ = ["SessionLoop"]


class SessionLoop:
    """Serves established sessions, one at a time (the module's rules)."""

    def __init__(
        self,
        *,
        node_id: str,
        statuses: StatusOutbox,
        applier: FrameApplier,
        tls_info: Callable[[], NodeTLSInfo | None],
        halt: threading.Event,
        clock: Callable[[], float],
        flush_interval: float,
        max_batch: int,
    ) -> None:
        self._node_id = node_id
        self._statuses = statuses
        self._applier = applier
        self._tls_info = tls_info
        self._halt = halt
        self._clock = clock
        self._flush_interval = flush_interval
        self._max_batch = max_batch

    def run(
        self,
        client: Client,
        session_id: str,
        period: float,
        stream: SessionStream,
        tls: NodeTLSInfo | None,
    ) -> NoReturn:
        """Serve the session whose first frame named ``period`` and whose request carried
        ``tls``, until it ends (`SessionEnded`, "agent stopping" when the agent stops)."""
        statuses = self._statuses
        schedule = SessionSchedule(self._clock(), period, tls, received=stream.frames_read)
        in_flight: StatusCall | None = None  # one batch at a time, heartbeats beside it
        try:
            while not self._halt.is_set():
                now = self._clock()
                waiting = bool(statuses.pending()) and in_flight is None
                read = stream.frames_read
                frame = stream.next_frame(min(schedule.wait(now, waiting), self._flush_interval))
                schedule.frame_received(stream.frames_read - read)  # parts too
                if frame is not None:
                    self._applier.managers_from(frame)
                    self._applier.apply(frame)
                if schedule.beat_due(self._clock()):
                    lost = schedule.lost_frames()  # a whole period later
                    if lost is not None:
                        raise SessionEnded(lost)
                    current = self._tls_info()
                    try:
                        period, expected = self._heartbeat(
                            client, session_id, schedule.tls_report(current)
                        )
                        schedule.beat_answered(self._clock(), period, expected, current)
                    except ManagerBusy:
                        schedule.beat_busy(self._clock())
                if in_flight is not None and in_flight.reply.done():
                    call, in_flight = in_flight, None
                    try:
                        status_answered(call, statuses)
                    except ManagerBusy:
                        schedule.statuses_busy(self._clock())
                idle = in_flight is None and schedule.statuses_may_go(self._clock())
                if idle and statuses.pending():
                    in_flight = send_statuses(
                        client,
                        statuses,
                        self._max_batch,
                        self._node_id,
                        session_id,
                        stream.wake,
                    )
        finally:
            if in_flight is not None:  # no answer: sent again by the next session
                statuses.requeue(in_flight.batch)
        raise SessionEnded("agent stopping")

    def _heartbeat(
        self, client: Client, session_id: str, tls: NodeTLSInfo | None
    ) -> tuple[float, int]:
        """The next period and the number of frames the manager has streamed so far
        (``tls``: the node's TLS report, when it changed)."""
        reply = heartbeat(client, self._node_id, session_id, tls)
        self._applier.heartbeat_said(reply)
        return period_and_frames(reply)
