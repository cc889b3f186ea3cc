"""A client: one ZeroMQ DEALER, owned by the client's I/O thread, shared by any threads.

`request` (one reply awaited by the calling thread) goes over that thread's own DEALER
(`transport.lanes`), without the I/O thread, when no other request is in flight (one at a
time, the hand-offs to and from the I/O thread are most of a request's cost; many at a
time, one connection carrying them all costs less than a connection each); `send`
(one-way) goes on the thread's lane always, and that thread's next request too (kept in
order behind it). A client that watches its handshakes has no lanes. For the rest
(`request_async`, `stream`, a `request` among others), callers encode their
request (validated by `transport.codec`) in their own thread, register it in the pending
table under a fresh id and hand the frame to the I/O thread through the outbox. The I/O
thread drains the outbox into the DEALER, drains replies from the DEALER in batches,
decodes them and completes the waiting future or stream queue, and fails requests
whose deadline passed (`RequestTimeout`); late replies to forgotten requests are dropped.
No thread per request; reconnecting is ZeroMQ's (``reconnect_ivl``/``reconnect_ivl_max``).
``source`` binds the connection's local address (`transport.source`): a node that listens
on one address talks from it too. With ``watch_connection`` (the agent's session), a
handshake the server refuses (its ZAP handler said no to our key) fails every pending
request at once with `HandshakeRefused` instead of letting it time out, and ``refused``
says so; a connection that drops (the server's process died) or is refused (nothing
listens there) fails every pending request with `ConnectionLost`: their replies can no
longer come (ZeroMQ reconnects, but the server routes replies by connection).

``max_request_size`` is the server's cap on the requests it takes, when smaller than the
replies it sends (the control socket's, `api.limits.CONTROL_MAX_REQUEST_BYTES`): a bigger
request is refused here with `FrameTooLarge` naming that limit, where the server would
only drop the connection.

Futures complete on the I/O thread: callbacks added to them must be quick.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import zmq

from api.errors import (
    ClientClosed,
    CodecError,
    ConnectionLost,
    FrameTooLarge,
    HandshakeRefused,
    RemoteError,
    RequestTimeout,
    TransportError,
)
from api.limits import format_bytes
from api.schema.frame import DEFAULT_MAX_MESSAGE_SIZE, REPLY_LIMITS, Envelope
from transport.codec import decode, encode
from transport.lanes import Lanes
from transport.outbox import STOP, Outbox
from transport.source import connect_endpoint

if TYPE_CHECKING:  # imported where used: a command-line client needs neither
    from concurrent.futures import Future  # (concurrent.futures imports logging)

    from transport.keys import KeyPair

__all__ = ["Client", "connection_lost"]

_BATCH: Final = 512
_NOBLOCK: Final = int(zmq.NOBLOCK)  # a plain int: a flag enum costs an enum operation a call
_GRACE: Final = 1.0  # extra wait in request() in case the I/O thread itself is stuck


def _new_keypair() -> KeyPair:
    """A fresh CURVE keypair; `transport.keys` (hashlib) is imported only by a client that
    talks CURVE, not by swarmctl on the control socket."""
    from transport.keys import generate_keypair

    return generate_keypair()


@functools.cache
def _log() -> Any:
    """The client's logger, on first use: importing structlog costs more than the rest of
    a command-line client's start-up, and a client logs only when something fails."""
    import structlog

    return structlog.get_logger(subsystem="transport")


class _Reply:
    """What `Client.request` waits on: a lock held until the I/O thread has put the outcome
    in. One release wakes the caller, which then holds nothing another thread needs (a
    Future's waiter wakes into its condition's lock, which the I/O thread may still hold
    while it completes the next future)."""

    __slots__ = ("done", "outcome")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.outcome: dict[str, Any] | BaseException | None = None

    def resolve(self, outcome: dict[str, Any] | BaseException) -> None:
        """Called once (by whoever took the entry out of the pending table)."""
        self.outcome = outcome
        self.done.release()


if TYPE_CHECKING:
    _Pending = Future[dict[str, Any]] | _Reply | queue.SimpleQueue[Envelope | BaseException]


def connection_lost(event: int, address: str) -> ConnectionLost | None:
    """What a socket monitor's ``event`` means for the requests pending on a connection to
    ``address``: lost when it dropped (the server's process died) or was refused (nothing
    listens there); None for any other event."""
    if event == zmq.EVENT_DISCONNECTED:
        return ConnectionLost(f"the connection to {address} closed")
    if event == zmq.EVENT_CONNECT_RETRIED:
        return ConnectionLost(f"{address} refused the connection")
    return None


