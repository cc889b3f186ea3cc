"""The agent session's calls to a manager's dispatcher, and how their failures are judged
(the agent: actors/worker/agent.py; the pure rules behind them: actors/worker/session.py).

Rules:
- Statuses wait in the `StatusOutbox` (the ``StatusReporter`` the worker holds): it never
  blocks, coalesces per task (`StatusCoalescer`), and wakes the session (``on_pending``)
  only when it goes from empty to holding some.
- `send_statuses` sends one batch of up to ``limit`` without waiting for its reply; the
  reply wakes the session loop. One batch is in flight at a time.
- `status_answered` judges a batch's outcome: answered ``busy`` or not within the request
  timeout, the batch is put back and the session stays (`ManagerBusy`: tried again
  ``BUSY_RETRY`` later); any other failure puts it back and ends the session
  (`SessionEnded`); refused updates are logged, never resent.
- `heartbeat` answered ``busy`` keeps the session (`ManagerBusy`); any other failure,
  no reply in time included, ends it: the heartbeat alone says whether the manager is
  there.
- A manager that refuses this node's key at the handshake ends the session as
  `NodeRemoved` (a `SessionEnded`): the node was removed from the cluster.
- What each call carries, and which failures keep the session, are session_calls.py's
  rules, which the fleet's simulated nodes follow too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from actors.log import get_logger
from actors.worker.session import StatusCoalescer
from actors.worker.session_calls import (
    Call,
    ManagerBusy,
    SessionEnded,
    heartbeat_body,
    keeps_session,
    status_body,
)
from api.errors import ErrorCode, RemoteError, RequestTimeout, TransportError
from api.objects import NodeTLSInfo, TaskStatus
from transport.client import Client

__all__ = [
    "StatusCall",
    "StatusOutbox",
    "heartbeat",
    "send_statuses",
    "status_answered",
]

_log = get_logger("agent")


class StatusOutbox:
    """The agent's ``StatusReporter``: thread-safe, never blocks; queues and coalesces.
    ``on_pending`` (set by the session) is called when it goes from empty to holding some."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = StatusCoalescer()
        self._on_pending: Callable[[], None] | None = None

    def set_on_pending(self, callback: Callable[[], None] | None) -> None:
        with self._lock:
            self._on_pending = callback

    def report_status(self, updates: Sequence[tuple[str, TaskStatus]]) -> None:
        with self._lock:
            was_empty = not len(self._pending)
            self._pending.add(updates)
            wake = self._on_pending if was_empty and len(self._pending) else None
        if wake is not None:
            wake()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def take(self, limit: int) -> list[tuple[str, TaskStatus]]:
        with self._lock:
            return self._pending.take(limit)

    def requeue(self, updates: Sequence[tuple[str, TaskStatus]]) -> None:
        with self._lock:
            self._pending.requeue(updates)


@dataclass(frozen=True, slots=True)
class StatusCall:
    """A status batch sent, and its reply to come."""

    batch: list[tuple[str, TaskStatus]]
    reply: Future[dict[str, Any]]


def _keeps_session(call: Call, error: TransportError) -> bool:
    busy = isinstance(error, RemoteError) and error.code == ErrorCode.BUSY
    return keeps_session(call, busy=busy, timed_out=isinstance(error, RequestTimeout))


def heartbeat(
    client: Client, node_id: str, session_id: str, tls: NodeTLSInfo | None = None
) -> Mapping[str, Any]:
    """The manager's heartbeat reply (the next period, the frames streamed so far, the
    node's role and the cluster's trust when they are to be said); ``tls``: the node's TLS
    report, sent when it changed (actors/dispatcher/tls_report.py)."""
    try:
        return client.request(Call.HEARTBEAT.value, heartbeat_body(node_id, session_id, tls))
    except TransportError as exc:
        if _keeps_session(Call.HEARTBEAT, exc):
            raise ManagerBusy from None
        raise SessionEnded(Call.HEARTBEAT.failed(exc)) from None


def send_statuses(
    client: Client,
    outbox: StatusOutbox,
    limit: int,
    node_id: str,
    session_id: str,
    on_reply: Callable[[], None],
) -> StatusCall | None:
    """Send the next status batch without waiting for its reply, whose arrival calls
    ``on_reply`` (it wakes the session loop); None if nothing was pending."""
    batch = outbox.take(limit)
    if not batch:
        return None
    try:
        reply = client.request_async(Call.STATUS.value, status_body(node_id, session_id, batch))
    except TransportError as exc:
        outbox.requeue(batch)
        raise SessionEnded(Call.STATUS.failed(exc)) from None
    reply.add_done_callback(lambda _: on_reply())
    return StatusCall(batch, reply)


def status_answered(call: StatusCall, outbox: StatusOutbox) -> None:
    """Judge a status batch's outcome: a batch answered busy or not in time is put
    back (ManagerBusy), any other failure ends the session (the batch put back)."""
    try:
        reply = call.reply.result()
    except TransportError as exc:
        outbox.requeue(call.batch)
        if not _keeps_session(Call.STATUS, exc):
            raise SessionEnded(Call.STATUS.failed(exc)) from None
        if isinstance(exc, RequestTimeout):
            _log.warning("agent.status.late", updates=len(call.batch), error=str(exc))
        raise ManagerBusy from None
    refused = reply.get("refused", [])
    if refused:
        _log.warning(
            "agent.status.refused",
            refused=len(refused),
            first_task=refused[0]["task_id"],
            reason=refused[0]["reason"],
        )
    _log.debug("agent.status.sent", updates=len(call.batch), accepted=reply.get("accepted"))
