"""An agent session's calls as data, without I/O: what a heartbeat and a status batch
carry, how a session frame and a heartbeat reply are read, and which failures end the
session. Both kinds of worker session follow them: the agent's (agent_calls.py,
agent_stream.py, agent_loop.py) and the fleet's simulated nodes'
(actors/node/fleet/session.py).

Rules:
- A session makes three calls (`Call`): the ``dispatcher.session`` stream (its request:
  actors/dispatcher/session_request.py), heartbeats and status batches. Each names the
  node and its session; a heartbeat carries the node's TLS report when it changed
  (session_schedule.py), a status batch its updates.
- A heartbeat reply names the next period and the frames the manager has streamed so far.
- A frame is decoded against the task specs the session's earlier frames gave (one
  ``HeldSpecs`` per session): one that does not decode ends the session (`read_frame`),
  and so does the one by which the manager closes it (`closed_reason`).
- A failed call ends the session (`SessionEnded`, its reason from `Call.failed`) unless it
  keeps it (`keeps_session`): a heartbeat or status batch answered ``busy``, or a status
  batch not answered in time, is made again ``BUSY_RETRY`` later (`ManagerBusy`; the
  reasons: actors/worker/session.py). A session ended because the node was removed from
  the cluster is the node's end (`removes_node`, `NodeRemoved`): it never reconnects.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Final

from actors.dispatcher.core import NODE_REMOVED
from actors.dispatcher.spec_tables import HeldSpecs
from actors.dispatcher.tls_report import TLS_FIELD, encode_tls_report
from actors.dispatcher.wire import (
    SESSION,
    SESSION_HEARTBEAT,
    SESSION_STATUS,
    SessionFrame,
    encode_status_updates,
    parse_frame,
)
from api.codec_objects import ObjectDecodeError
from api.objects import NodeTLSInfo, TaskStatus

__all__ = [
    "STREAM_ENDED",
    "Call",
    "ManagerBusy",
    "NodeRemoved",
    "SessionEnded",
    "closed_reason",
    "heartbeat_body",
    "keeps_session",
    "period_and_frames",
    "read_frame",
    "removes_node",
    "status_body",
]


STREAM_ENDED: Final = "the manager ended the stream"  # its last reply, not a closing frame


class SessionEnded(Exception):
    """The current session is over; the reason is the message."""


class ManagerBusy(Exception):
    """The manager answered a heartbeat or status batch ``busy``, or a status batch got no
    reply in time: the session stays, the call is made again later."""


class NodeRemoved(SessionEnded):
    """The manager refused this node: it was removed from the cluster."""


class Call(enum.Enum):
    """A session's calls, by their wire type."""

    SESSION = SESSION
    HEARTBEAT = SESSION_HEARTBEAT
    STATUS = SESSION_STATUS

    def failed(self, reason: object) -> str:
        """Why the session ends when this call failed for ``reason``."""
        return f"{_WHAT[self]} failed: {reason}"


_WHAT = {Call.SESSION: "session stream", Call.HEARTBEAT: "heartbeat", Call.STATUS: "status batch"}


def heartbeat_body(node_id: str, session_id: str, tls: NodeTLSInfo | None) -> dict[str, Any]:
    """A heartbeat's request; ``tls``: the node's TLS report, sent when it changed."""
    body: dict[str, Any] = {"node_id": node_id, "session_id": session_id}
    if tls is not None:
        body[TLS_FIELD] = encode_tls_report(tls)
    return body


def status_body(
    node_id: str, session_id: str, batch: Sequence[tuple[str, TaskStatus]]
) -> dict[str, Any]:
    """A status batch's request."""
    return {
        "node_id": node_id,
        "session_id": session_id,
        "updates": encode_status_updates(batch),
    }


def period_and_frames(reply: Mapping[str, Any]) -> tuple[float, int]:
    """What a heartbeat reply says: the next period, and the frames streamed so far."""
    return float(reply["period"]), int(reply.get("frames", 0))


def read_frame(body: Mapping[str, Any], held: HeldSpecs) -> SessionFrame:
    """The session frame in ``body``; `SessionEnded` if it does not decode."""
    try:
        return parse_frame(body, held)
    except (ObjectDecodeError, KeyError, ValueError) as exc:
        raise SessionEnded(f"undecodable session frame: {exc}") from None


def closed_reason(frame: SessionFrame) -> str | None:
    """Why the session ends with ``frame``: the manager closed it (None: it did not)."""
    if frame.closed is None:
        return None
    return f"the manager closed the session: {frame.closed}"


def keeps_session(call: Call, *, busy: bool, timed_out: bool) -> bool:
    """Whether a failure of ``call`` (answered ``busy``; or no reply ``timed_out``) leaves
    the session open, the call made again later: the heartbeat alone says whether the
    manager is there."""
    if call is Call.SESSION:
        return False
    return busy or (call is Call.STATUS and timed_out)


def removes_node(reason: str) -> bool:
    """Whether a session that ended for ``reason`` ended because the node was removed."""
    return NODE_REMOVED in reason
