"""One agent session's ``dispatcher.session`` stream (the agent: actors/worker/agent.py).

The stream blocks, so a thread of its own reads it onto a queue; the session's thread
takes the frames from that queue (`SessionStream.next_frame`), which `wake` also ends
early when statuses are waiting to be sent.

Rules:
- A frame is decoded against the task specs the session's earlier frames gave
  (``HeldSpecs``, one per session: session_calls.py `read_frame`), and counted
  (``frames_read``: the heartbeats compare it with the frames the manager streamed).
- A full set in parts is assembled before it is handed on (set_assembly.py, one per
  session): `next_frame` gives nothing for a part but the last. The session's first
  frame (`first_frame`) is its first whole one: each part within the wait of the one
  before. A set whose parts break the rules is logged (``agent.assignments.set_refused``)
  and ends the session, so the next one brings a fresh full set.
- The session ends (`SessionEnded`) when the stream ends, fails, brings an undecodable
  frame, or the manager closes the session; a manager that refused this node's key at the
  handshake ends it as `NodeRemoved`.
- A session stream has no per-frame deadline: the heartbeats say whether the manager is
  there.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Final

from actors.dispatcher.spec_tables import HeldSpecs
from actors.dispatcher.wire import SessionFrame, encode_session_request
from actors.log import get_logger
from actors.worker.session_calls import (
    STREAM_ENDED,
    Call,
    NodeRemoved,
    SessionEnded,
    closed_reason,
    read_frame,
)
from actors.worker.set_assembly import SetAssembly, SetRefused
from api.errors import HandshakeRefused
from api.objects import NodeDescription
from transport.client import Client

__all__ = ["SessionStream"]

_log = get_logger("agent")

_END: Final = object()
_WAKE: Final = object()  # put on a session's frame queue: statuses are waiting
_FOREVER: Final = 365 * 24 * 3600.0  # a session stream has no per-frame deadline


class SessionStream:
    """The frames of one session, read by their own thread (the module's rules)."""

    def __init__(self, client: Client, node_id: str, description: NodeDescription) -> None:
        self._client = client
        self._node_id = node_id
        self._description = description
        self._frames: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._held_specs = HeldSpecs()  # the task specs this session's frames gave
        self._assembly = SetAssembly()  # a full set's parts, until the last
        self.frames_read = 0  # frames of the session decoded so far (parts each)
        self._reader = threading.Thread(target=self._read, name="agent-stream", daemon=True)

    def start(self) -> None:
        self._reader.start()

    def join(self, timeout: float) -> None:
        """Wait for the reader to end; nothing to wait for if it never started (the agent
        stopped before the session began)."""
        if self._reader.ident is not None:
            self._reader.join(timeout=timeout)

    def wake(self) -> None:
        """End the session thread's wait for a frame now (statuses are waiting)."""
        self._frames.put(_WAKE)

    def _read(self) -> None:
        body = encode_session_request(self._node_id, self._description)
        try:
            for frame in self._client.stream(Call.SESSION.value, body, timeout=_FOREVER):
                self._frames.put(frame)
        except Exception as exc:
            self._frames.put(exc)
        else:
            self._frames.put(_END)

    def next_frame(self, timeout: float) -> SessionFrame | None:
        """The next whole frame within ``timeout`` (None if none came, a `wake`, or a part
        of a set not complete yet); SessionEnded if the stream ended, failed, or the
        manager closed the session, `SetRefused` if a set's parts broke the rules."""
        try:
            item = self._frames.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        if item is _WAKE:
            return None
        if item is _END:
            raise SessionEnded(STREAM_ENDED)
        if isinstance(item, HandshakeRefused):
            raise NodeRemoved(f"the manager refused this node: {item}")
        if isinstance(item, BaseException):
            raise SessionEnded(Call.SESSION.failed(item))
        frame = read_frame(item, self._held_specs)
        self.frames_read += 1
        closed = closed_reason(frame)
        if closed is not None:
            raise SessionEnded(closed)
        try:
            whole = self._assembly.take(frame)
        except SetRefused as exc:
            _log.warning("agent.assignments.set_refused", reason=str(exc))
            raise
        if whole is not None and whole.parts > 1:
            _log.info("agent.assignments.set_assembled", parts=whole.parts, tasks=len(whole.tasks))
        return whole

    def first_frame(self, timeout: float) -> SessionFrame | None:
        """The session's first whole frame: None if nothing came within ``timeout``, or
        the next part of a set in parts did not."""
        while True:
            read = self.frames_read
            frame = self.next_frame(timeout)
            if frame is not None or self.frames_read == read:
                return frame
