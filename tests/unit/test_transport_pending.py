"""A client's pending table (transport/pending.py) and its sockets' set-up and monitor
events (transport/dealer.py), without a connection: which waiter a reply completes, what
a failure does to each, and what each monitor event means."""

from __future__ import annotations

import queue
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import pytest
import zmq

from api.errors import ConnectionLost, HandshakeRefused, RemoteError, RequestTimeout
from api.schema.frame import Envelope
from transport.dealer import connection_failure, connection_lost, open_dealer
from transport.keys import generate_keypair
from transport.pending import Answered, Reply, deliver, fail, stream_replies

if TYPE_CHECKING:  # a type only (a future is one of them: not imported by the client)
    from transport.pending import Pending

ERROR = {"code": "not_found", "message": "no such thing"}


def frame(rid: int, body: dict[str, Any] | None = None, *, more: bool = False) -> Envelope:
    return Envelope("pong", rid, body or {}, more=more)


def error(rid: int) -> Envelope:
    return Envelope("error", rid, ERROR)


def test_a_reply_waiter_gets_the_final_reply_only() -> None:
    reply = Reply()
    pending: dict[int, Pending] = {1: reply}
    answered: Answered = []
    deliver(pending, frame(1, more=True), answered)
    assert answered == [] and 1 in pending
    deliver(pending, frame(1, {"n": 1}), answered)
    assert answered == [(reply, {"n": 1})] and pending == {}
    # woken by the caller, once its batch is drained
    assert not reply.done.acquire(blocking=False)
    reply.resolve(answered[0][1])
    assert reply.done.acquire(blocking=False) and reply.outcome == {"n": 1}


def test_an_error_reply_is_the_waiters_remote_error() -> None:
    pending: dict[int, Pending] = {1: Reply()}
    answered: Answered = []
    deliver(pending, error(1), answered)
    [(_, outcome)] = answered
    assert isinstance(outcome, RemoteError) and outcome.code == "not_found"


def test_a_reply_nobody_waits_for_is_dropped() -> None:
    pending: dict[int, Pending] = {1: Reply()}
    answered: Answered = []
    deliver(pending, frame(2), answered)  # one-way, or forgotten after its deadline
    assert answered == [] and list(pending) == [1]


def test_a_stream_gets_every_frame_and_leaves_the_table_at_its_last() -> None:
    frames: queue.SimpleQueue[Envelope | BaseException] = queue.SimpleQueue()
    pending: dict[int, Pending] = {3: frames}
    deliver(pending, frame(3, {"n": 1}, more=True), [])
    assert 3 in pending
    deliver(pending, frame(3, {"n": 2}), [])
    assert pending == {}
    assert list(stream_replies(pending, 3, "ping", frames, timeout=1.0)) == [{"n": 1}, {"n": 2}]


def test_a_streams_error_frame_ends_it_with_a_remote_error() -> None:
    frames: queue.SimpleQueue[Envelope | BaseException] = queue.SimpleQueue()
    pending: dict[int, Pending] = {3: frames}
    deliver(pending, frame(3, {"n": 1}, more=True), [])
    deliver(pending, error(3), [])
    assert pending == {}
    replies = stream_replies(pending, 3, "ping", frames, timeout=1.0)
    assert next(replies) == {"n": 1}
    with pytest.raises(RemoteError, match="no such thing"):
        next(replies)


def test_a_stream_that_waits_past_its_timeout_leaves_the_table() -> None:
    frames: queue.SimpleQueue[Envelope | BaseException] = queue.SimpleQueue()
    pending: dict[int, Pending] = {3: frames}
    with pytest.raises(RequestTimeout, match="'ping'"):
        next(stream_replies(pending, 3, "ping", frames, timeout=0.0))
    assert pending == {}


def test_a_future_gets_the_final_reply_and_a_cancelled_one_nothing() -> None:
    future: Future[dict[str, Any]] = Future()
    cancelled: Future[dict[str, Any]] = Future()
    cancelled.cancel()
    pending: dict[int, Pending] = {1: future, 2: cancelled}
    deliver(pending, frame(1, more=True), [])
    assert not future.done()
    deliver(pending, frame(1, {"n": 1}), [])
    deliver(pending, frame(2, {"n": 2}), [])
    assert future.result() == {"n": 1} and cancelled.cancelled()
    assert pending == {}


def test_a_failure_reaches_each_kind_of_waiter_once() -> None:
    reply = Reply()
    frames: queue.SimpleQueue[Envelope | BaseException] = queue.SimpleQueue()
    future: Future[dict[str, Any]] = Future()
    pending: dict[int, Pending] = {1: reply, 2: frames, 3: future}
    lost = ConnectionLost("the connection to x closed")
    for rid in (1, 2, 3, 4):  # 4: not pending, nothing to do
        fail(pending, rid, lost)
    assert pending == {}
    assert reply.done.acquire(blocking=False) and reply.outcome is lost
    assert future.exception() is lost
    with pytest.raises(ConnectionLost):
        next(stream_replies(pending, 2, "ping", frames, timeout=1.0))


def test_what_a_monitor_event_means_for_the_requests_pending() -> None:
    address = "tcp://127.0.0.1:9"
    refused = connection_failure(zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400, address)
    assert isinstance(refused, HandshakeRefused) and "status 400" in str(refused)
    dropped = connection_failure(zmq.EVENT_DISCONNECTED, 0, address)
    assert isinstance(dropped, ConnectionLost) and "closed" in str(dropped)
    assert "refused the connection" in str(connection_lost(zmq.EVENT_CONNECT_RETRIED, address))
    assert connection_failure(zmq.EVENT_CONNECTED, 0, address) is None
    assert connection_lost(zmq.EVENT_HANDSHAKE_FAILED_AUTH, address) is None


def test_every_dealer_of_a_client_is_set_up_alike() -> None:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    keys, server = generate_keypair(), generate_keypair()
    try:
        sock = open_dealer(
            context,
            "tcp://127.0.0.1:9",
            source=None,
            max_message_size=1 << 20,
            server_key=server.public,
            keypair=keys,
            connect=False,
        )
        try:
            assert sock.maxmsgsize == 1 << 20 and sock.linger == 0
            assert (sock.sndhwm, sock.rcvhwm) == (100_000, 100_000)
            assert (sock.reconnect_ivl, sock.reconnect_ivl_max) == (100, 2_000)
            assert sock.mechanism == zmq.CURVE and not sock.curve_server  # keys: write-only
        finally:
            sock.close(linger=0)
    finally:
        context.destroy(linger=0)
