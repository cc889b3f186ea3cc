"""Worker sessions: one per node, bound to the CURVE key that opened it.

Rules:
- A node has at most one session. Opening a new one (a reconnect, possibly through a new
  connection) replaces the old one, which is closed.
- Heartbeats and status reports are for the caller's node (its certificate's, callers.py)
  and name the session; they are refused when the session is unknown (expired, replaced,
  or opened on another dispatcher: the worker must open a new session) or when they come
  with another key than the one that opened it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from actors.dispatcher.assignments import AssignmentSet
from actors.dispatcher.spec_tables import SentSpecs
from actors.dispatcher.wire import ManagerAddress
from api.objects import NodeTLSInfo

__all__ = ["NO_SESSION", "WRONG_KEY", "Session", "SessionError", "SessionTable"]

NO_SESSION: Final = "no_session"
WRONG_KEY: Final = "wrong_key"


class SessionError(Exception):
    """A request that names a session it may not use. ``code`` goes on the wire."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(slots=True, eq=False)
class Session:
    session_id: str
    node_id: str
    peer_key: bytes | None
    assignments: AssignmentSet
    opened_at: float
    period: float  # the last period given to the worker
    frames_sent: int = 0  # frames streamed so far; heartbeat replies tell the worker
    # the manager list its last frame named (None: no frame yet): a frame names the list
    # only when it differs (streams.py)
    managers_sent: tuple[ManagerAddress, ...] | None = field(default=None, repr=False)
    # the node's role its last frame named ("": none yet): a frame names the role only
    # when it differs (streams.py)
    role_sent: str = ""
    # the specs its node holds (spec_tables.py); None: a node of the earlier version,
    # whose frames carry each task's spec
    sent_specs: SentSpecs | None = field(default=None, repr=False)
    # its node assembles a full set sent in several frames (False: a node of an earlier
    # version, whose full set goes in one frame: frame_packing.py)
    takes_parts: bool = False
    # the node's TLS report as last taken (its session request's, then its heartbeats'):
    # a heartbeat's report is written only when it differs
    tls: NodeTLSInfo | None = field(default=None, repr=False)
    handle: object = field(default=None, repr=False)  # the shell's stream, opaque here


class SessionTable:
    def __init__(self) -> None:
        self._by_node: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._by_node)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._by_node.values()))

    def get(self, node_id: str) -> Session | None:
        return self._by_node.get(node_id)

    def open(self, session: Session) -> Session | None:
        """Register ``session``; returns the session it replaces, if any."""
        old = self._by_node.get(session.node_id)
        self._by_node[session.node_id] = session
        return old

    def close(self, node_id: str) -> Session | None:
        return self._by_node.pop(node_id, None)

    def check(self, node_id: str, session_id: str, peer_key: bytes | None) -> Session:
        """The session a heartbeat or status report may use, or SessionError."""
        session = self._by_node.get(node_id)
        if session is None or session.session_id != session_id:
            raise SessionError(NO_SESSION, f"no session {session_id!r} for node {node_id!r}")
        if session.peer_key != peer_key:
            raise SessionError(WRONG_KEY, "the session belongs to another key")
        return session