class Client:
    def __init__(
        self,
        address: str,
        *,
        server_key: bytes | None = None,
        keypair: KeyPair | None = None,
        timeout: float = 5.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_request_size: int | None = None,
        name: str = "client",
        source: str | None = None,
        watch_connection: bool = False,
    ) -> None:
        if address.startswith("tcp://") and server_key is None:
            raise ValueError("CURVE is mandatory on tcp://: give the server's public key")
        self.address = address
        self.source = source
        self.timeout = timeout
        self._max_size = max_message_size
        # the server's cap on what it takes (the control socket's is smaller than its replies)
        self._max_request = max_message_size if max_request_size is None else max_request_size
        self._limits = REPLY_LIMITS.capped(max_message_size)
        self._name = name
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._deadlines: list[tuple[float, int]] = []
        self._deadlines_lock = threading.Lock()
        self._closed = False
        self.refused: HandshakeRefused | None = None
        self._monitor: zmq.Socket[bytes] | None = None
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._outbox = Outbox()
        self._server_key = server_key
        # one key for every socket of this client (its own and its lanes)
        self._keypair = keypair if keypair is not None or server_key is None else _new_keypair()
        try:
            self._dealer = self._open_dealer(watch_connection)
        except BaseException:
            self._outbox.close()
            # a socket left open makes the context's garbage collection hang in term()
            self._context.destroy(linger=0)
            raise
        self._lanes = None if watch_connection else Lanes(self._open_socket, self._limits, address)
        self._thread = threading.Thread(target=self._run, name=f"{name}-io", daemon=True)
        self._thread.start()

    def _open_dealer(self, watch_connection: bool) -> zmq.Socket[bytes]:
        """The I/O thread's DEALER: connected at once when watching the connection, else
        by the I/O thread before its first send (a client used only through `request`
        makes no connection it does not use)."""
        sock = self._open_socket(connect=False)
        if watch_connection:
            self._monitor = sock.get_monitor_socket(
                zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED
            )
            sock.connect(connect_endpoint(self.address, self.source))
        return sock

    def _open_socket(self, connect: bool = True) -> zmq.Socket[bytes]:
        """A DEALER set up as every socket of this client is (connected unless told not)."""
        sock = self._context.socket(zmq.DEALER)
        sock.linger = 0
        sock.maxmsgsize = self._max_size
        sock.sndhwm = 100_000
        sock.rcvhwm = 100_000
        sock.reconnect_ivl = 100
        sock.reconnect_ivl_max = 2_000
        sock.setsockopt(zmq.HEARTBEAT_IVL, 2_000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 6_000)
        if self._server_key is not None and self._keypair is not None:
            sock.curve_serverkey = self._server_key
            sock.curve_publickey = self._keypair.public
            sock.curve_secretkey = self._keypair.secret
        if connect:
            sock.connect(connect_endpoint(self.address, self.source))
        return sock

    # -- public API ------------------------------------------------------------------------

    def request_async(
        self, message_type: str, body: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> Future[dict[str, Any]]:
        """Send a request; the future gets the final reply's body, or `RemoteError`,
        `RequestTimeout` or `ClientClosed`."""
        from concurrent.futures import Future

        future: Future[dict[str, Any]] = Future()
        self._call(message_type, body, timeout, future)
        return future

    def request(
        self, message_type: str, body: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        limit = self.timeout if timeout is None else timeout
        lanes = self._lanes
        if lanes is not None and (not (self._pending or lanes.busy) or lanes.owes_order()):
            return self._request_on_lane(lanes, message_type, body, limit)
        reply = _Reply()
        rid = self._call(message_type, body, limit, reply)
        # The I/O thread fails the request at the deadline; the grace only guards against
        # that thread being stuck.
        if not reply.done.acquire(timeout=limit + _GRACE):
            self._pending.pop(rid, None)
            raise RequestTimeout(f"no reply to {message_type!r} within {limit}s")
        outcome = reply.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None
        return outcome

    def _request_on_lane(
        self, lanes: Lanes, message_type: str, body: Mapping[str, Any] | None, timeout: float
    ) -> dict[str, Any]:
        self._check_open()
        rid = next(self._ids)
        frame = self._encode(message_type, body, rid)
        envelope = lanes.request(frame, rid, timeout, message_type)
        if envelope.type == "error":
            raise RemoteError(str(envelope.body["code"]), str(envelope.body["message"]))
        return dict(envelope.body)

    def stream(
        self, message_type: str, body: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Send a request and iterate over its streamed replies (``more`` frames, then the
        final one). ``timeout`` bounds the wait for each frame."""
        limit = self.timeout if timeout is None else timeout
        frames: queue.SimpleQueue[Envelope | BaseException] = queue.SimpleQueue()
        rid = self._submit(message_type, body, frames)
        return self._iterate(rid, message_type, frames, limit)

    def send(self, message_type: str, body: Mapping[str, Any] | None = None) -> None:
        """A one-way message (id 0): no reply. Sent on the calling thread's lane when it
        has lanes, so it stays in order with that thread's `request` calls."""
        self._check_open()
        frame = self._encode(message_type, body, 0)
        if self._lanes is None:
            self._outbox.send((frame,))
        elif not self._lanes.send(frame):
            _log().warning(
                "transport.request.dropped",
                client=self._name,
                address=self.address,
                reason="send queue full",
            )

    def close(self) -> None:
        """Stop the I/O thread and close the socket; pending requests get `ClientClosed`."""
        if self._closed:
            return
        self._closed = True
        if self._lanes is not None:
            self._lanes.close()
        self._outbox.stop_loop()
        self._thread.join(timeout=2.0)
        self._outbox.close()
        for rid in list(self._pending):
            self._fail(rid, ClientClosed(f"client to {self.address} closed"))
        self._context.destroy(linger=0)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- callers' side ---------------------------------------------------------------------

    def _encode(self, message_type: str, body: Mapping[str, Any] | None, rid: int) -> bytes:
        """Request ``rid``'s frame (0: one-way), or `FrameTooLarge` naming the server's
        limit (a bigger frame would only make the server drop the connection)."""
        frame = encode(message_type, body, request_id=rid, max_size=self._max_size)
        if len(frame) > self._max_request:
            raise FrameTooLarge(
                f"request {message_type!r} of {format_bytes(len(frame))} exceeds the limit of "
                f"{format_bytes(self._max_request)} on {self.address}"
            )
        return frame

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosed(f"client to {self.address} is closed")

    def _submit(self, message_type: str, body: Mapping[str, Any] | None, entry: _Pending) -> int:
        self._check_open()
        rid = next(self._ids)
        frame = self._encode(message_type, body, rid)
        self._pending[rid] = entry
        if self._refused_before(rid):
            return rid
        if not self._outbox.send((frame,)):
            self._pending.pop(rid, None)
            raise ClientClosed(f"client to {self.address} is closed")
        return rid

    def _refused_before(self, rid: int) -> bool:
        """The server refused this key before request ``rid`` was pending, so no later
        refusal event need come to fail it: fail it now (the I/O thread fails those pending
        when it sees the event; together no request waits out its deadline)."""
        refused = self.refused
        if refused is None:
            return False
        self._fail(rid, refused)
        return True

    def _call(
        self,
        message_type: str,
        body: Mapping[str, Any] | None,
        timeout: float | None,
        entry: Future[dict[str, Any]] | _Reply,
    ) -> int:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._deadlines_lock:
            rid = next(self._ids)
            heapq.heappush(self._deadlines, (deadline, rid))
        self._check_open()
        frame = self._encode(message_type, body, rid)
        self._pending[rid] = entry
        if self._refused_before(rid):
            return rid
        if not self._outbox.send((frame,)):
            self._pending.pop(rid, None)
            raise ClientClosed(f"client to {self.address} is closed")
        return rid

    def _iterate(
        self,
        rid: int,
        message_type: str,
        frames: queue.SimpleQueue[Envelope | BaseException],
        timeout: float,
    ) -> Iterator[dict[str, Any]]:
        try:
            while True:
                try:
                    item = frames.get(timeout=timeout)
                except queue.Empty:
                    raise RequestTimeout(
                        f"no reply frame to {message_type!r} within {timeout}s"
                    ) from None
                if isinstance(item, BaseException):
                    raise item
                if item.type == "error":
                    raise RemoteError(str(item.body["code"]), str(item.body["message"]))
                yield dict(item.body)
                if not item.more:
                    return
        finally:
            self._pending.pop(rid, None)

    # -- the I/O thread --------------------------------------------------------------------

    def _run(self) -> None:
        dealer, outbox = self._dealer, self._outbox
        poller = zmq.Poller()
        poller.register(dealer, zmq.POLLIN)
        poller.register(outbox.fd, zmq.POLLIN)
        monitor = self._monitor
        if monitor is not None:
            poller.register(monitor, zmq.POLLIN)
        noblock, wake_fd = _NOBLOCK, outbox.fd
        connected = monitor is not None
        try:
            while True:
                ready = dict(poller.poll(0 if outbox.sleep() else self._poll_timeout_ms()))
                outbox.woke(wake_fd in ready)
                for parts in outbox.take(_BATCH):
                    if not connected and parts is not STOP:
                        dealer.connect(connect_endpoint(self.address, self.source))
                        connected = True
                    if parts is STOP:
                        return
                    try:
                        dealer.send(parts[0], noblock)
                    except zmq.Again:
                        _log().warning(
                            "transport.request.dropped",
                            client=self._name,
                            address=self.address,
                            reason="send queue full",
                        )
                if dealer in ready:
                    # requests' waiters are woken once the batch is drained: a waiter
                    # woken at once would preempt this thread, which holds the GIL it
                    # then waits for (bench/raft.py c64, load 3-7: 3.2-3.5 -> 2.3-2.8
                    # context switches per write in the client; less clear above that)
                    answered: list[tuple[_Reply, dict[str, Any] | BaseException]] = []
                    for _ in range(_BATCH):
                        try:
                            frame = dealer.recv(noblock)
                        except zmq.Again:
                            break
                        self._deliver(frame, answered)
                    for reply, outcome in answered:
                        reply.resolve(outcome)
                if monitor is not None and monitor in ready:
                    self._on_monitor(monitor)
                if self._deadlines:
                    self._expire(time.monotonic())
        except Exception as exc:
            _log().exception("transport.io.failed", client=self._name, error=repr(exc))
        finally:
            if monitor is not None:
                dealer.disable_monitor()
                monitor.close(linger=0)
            dealer.close(linger=0)

    def _on_monitor(self, monitor: zmq.Socket[bytes]) -> None:
        from zmq.utils.monitor import recv_monitor_message

        while True:
            try:
                event = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            failure: TransportError | None
            if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                self.refused = failure = HandshakeRefused(
                    f"{self.address} refused this key at the handshake (status {event['value']})"
                )
            else:
                failure = connection_lost(event["event"], self.address)
                if failure is None:
                    continue
            for rid in list(self._pending):
                self._fail(rid, failure)

    def _poll_timeout_ms(self) -> int | None:
        with self._deadlines_lock:
            if not self._deadlines:
                return None
            first = self._deadlines[0][0]
        return max(0, int((first - time.monotonic()) * 1000) + 1)

    def _deliver(
        self, frame: bytes, answered: list[tuple[_Reply, dict[str, Any] | BaseException]]
    ) -> None:
        """Complete the request ``frame`` answers; a `request` waiter's outcome goes to
        ``answered``, for the caller to wake it."""
        try:
            envelope = decode(frame, limits=self._limits)
        except CodecError as exc:
            _log().warning(
                "transport.reply.rejected",
                client=self._name,
                address=self.address,
                code=exc.code,
                error=exc.message,
            )
            if exc.request_id:
                self._fail(exc.request_id, exc)
            return
        rid = envelope.id
        entry = self._pending.get(rid)
        if entry is None:
            return  # one-way, or forgotten after a timeout: dropped
        if isinstance(entry, _Reply):
            if envelope.more or self._pending.pop(rid, None) is None:
                return  # request() wants the final reply only; or it gave up meanwhile
            if envelope.type == "error":
                body = envelope.body
                answered.append((entry, RemoteError(str(body["code"]), str(body["message"]))))
            else:
                answered.append((entry, dict(envelope.body)))
        elif isinstance(entry, queue.SimpleQueue):
            if not envelope.more or envelope.type == "error":
                self._pending.pop(rid, None)
            entry.put(envelope)
        else:  # a Future (request_async)
            if envelope.more:
                return  # request() wants the final reply only; stream() sees every frame
            self._pending.pop(rid, None)
            try:
                if envelope.type == "error":
                    entry.set_exception(
                        RemoteError(str(envelope.body["code"]), str(envelope.body["message"]))
                    )
                else:
                    entry.set_result(dict(envelope.body))
            except Exception:  # cancelled by the caller
                pass

    def _expire(self, now: float) -> None:
        expired: list[int] = []
        with self._deadlines_lock:
            while self._deadlines and self._deadlines[0][0] <= now:
                expired.append(heapq.heappop(self._deadlines)[1])
        for rid in expired:
            self._fail(rid, RequestTimeout(f"no reply from {self.address} in time"))

    def _fail(self, rid: int, exc: BaseException) -> None:
        entry = self._pending.pop(rid, None)
        if isinstance(entry, _Reply):
            entry.resolve(exc)
        elif isinstance(entry, queue.SimpleQueue):
            entry.put(exc)
        elif entry is not None and not entry.done():  # a Future (request_async)
            with contextlib.suppress(Exception):
                entry.set_exception(exc)
