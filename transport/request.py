"""What an endpoint's handlers are given and how they are marked (transport/endpoint.py
runs them).

Handlers: ``Handler = Callable[[Request], Mapping[str, Any] | None]``. A returned mapping
is the final reply (typed as the request type's declared reply); ``None`` means the handler
answers itself with `Request.reply` (``more=True`` for each streamed frame, then a final
one, from any thread, possibly later) or `Request.error`. An exception becomes an error
reply with code ``internal`` and is logged. One-way messages (id 0) get no reply. A reply
after the final one is dropped and logged.

An ordinary handler runs on one of the endpoint's pool threads, one thread hop after its
frame arrived; an *inline* handler (`inline`) after none, on the endpoint's I/O thread. Inline
handlers are for one-way, non-blocking work that only hands the request on, such as
putting it on another loop's queue (Raft's inbound messages): one that blocks stalls the
socket. A *checked* handler (`checked`) has a cheap check (authorization) run on the I/O
thread first, so a request it refuses is answered there and never queued.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import structlog
import zmq

from api.errors import CodecError
from api.schema.frame import Envelope
from api.schema.registry import lookup
from transport.codec import Packed, encode, encode_error
from transport.outbox import Outbox
from transport.router_loop import peer_address

__all__ = [
    "After",
    "CheckedHandler",
    "Handler",
    "InlineHandler",
    "Request",
    "checked",
    "inline",
]

_log = structlog.get_logger(subsystem="transport")


class Request:
    """A decoded request handed to a handler. `reply` and `error` are thread-safe."""

    __slots__ = (
        "_done",
        "_identity",
        "_lock",
        "_max_size",
        "_outbox",
        "body",
        "endpoint",
        "id",
        "peer_key",
        "source",
        "type",
    )

    def __init__(
        self,
        envelope: Envelope,
        peer_key: bytes | None,
        identity: bytes,
        outbox: Outbox,
        *,
        endpoint: str,
        max_size: int,
        source: zmq.Frame | None = None,
    ) -> None:
        self.type = envelope.type
        self.id = envelope.id
        self.body: Mapping[str, Any] = envelope.body
        self.peer_key = peer_key  # the client's CURVE public key (Z85), None without CURVE
        self.source = source  # the received frame, for its metadata (peer_address)
        self.endpoint = endpoint
        self._identity = identity
        self._outbox = outbox
        self._max_size = max_size
        self._lock = threading.Lock()
        self._done = False

    @property
    def peer_address(self) -> str:
        """Where the request came from as the socket saw it (TCP: the peer's IP; read only
        when asked, most handlers never do); "" when unknown."""
        return peer_address(self.source) if self.source is not None else ""

    @property
    def answered(self) -> bool:
        return self._done

    def reply(
        self,
        body: Mapping[str, Any] | Packed | None = None,
        *,
        more: bool = False,
        check: bool = True,
    ) -> None:
        """Send a reply (``more=True``: one streamed frame; a final reply must follow).
        Raises `CodecError` if the body does not match the declared reply type
        (``check=False``: not matched, codec.encode says when that is right)."""
        if self.id == 0:
            return
        mt = lookup(self.type)
        reply_type = mt.reply if mt is not None else None
        if reply_type is None:
            raise CodecError(f"message type {self.type!r} declares no reply type")
        frame = encode(
            reply_type, body, request_id=self.id, more=more, max_size=self._max_size, check=check
        )
        self._send(frame, final=not more)

    def error(self, code: str, message: str) -> None:
        """Answer with an ``error`` message; final."""
        if self.id != 0:
            self._send(encode_error(self.id, code, message), final=True)

    def tell_sender(self, message_type: str, body: Mapping[str, Any]) -> None:
        """A one-way message (request id 0) back to the peer this request came from, even
        for a one-way request, which gets no reply (a Raft member told it was removed)."""
        self._outbox.send((self._identity, encode(message_type, body, max_size=self._max_size)))

    def _send(self, frame: bytes, *, final: bool) -> None:
        with self._lock:
            if self._done:
                _log.warning(
                    "transport.reply.after_final",
                    endpoint=self.endpoint,
                    type=self.type,
                    request_id=self.id,
                )
                return
            self._done = final
        self._outbox.send((self._identity, frame))


Handler = Callable[[Request], Mapping[str, Any] | None]
# an inline handler's ``after``: None, or the seconds until it wants to be called again
After = Callable[[], float | None]


class InlineHandler:
    """A handler marked to run on the endpoint's I/O thread (see `inline`)."""

    __slots__ = ("after", "fn")

    def __init__(self, fn: Handler, after: After | None = None) -> None:
        self.fn = fn
        self.after = after

    def __call__(self, request: Request) -> Mapping[str, Any] | None:
        """A direct call (no endpoint): the handler, then its ``after`` at once."""
        try:
            return self.fn(request)
        finally:
            if self.after is not None:
                self.after()

    def __repr__(self) -> str:
        return f"inline({self.fn!r})"


def inline(fn: Handler, after: After | None = None) -> InlineHandler:
    """Mark ``fn`` to run on the I/O thread, with no thread hop. Only for handlers that
    never block: typically one-way messages handed to another loop's queue. Replies and
    errors work as for any handler; a handler that takes long stalls the socket.
    ``after``: called once on the I/O thread after the batch of inbound frames in which
    ``fn`` ran (however many times), before the batch's replies are sent: the handler
    queues, ``after`` carries out the whole batch's work at once. ``after`` may return a
    number of seconds: it is then called again (on the I/O thread) once they have passed
    if no batch called it before, a timer that wakes no other thread (the Raft leader's
    held commit notices); None cancels it. A direct call (no endpoint) ignores it."""
    if isinstance(fn, InlineHandler):
        return fn if after is None else InlineHandler(fn.fn, after)
    return InlineHandler(fn, after)


class CheckedHandler:
    """A handler behind a check that runs on the I/O thread first (see `checked`)."""

    __slots__ = ("check", "handler")

    def __init__(self, check: Callable[[Request], bool], handler: Handler) -> None:
        self.check = check
        self.handler = handler

    def __call__(self, request: Request) -> Mapping[str, Any] | None:
        return self.handler(request) if self.check(request) else None

    def __repr__(self) -> str:
        return f"checked({self.check!r}, {self.handler!r})"


def checked(check: Callable[[Request], bool], handler: Handler) -> CheckedHandler:
    """``handler`` (inline or not) behind ``check``, which the endpoint runs on the I/O
    thread before the request is queued: it must be as cheap as reading a snapshot, and
    when it returns False it has answered the request itself. A refused request thus never
    takes a place in the handler queue: a flood of requests a peer may not send cannot
    crowd out the ones it may (nor its own, with ``busy``)."""
    return CheckedHandler(check, handler)
