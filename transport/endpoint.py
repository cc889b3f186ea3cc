"""A server endpoint: one ZeroMQ ROUTER, its I/O thread and its handler threads.

Structure (DESIGN.md §6)::

    RouterLoop thread  -- owns the ROUTER; drains inbound frames in batches and, still on
        |                 this thread, decodes each with transport.codec (the one decoding
        |                 boundary), answers bad frames, finds the handler in the table;
        |  inline handlers run right here      ^ [identity, frame] through the Outbox
        | submit(ordinary handlers)            |
    HandlerPool (N daemon threads) -- runs handlers; Request.reply() from any thread

A frame thus reaches an ordinary handler after one thread hop, and an *inline* handler
after none; a handler that blocks holds one pool thread, never the socket. What handlers
are given and how they are marked (`Request`, `Handler`, `inline`, `checked`, their
contract) is transport/request.py's, re-exported here.

Decoding on the I/O thread is bounded by who sent the frame (`transport.trust`): a key the
admission policy calls a member gets member limits, any other key (the join port, a key
with no live certificate) a stranger's 64 KiB frames and small lengths, checked before
msgpack builds anything; ``ZMQ_MAXMSGSIZE`` caps every frame the socket receives at
``max_request_size`` (by default ``max_message_size``, the cap on the frames it sends: the
control socket takes small requests and sends big listings). The pool's queue is
bounded, and strangers get a share of it: a request that does not fit is answered ``busy``
(a one-way message is dropped), never queued. Refused frames are counted
(`EndpointActor.refusals`) and logged at most once a second per reason.

`EndpointActor` is a pykka actor (sockets open in ``on_start``, close in ``on_stop``), so a
supervisor can run it directly. Stopping delivers the replies queued before the stop (the
I/O thread writes them before it ends, and the ROUTER lingers for them, at most
`router_loop.CLOSE_LINGER`): a node may answer and stop at once. `Endpoint` is a small
facade over it for code that just wants ``start()``/``stop()``/``address``.

Frames that do not decode get an error reply when their request id can be read, else are
dropped and logged; a type the endpoint has no handler for is answered ``unsupported``.

CURVE is mandatory for ``tcp://`` and optional for ``ipc://``; with CURVE, the I/O thread
answers the ZAP requests of the endpoint's own zmq context, admitting clients through the
given `AdmissionPolicy` (ZAP domain = the endpoint's ``name``), and bounds how many
connections strangers hold, how many frames each carries and for how long (``strangers``,
transport/connections.py). ``ipc://`` socket files are
created with mode 0600 (a stale socket file is removed first).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any, Final

import pykka
import structlog
import zmq

from api.errors import CodecError, ErrorCode
from api.schema.frame import DEFAULT_MAX_MESSAGE_SIZE
from transport.auth import AdmissionPolicy, AllowList
from transport.codec import decode, encode_error
from transport.handler_pool import DEFAULT_MAX_QUEUED, DEFAULT_WORKERS, HandlerPool, run_handler
from transport.keys import KeyPair, fingerprint
from transport.outbox import Outbox
from transport.request import (
    After,
    CheckedHandler,
    Handler,
    InlineHandler,
    Request,
    checked,
    inline,
)
from transport.router_loop import Inbound, RouterLoop
from transport.stats import endpoint_stats
from transport.strangers import DEFAULT_STRANGER_LIMITS, StrangerLimits
from transport.trust import FrameTrust, RefusalTally, Trust

# the handler names are transport/request.py's, importable from here as they always were
__all__ = [
    "CheckedHandler",
    "Endpoint",
    "EndpointActor",
    "Handler",
    "InlineHandler",
    "Request",
    "checked",
    "inline",
]

_log = structlog.get_logger(subsystem="transport")
_EVENTS: Final = {
    ErrorCode.UNSUPPORTED: "transport.request.unsupported",
    ErrorCode.BUSY: "transport.request.busy",
}


class EndpointActor(pykka.ThreadingActor):
    """Owns the I/O loop and the handler pool; its `_on_inbound` runs on the I/O thread,
    decoding inbound frames and dispatching them (inline, or to the pool)."""

    def __init__(
        self,
        bind: str,
        handlers: Mapping[str, Handler],
        *,
        keypair: KeyPair | None = None,
        admission: AdmissionPolicy | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_request_size: int | None = None,
        name: str = "remote",
        workers: int = DEFAULT_WORKERS,
        max_queued: int = DEFAULT_MAX_QUEUED,
        strangers: StrangerLimits = DEFAULT_STRANGER_LIMITS,
        started: Future[str] | None = None,
    ) -> None:
        super().__init__()
        if bind.startswith("tcp://") and keypair is None:
            raise ValueError(f"CURVE is mandatory on tcp:// endpoints: give {name} a keypair")
        self._bind = bind
        self._handlers = dict(handlers)
        self._keypair = keypair
        self._admission: AdmissionPolicy = admission if admission is not None else AllowList()
        self._max_size = max_message_size
        # what the socket takes (ZMQ_MAXMSGSIZE); what it sends is max_message_size
        self._max_request = max_message_size if max_request_size is None else max_request_size
        self._trust = FrameTrust.capped(
            self._admission.is_member if keypair is not None else None, self._max_request
        )
        self._tally = RefusalTally()
        self._timers: dict[After, float] = {}  # after -> monotonic time it is due at
        self._name = name
        self._workers = workers
        self._max_queued = max_queued
        self._strangers = strangers
        self._started = started if started is not None else Future()
        self._context: zmq.Context[zmq.Socket[bytes]] | None = None
        self._loop: RouterLoop | None = None
        self._outbox: Outbox | None = None
        self._pool: HandlerPool | None = None
        self._address = ""

    def on_start(self) -> None:
        try:
            self._context = zmq.Context()
            self._pool = HandlerPool(self._name, self._workers, max_queued=self._max_queued)
            outbox = Outbox()
            self._outbox = outbox
            self._loop = RouterLoop(
                self._context,
                self._bind,
                outbox,
                self._on_inbound,
                timers=self._run_timers,
                name=self._name,
                keypair=self._keypair,
                max_message_size=self._max_request,
                admission=self._admission,
                strangers=self._strangers,
            )
            self._loop.start()
            self._loop.ready.wait()
            if self._loop.error is not None:
                raise self._loop.error
            self._address = self._loop.address
        except BaseException as exc:
            _log.error(
                "transport.endpoint.start_failed",
                endpoint=self._name,
                bind=self._bind,
                error=repr(exc),
            )
            self._close()  # pykka does not call on_stop when on_start fails
            self._started.set_exception(exc)
            raise
        _log.info(
            "transport.endpoint.started",
            endpoint=self._name,
            address=self._address,
            curve=self._keypair is not None,
            server_key_fingerprint=self._keypair.fingerprint if self._keypair else None,
        )
        self._started.set_result(self._address)

    def on_stop(self) -> None:
        self._close()
        _log.info("transport.endpoint.stopped", endpoint=self._name, address=self._address)

    def _close(self) -> None:
        if self._outbox is not None:
            self._outbox.stop_loop()
        if self._loop is not None and self._loop.is_alive():
            self._loop.join(timeout=2.0)
        if self._outbox is not None:
            self._outbox.close()
        if self._pool is not None:
            self._pool.shutdown()
        if self._context is not None:
            self._context.destroy(linger=0)
        self._outbox = self._loop = self._pool = self._context = None

    def address(self) -> str:
        return self._address

    def refusals(self) -> dict[str, int]:
        """How many frames were refused so far, by ``TRUST.CODE`` (``stranger.too_large``,
        ``member.busy``, ...)."""
        return dict(self._tally.totals)

    def _on_inbound(self, batch: list[Inbound]) -> None:
        """Called on the I/O thread: decode within the sender's limits, answer bad frames,
        run inline handlers, hand the others to the pool (or answer ``busy``)."""
        outbox, pool, loop = self._outbox, self._pool, self._loop
        if outbox is None or pool is None or loop is None:
            return
        handlers, name, max_size, trust_of = self._handlers, self._name, self._max_size, self._trust
        connections = loop.connections
        stranger_frame, member_frame, proven = (
            connections.stranger_frame,
            connections.member_frame,
            connections.proven,
        )
        # each distinct after once per batch: keyed by the callable itself (equal bound
        # methods of one object are one, though each attribute access makes a new one)
        afters: dict[After, None] | None = None
        try:
            for identity, frame, peer_key, source in batch:
                trust = trust_of.classify(peer_key)
                if trust is Trust.STRANGER:  # a stranger's connection carries few frames
                    stranger_frame(source, peer_key)
                elif trust is Trust.MEMBER and identity not in proven:  # once a connection
                    member_frame(identity, source)
                try:
                    envelope = decode(frame, limits=trust_of.limits(trust))
                except CodecError as exc:
                    self._refused(
                        trust,
                        exc.code,
                        peer_key,
                        error=exc.message,
                        request_id=exc.request_id,
                        answered=bool(exc.request_id),
                    )
                    if exc.request_id:
                        outbox.send((identity, encode_error(exc.request_id, exc.code, exc.message)))
                    continue
                handler = handlers.get(envelope.type)
                if handler is None:
                    self._refused(
                        trust,
                        ErrorCode.UNSUPPORTED,
                        peer_key,
                        type=envelope.type,
                        request_id=envelope.id,
                    )
                    if envelope.id and envelope.type != "error":
                        message = f"endpoint {name!r} does not handle {envelope.type!r}"
                        outbox.send(
                            (identity, encode_error(envelope.id, ErrorCode.UNSUPPORTED, message))
                        )
                    continue
                request = Request(
                    envelope,
                    peer_key,
                    identity,
                    outbox,
                    endpoint=name,
                    max_size=max_size,
                    source=source,
                )
                if type(handler) is CheckedHandler:
                    if not handler.check(request):
                        continue
                    handler = handler.handler
                if type(handler) is InlineHandler:
                    run_handler(handler.fn, request)
                    if handler.after is not None:
                        if afters is None:
                            afters = {}
                        afters[handler.after] = None
                elif not pool.submit(
                    handler, request, stranger=trust is Trust.STRANGER, size=len(frame)
                ):
                    self._refused(
                        trust, ErrorCode.BUSY, peer_key, type=envelope.type, request_id=envelope.id
                    )
                    request.error(
                        ErrorCode.BUSY, f"endpoint {name!r} is busy: too many requests queued"
                    )
        finally:
            for after in afters or ():
                self._run_after(after)

    def _run_after(self, after: After) -> None:
        """Call ``after`` (on the I/O thread) and set or cancel its timer from its answer."""
        try:
            delay = after()
        except Exception as exc:
            _log.exception("transport.handler.after_failed", endpoint=self._name, error=repr(exc))
            delay = None
        if delay is None:
            self._timers.pop(after, None)
        else:
            self._timers[after] = time.monotonic() + delay

    def _run_timers(self) -> float | None:
        """The I/O loop's turn (before each poll): call the afters whose time has come;
        the seconds until the next one is due, or None."""
        timers = self._timers
        if not timers:
            return None
        now = time.monotonic()
        for after in [a for a, due in timers.items() if due <= now]:
            self._run_after(after)
        if not timers:
            return None
        return max(0.0, min(timers.values()) - time.monotonic())

    def _refused(self, trust: Trust, code: str, peer_key: bytes | None, **detail: Any) -> None:
        """Count a refused frame; log it when the tally says so (at most once a second per
        reason, with the number refused since)."""
        reason = f"{trust.value}.{code}"
        endpoint_stats(self._name).refuse(reason)
        count = self._tally.refuse(reason, time.monotonic())
        if count is None:
            return
        _log.warning(
            _EVENTS.get(code, "transport.frame.rejected"),
            endpoint=self._name,
            trust=trust.value,
            code=code,
            count=count,
            key_fingerprint=fingerprint(peer_key) if peer_key else None,
            **detail,
        )


class Endpoint:
    """Facade over `EndpointActor`: ``start()`` binds and returns the bound address."""

    def __init__(
        self,
        bind: str,
        handlers: Mapping[str, Handler],
        *,
        keypair: KeyPair | None = None,
        admission: AdmissionPolicy | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_request_size: int | None = None,
        name: str = "remote",
        workers: int = DEFAULT_WORKERS,
        max_queued: int = DEFAULT_MAX_QUEUED,
        strangers: StrangerLimits = DEFAULT_STRANGER_LIMITS,
    ) -> None:
        if bind.startswith("tcp://") and keypair is None:
            raise ValueError(f"CURVE is mandatory on tcp:// endpoints: give {name} a keypair")
        self._kwargs: dict[str, Any] = {
            "keypair": keypair,
            "admission": admission,
            "max_message_size": max_message_size,
            "max_request_size": max_request_size,
            "name": name,
            "workers": workers,
            "max_queued": max_queued,
            "strangers": strangers,
        }
        self._bind = bind
        self._handlers = handlers
        self._ref: pykka.ActorRef[EndpointActor] | None = None
        self._address: str | None = None

    @property
    def address(self) -> str:
        if self._address is None:
            raise RuntimeError("endpoint not started")
        return self._address

    @property
    def actor_ref(self) -> pykka.ActorRef[EndpointActor] | None:
        return self._ref

    def refusals(self, timeout: float = 5.0) -> dict[str, int]:
        """`EndpointActor.refusals` of the running endpoint."""
        if self._ref is None:
            raise RuntimeError("endpoint not started")
        result: dict[str, int] = self._ref.proxy().refusals().get(timeout=timeout)
        return result

    def start(self, timeout: float = 10.0) -> str:
        if self._ref is not None:
            return self.address
        started: Future[str] = Future()
        self._ref = EndpointActor.start(self._bind, self._handlers, started=started, **self._kwargs)
        try:
            self._address = started.result(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self._address

    def stop(self, timeout: float = 5.0) -> None:
        """Close the sockets; idempotent."""
        ref, self._ref = self._ref, None
        if ref is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.stop(block=True, timeout=timeout)

    def __enter__(self) -> Endpoint:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
