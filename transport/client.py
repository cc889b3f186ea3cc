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
decodes them and completes the waiting future or stream queue (transport/pending.py,
which states the rules), and fails requests whose deadline passed (`RequestTimeout`).
No thread per request; reconnecting is ZeroMQ's (transport/dealer.py sets every socket up).
``source`` binds the connection's local address (`transport.source`): a node that listens
on one address talks from it too. With ``watch_connection`` (the agent's session), a
refused handshake (``refused`` then says so), a dropped or refused connection fail every
pending request at once instead of letting it time out (transport/dealer.py).

``max_request_size`` is the server's cap on the requests it takes, when smaller than the
replies it sends (the control socket's, `api.limits.CONTROL_MAX_REQUEST_BYTES`): a bigger
request is refused here with `FrameTooLarge` naming that limit, where the server would
only drop the connection.

Futures complete on the I/O thread: callbacks added to them must be quick.
"""

from __future__ import annotations

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
    FrameTooLarge,
    HandshakeRefused,
    RemoteError,
    RequestTimeout,
)
from api.limits import format_bytes
from api.schema.frame import DEFAULT_MAX_MESSAGE_SIZE, REPLY_LIMITS, Envelope
from transport.codec import decode, encode
from transport.dealer import WATCHED_EVENTS, connection_failure, new_keypair, open_dealer
from transport.lanes import Lanes
from transport.outbox import STOP, Outbox
from transport.pending import Answered, Reply, deliver, fail, stream_replies
from transport.source import connect_endpoint

if TYPE_CHECKING:  # imported where used: a command-line client needs neither
    from concurrent.futures import Future  # (concurrent.futures imports logging)

    from transport.keys import KeyPair
    from transport.pending import Pending

__all__ = ["Client"]

_BATCH: Final = 512
_NOBLOCK: Final = int(zmq.NOBLOCK)  # a plain int: a flag enum costs an enum operation a call
_GRACE: Final = 1.0  # extra wait in request() in case the I/O thread itself is stuck


@functools.cache
def _log() -> Any:
    """The client's logger, on first use: importing structlog costs more than the rest of
    a command-line client's start-up, and a client logs only when something fails."""
    import structlog

    return structlog.get_logger(subsystem="transport")


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
        self._pending: dict[int, Pending] = {}
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
        self._keypair = keypair if keypair is not None or server_key is None else new_keypair()
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
            self._monitor = sock.get_monitor_socket(WATCHED_EVENTS)
            sock.connect(connect_endpoint(self.address, self.source))
        return sock

    def _open_socket(self, connect: bool = True) -> zmq.Socket[bytes]:
        """A DEALER set up as every socket of this client is (connected unless told not)."""
        return open_dealer(
            self._context,
            self.address,
            source=self.source,
            max_message_size=self._max_size,
            server_key=self._server_key,
            keypair=self._keypair,
            connect=connect,
        )

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
        reply = Reply()
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
        return stream_replies(self._pending, rid, message_type, frames, limit)

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
            fail(self._pending, rid, ClientClosed(f"client to {self.address} closed"))
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

    def _submit(self, message_type: str, body: Mapping[str, Any] | None, entry: Pending) -> int:
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
        fail(self._pending, rid, refused)
        return True

    def _call(
        self,
        message_type: str,
        body: Mapping[str, Any] | None,
        timeout: float | None,
        entry: Future[dict[str, Any]] | Reply,
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

    # -- the I/O thread --------------------------------------------------------------------

    def _run(self) -> None:
        dealer, outbox = self._dealer, self._outbox
        poller = zmq.Poller()
        poller.register(dealer, zmq.POLLIN)
        poller.register(outbox.fd, zmq.POLLIN)
        monitor = self._monitor
        if monitor is not None:
            poller.register(monitor, zmq.POLLIN)
        noblock, wake_fd, pending, limits = _NOBLOCK, outbox.fd, self._pending, self._limits
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
                    answered: Answered = []
                    for _ in range(_BATCH):
                        try:
                            frame = dealer.recv(noblock)
                        except zmq.Again:
                            break
                        try:
                            envelope = decode(frame, limits=limits)
                        except CodecError as exc:
                            self._rejected(exc)
                            continue
                        deliver(pending, envelope, answered)
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
            failure = connection_failure(event["event"], event["value"], self.address)
            if failure is None:
                continue
            if isinstance(failure, HandshakeRefused):
                self.refused = failure
            for rid in list(self._pending):
                fail(self._pending, rid, failure)

    def _poll_timeout_ms(self) -> int | None:
        with self._deadlines_lock:
            if not self._deadlines:
                return None
            first = self._deadlines[0][0]
        return max(0, int((first - time.monotonic()) * 1000) + 1)

    def _rejected(self, exc: CodecError) -> None:
        """A reply that did not decode: logged, and its request failed if it names one."""
        _log().warning(
            "transport.reply.rejected",
            client=self._name,
            address=self.address,
            code=exc.code,
            error=exc.message,
        )
        if exc.request_id:
            fail(self._pending, exc.request_id, exc)

    def _expire(self, now: float) -> None:
        expired: list[int] = []
        with self._deadlines_lock:
            while self._deadlines and self._deadlines[0][0] <= now:
                expired.append(heapq.heappop(self._deadlines)[1])
        for rid in expired:
            fail(self._pending, rid, RequestTimeout(f"no reply from {self.address} in time"))
