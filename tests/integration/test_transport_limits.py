"""Limits by trust on a real CURVE endpoint (issue 8, item 2): strangers' frames are small
and refused before decoding, the handler queue is bounded and answers ``busy``."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import replace
from typing import Any

import msgpack
import pytest
import structlog
import zmq
from structlog.testing import capture_logs
from zmq.utils.monitor import recv_monitor_message

from actors.ca.join import JoinError, _ask
from api.errors import ErrorCode, RemoteError
from api.schema.frame import STRANGER_LIMITS
from tests.integration import transport_server  # noqa: F401  (declares test.echo)
from tests.support.swarm import poll
from transport import Client, Endpoint, KeyPair, Request, generate_keypair
from transport.codec import decode, encode
from transport.endpoint import checked
from transport.source import connect_endpoint
from transport.stats import endpoint_stats
from transport.strangers import StrangerLimits

MEMBER = generate_keypair()
NAMES = itertools.count(1)  # endpoint names: each gated server's counters its own


class Members:
    """Admits anyone; members are the listed keys (as the CA-backed policy of a manager's
    remote endpoint: unknown keys get in, as strangers)."""

    def __init__(self, *keys: bytes) -> None:
        self.keys = set(keys)

    def admit(self, domain: str, client_public_key_z85: bytes) -> bool:
        return True

    def is_member(self, client_public_key_z85: bytes) -> bool:
        return client_public_key_z85 in self.keys


class Server:
    def __init__(
        self, handlers: Mapping[str, Any], admission: Members | None = None, **kwargs: Any
    ) -> None:
        self.keys = generate_keypair()
        self.endpoint_name = kwargs.setdefault("name", "remote")
        self.endpoint = Endpoint(
            "tcp://127.0.0.1:0",
            handlers,
            keypair=self.keys,
            admission=admission if admission is not None else Members(MEMBER.public),
            **kwargs,
        )
        self.endpoint.start()

    def strangers(self) -> int:
        """The strangers' connections open now (the endpoint's gauge)."""
        return endpoint_stats(self.endpoint_name).strangers

    def client(self, keys: KeyPair) -> Client:
        return Client(
            self.endpoint.address, server_key=self.keys.public, keypair=keys, timeout=10.0
        )

    def raw(self, keys: KeyPair) -> tuple[zmq.Context[zmq.Socket[bytes]], zmq.Socket[bytes]]:
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.curve_serverkey = self.keys.public
        sock.curve_publickey = keys.public
        sock.curve_secretkey = keys.secret
        sock.connect(self.endpoint.address)
        return ctx, sock


@pytest.fixture
def echo_server() -> Iterator[Server]:
    def echo(request: Request) -> Mapping[str, Any]:
        return dict(request.body)

    server = Server({"test.echo": echo, "ping": lambda r: {}})
    yield server
    server.endpoint.stop()


def test_a_strangers_big_frame_is_refused_and_counted_a_members_is_served(
    echo_server: Server,
) -> None:
    text = "x" * (STRANGER_LIMITS.max_size + 1000)
    frame = encode("test.echo", {"n": 1, "text": text}, request_id=1)
    stranger = generate_keypair()
    ctx, sock = echo_server.raw(stranger)
    try:
        sock.send(frame)
        poll(
            lambda: echo_server.endpoint.refusals().get("stranger.too_large") == 1,
            "the stranger's frame counted as refused",
        )
        assert not sock.poll(200, zmq.POLLIN)  # no id was read: no answer
        # the same stranger's small request is served
        sock.send(encode("ping", request_id=2))
        assert sock.poll(10_000, zmq.POLLIN)
        assert decode(sock.recv()).id == 2
    finally:
        ctx.destroy(linger=0)
    with echo_server.client(MEMBER) as client:
        assert client.request("test.echo", {"n": 2, "text": text}) == {"n": 2, "text": text}
    assert "member.too_large" not in echo_server.endpoint.refusals()


def test_a_strangers_frame_of_tiny_maps_is_refused_by_the_lengths(echo_server: Server) -> None:
    body = {"n": 1, "pad": [{}] * 20_000}  # 20 KiB: within the size, far over the lengths
    frame = msgpack.packb({"v": 1, "t": "test.echo", "id": 3, "b": body})
    assert len(frame) < STRANGER_LIMITS.max_size
    ctx, sock = echo_server.raw(generate_keypair())
    try:
        sock.send(frame)
        poll(
            lambda: echo_server.endpoint.refusals().get("stranger.over_limits") == 1,
            "the frame refused by the stranger's lengths",
        )
        # its id comes before the body: the refusal is answered
        assert sock.poll(10_000, zmq.POLLIN)
        answer = decode(sock.recv())
        assert (answer.id, answer.body["code"]) == (3, ErrorCode.OVER_LIMITS)
    finally:
        ctx.destroy(linger=0)
    with echo_server.client(MEMBER) as client:  # a member may send that many
        assert client.request("test.echo", body) == body
    assert echo_server.endpoint.refusals() == {"stranger.over_limits": 1}


class Holder:
    """A handler that holds its thread until `release` is set; `running` counts the
    requests it holds."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = threading.Semaphore(0)

    def __call__(self, request: Request) -> Mapping[str, Any]:
        self.running.release()
        self.release.wait(30)
        return dict(request.body)


def test_a_full_handler_queue_answers_busy() -> None:
    hold = Holder()
    release, running = hold.release, hold.running
    # 4 threads: strangers may hold 1; 2 requests wait in the queue at most
    server = Server({"test.echo": hold, "ping": lambda r: {}}, workers=4, max_queued=2)
    stranger = server.client(generate_keypair())
    member = server.client(MEMBER)
    try:
        first = stranger.request_async("test.echo", {"n": 1})
        assert running.acquire(timeout=10)
        with pytest.raises(RemoteError) as info:
            stranger.request("test.echo", {"n": 2})
        assert info.value.code == ErrorCode.BUSY
        # members still get the other threads
        held = []
        for i in range(3):  # one at a time: each taken by a thread before the next comes
            held.append(member.request_async("test.echo", {"n": 10 + i}))
            assert running.acquire(timeout=10)
        # every thread busy: two requests wait, the next is refused (all three async: a
        # request() goes on the calling thread's own connection, not ordered with these)
        queued = [member.request_async("test.echo", {"n": 20 + i}) for i in range(2)]
        over = member.request_async("test.echo", {"n": 30})
        with pytest.raises(RemoteError) as info:
            over.result(10)
        assert info.value.code == ErrorCode.BUSY
        release.set()
        assert first.result(10) == {"n": 1}
        assert [f.result(10)["n"] for f in held + queued] == [10, 11, 12, 20, 21]
        refusals = server.endpoint.refusals()
        assert refusals == {"stranger.busy": 1, "member.busy": 1}
        assert member.request("ping") == {}  # nothing left behind
    finally:
        release.set()
        stranger.close()
        member.close()
        server.endpoint.stop()


def test_a_checked_request_is_refused_before_the_queue() -> None:
    """Authorization runs on the I/O thread: a stranger whose share of the threads is
    taken still gets ``unauthorized`` for what it may not send, not ``busy``."""
    hold = Holder()
    release, running = hold.release, hold.running

    def members_only(request: Request) -> bool:
        if request.peer_key == MEMBER.public:
            return True
        request.error("unauthorized", "members only")
        return False

    handlers = {"test.echo": hold, "ping": checked(members_only, lambda r: {})}
    server = Server(handlers, workers=4)
    stranger = server.client(generate_keypair())
    member = server.client(MEMBER)
    try:
        held = stranger.request_async("test.echo", {"n": 1})
        assert running.acquire(timeout=10)  # the strangers' one thread is taken
        for _ in range(3):
            with pytest.raises(RemoteError) as info:
                stranger.request("ping")
            assert info.value.code == "unauthorized"
        assert member.request("ping") == {}
        release.set()
        assert held.result(10) == {"n": 1}
        assert server.endpoint.refusals() == {}
    finally:
        release.set()
        stranger.close()
        member.close()
        server.endpoint.stop()


def test_a_joiner_asks_again_when_the_manager_is_busy_or_has_no_leader() -> None:
    # not_leader: ca.join's write was not appended (an election): asking again is safe
    answers = ["busy", "not_leader", None, "invalid_token"]

    def root(request: Request) -> Mapping[str, Any] | None:
        code = answers.pop(0)
        if code is not None:
            request.error(code, "not now" if code != "invalid_token" else "bad token")
            return None
        return {"ca_cert": b"ca", "manager_cert": b"manager"}

    server = Server({"ca.root": root})
    try:
        with server.client(generate_keypair()) as client:
            assert _ask(client, "ca.root", None, "the manager")["ca_cert"] == b"ca"
            with pytest.raises(JoinError) as info:  # any other refusal ends the join
                _ask(client, "ca.root", None, "the manager")
        assert info.value.code == "invalid_token"
        assert answers == []
    finally:
        server.endpoint.stop()


# -- strangers' connections (transport/strangers.py, connections.py) ---------------------

GATE = StrangerLimits(
    source_connections=2,
    connections=3,
    source_rate=1000.0,
    source_burst=1000,
    rate=1000.0,
    burst=1000,
    frames=4,
    lifetime=60.0,
)


def gated(limits: StrangerLimits, **kwargs: Any) -> Server:
    """A server of ``ping`` whose strangers have ``limits`` (its counters its own)."""
    name = f"gated-{next(NAMES)}"
    return Server({"ping": lambda r: {}}, name=name, strangers=limits, **kwargs)


class Peer:
    """One connection (a raw DEALER: a Client may open more than one) from ``source``."""

    def __init__(self, server: Server, keys: KeyPair, source: str = "127.0.0.1") -> None:
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sock = self.context.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.reconnect_ivl = 50
        self.sock.curve_serverkey = server.keys.public
        self.sock.curve_publickey = keys.public
        self.sock.curve_secretkey = keys.secret
        # its handshakes and disconnects, as they happen
        self.events = self.sock.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
        )
        self.seen: list[int] = []
        self.sock.connect(connect_endpoint(server.endpoint.address, source))
        self.ids = itertools.count(1)

    def saw(self, event: int) -> bool:
        """Whether ``event`` happened to this peer's connection so far."""
        while self.events.poll(0):
            self.seen.append(int(recv_monitor_message(self.events)["event"]))
        return event in self.seen

    def ping(self, timeout: float = 5.0) -> bool:
        """Whether a ping is answered within ``timeout`` (a turned-away peer's is not: its
        ZeroMQ keeps trying, and the ping goes once it gets in)."""
        rid = next(self.ids)
        self.sock.send(encode("ping", request_id=rid))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not self.sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                return False
            if decode(self.sock.recv()).id == rid:
                return True
        return False

    def close(self) -> None:
        if not self.sock.closed:
            self.sock.disable_monitor()
        self.context.destroy(linger=0)


@pytest.fixture
def captured() -> Iterator[list[MutableMapping[str, Any]]]:
    before = structlog.get_config()
    try:
        with capture_logs() as events:
            yield events
    finally:
        structlog.configure(**before)


def refused(server: Server, code: str) -> int:
    return endpoint_stats(server.endpoint_name).refusals().get(f"stranger.{code}", 0)


def test_a_joiner_turned_away_by_the_limit_of_all_sources_is_not_told_it_is_its_address() -> None:
    server = gated(replace(GATE, source_connections=3, connections=1))
    holder = Peer(server, generate_keypair(), source="127.0.0.2")
    try:
        assert holder.ping()
        client = Client(
            server.endpoint.address, server_key=server.keys.public, keypair=generate_keypair(),
            timeout=1.0,
        )  # fmt: skip
        with client, pytest.raises(JoinError) as info:
            _ask(client, "ping", None, "the manager")
        assert info.value.code == "unreachable"
        assert refused(server, "connections") >= 1
        assert "from this address or from all" in info.value.message
    finally:
        holder.close()
        server.endpoint.stop()


def test_strangers_past_the_bounds_are_turned_away_at_the_handshake_members_are_not(
    captured: list[MutableMapping[str, Any]],
) -> None:
    server = gated(GATE)
    peers: list[Peer] = []
    try:
        held = [Peer(server, generate_keypair()) for _ in range(2)]
        peers += held
        assert all(p.ping() for p in held)
        # a third from the same address: turned away (its ZeroMQ keeps trying)
        waiting = Peer(server, generate_keypair())
        peers.append(waiting)
        assert not waiting.ping(timeout=1.0)
        assert refused(server, "source_connections") >= 1
        # a member from that address is not counted
        member = Peer(server, MEMBER)
        peers.append(member)
        assert member.ping()
        # another address has its own share, within the three of all addresses
        other = Peer(server, generate_keypair(), source="127.0.0.2")
        peers.append(other)
        assert other.ping()
        # all three taken: a third address takes the place of the oldest connection of
        # the address holding the most
        third = Peer(server, generate_keypair(), source="127.0.0.3")
        peers.append(third)
        assert third.ping()
        poll(lambda: held[0].saw(zmq.EVENT_DISCONNECTED), "the oldest of 127.0.0.1 closed")
        assert refused(server, "evicted") == 1
        held[0].close()
        # each address holds one: the waiting stranger is turned away by the limit of all
        poll(lambda: refused(server, "connections") >= 1, "turned away: all are held")
        assert not waiting.sock.poll(200, zmq.POLLIN)
        # one lets go: the waiting stranger's ZeroMQ gets in and its ping is answered
        held[1].close()
        poll(lambda: waiting.sock.poll(100, zmq.POLLIN), "the waiting stranger answered")
        lines = [e for e in captured if e["event"] == "transport.stranger.refused"]
        assert {e["code"] for e in lines} == {"source_connections", "connections"}
        first = next(e for e in lines if e["code"] == "source_connections")
        assert first["peer_address"] == "127.0.0.1"
        assert "at most 2" in first["reason"] and first["endpoint"] == server.endpoint_name
    finally:
        for peer in peers:
            peer.close()
        server.endpoint.stop()


def test_a_burst_of_new_strangers_past_the_rate_is_turned_away() -> None:
    server = gated(replace(GATE, source_burst=3, source_rate=0.01))
    try:
        for _ in range(3):  # each closes before the next: only the rate counts
            peer = Peer(server, generate_keypair())
            assert peer.ping()
            peer.close()
            poll(lambda: server.strangers() == 0, "the stranger gone")
        late = Peer(server, generate_keypair())
        member = Peer(server, MEMBER)
        try:
            assert not late.ping(timeout=1.0)
            assert refused(server, "source_rate") >= 1
            assert member.ping()
        finally:
            late.close()
            member.close()
    finally:
        server.endpoint.stop()


def test_a_strangers_connection_is_closed_past_its_frames_a_members_never() -> None:
    server = gated(GATE)
    stranger, member = Peer(server, generate_keypair()), Peer(server, MEMBER)
    try:
        assert all(stranger.ping() for _ in range(GATE.frames))
        stranger.sock.send(encode("ping", request_id=99))  # one more: its connection closed
        poll(lambda: refused(server, "frames") == 1, "the stranger's connection closed")
        assert all(member.ping() for _ in range(3 * GATE.frames))
        assert refused(server, "frames") == 1
    finally:
        stranger.close()
        member.close()
        server.endpoint.stop()


def test_a_connection_without_a_members_key_is_closed_past_its_lifetime() -> None:
    """A stranger that only loiters, and one that never sends, are closed; one whose join
    succeeded on the way (its key a member's now) is kept, as are members' connections."""
    policy = Members(MEMBER.public)
    server = gated(replace(GATE, lifetime=1.0), admission=policy)
    joiner_keys = generate_keypair()
    joiner = Peer(server, joiner_keys)  # first: its lifetime ends first
    peers = [joiner]
    try:
        assert joiner.ping()
        member = Peer(server, MEMBER)
        peers.append(member)
        assert member.ping()
        loiterer = Peer(server, generate_keypair(), source="127.0.0.2")
        peers.append(loiterer)
        assert loiterer.ping()
        policy.keys.add(joiner_keys.public)  # its join succeeded
        poll(lambda: refused(server, "lifetime") >= 1, "the loiterer's connection closed")
        # the joiner's and the member's lifetimes ended first and did not close them
        assert refused(server, "lifetime") == 1
        poll(lambda: server.strangers() == 0, "the loiterer's disconnect, the joiner a member")
        assert joiner.ping() and member.ping()
        peers.append(Peer(server, generate_keypair(), source="127.0.0.3"))  # sends nothing
        poll(lambda: refused(server, "silent") >= 1, "the silent connection closed")
    finally:
        for peer in peers:
            peer.close()
        server.endpoint.stop()


def test_a_members_connection_that_sends_nothing_outlives_its_lifetime() -> None:
    """A member's client may have nothing to say for long after it connects (a follower's
    Raft connection to another follower): past its lifetime it is kept, and a stranger's
    that sends nothing is closed."""
    server = gated(replace(GATE, lifetime=1.0))
    member = Peer(server, MEMBER)
    peers = [member]
    try:
        poll(lambda: member.saw(zmq.EVENT_HANDSHAKE_SUCCEEDED), "the member's handshake")
        stranger = Peer(server, generate_keypair(), source="127.0.0.2")  # its lifetime ends later
        peers.append(stranger)
        poll(lambda: refused(server, "silent") >= 1, "the silent stranger's connection closed")
        poll(lambda: stranger.saw(zmq.EVENT_DISCONNECTED), "the stranger disconnected")
        assert not member.saw(zmq.EVENT_DISCONNECTED)
        assert refused(server, "silent") == 1
        assert member.ping()
    finally:
        for peer in peers:
            peer.close()
        server.endpoint.stop()


class Refusing(Members):
    """`Members`, refusing the keys in ``refused`` (ZAP 400)."""

    def __init__(self, *keys: bytes) -> None:
        super().__init__(*keys)
        self.refused: set[bytes] = set()

    def admit(self, domain: str, client_public_key_z85: bytes) -> bool:
        return client_public_key_z85 not in self.refused


def handshake_counts(server: Server) -> tuple[int, int]:
    """The endpoint's (handshake.failed, handshake.refused)."""
    refusals = endpoint_stats(server.endpoint_name).refusals()
    return refusals.get("handshake.failed", 0), refusals.get("handshake.refused", 0)


def test_each_refusal_is_counted_once_under_the_code_of_its_reason(
    captured: list[MutableMapping[str, Any]],
) -> None:
    """A connection the gate shuts at its accept, and a handshake it turns away (ZAP 300),
    count as ``stranger.CODE`` only: not again as ``handshake.failed`` (ZeroMQ reports the
    shut connection's handshake as failed) or ``handshake.refused`` (it reports the 300 as
    an "auth" failure). A handshake that fails of itself (the peer hangs up) and a key the
    policy refuses (400) still count there, once each."""
    policy = Refusing(MEMBER.public)
    server = gated(replace(GATE, source_connections=1, source_unproven=2), admission=policy)
    host, port = server.endpoint.address[len("tcp://") :].rsplit(":", 1)
    raw: list[socket.socket] = []
    peers: list[Peer] = []
    try:
        # raw connections that never greet: two are held, the next three shut at accept
        for _ in range(5):
            raw.append(socket.create_connection((host, int(port))))
        poll(lambda: refused(server, "source_unproven") == 3, "three shut at their accept")
        for sock in raw[2:]:  # shut down by the gate: its greeting, then the end
            sock.settimeout(10.0)
            while sock.recv(4096):
                pass
        assert handshake_counts(server) == (0, 0)
        for sock in raw[:2]:  # these two hang up during their handshake
            sock.close()
        poll(lambda: handshake_counts(server)[0] >= 2, "the two handshakes failed")
        assert handshake_counts(server) == (2, 0)
        # a stranger past its address's one connection: turned away (300), counted once
        peers.append(Peer(server, generate_keypair()))
        assert peers[0].ping()
        peers.append(Peer(server, generate_keypair()))
        poll(lambda: refused(server, "source_connections") >= 1, "the second turned away")
        peers.pop().close()
        # a key the policy refuses (400): handshake.refused, logged with its status
        keys = generate_keypair()
        policy.refused.add(keys.public)
        peers.append(Peer(server, keys))
        poll(
            lambda: any(e["event"] == "transport.handshake.refused" for e in captured),
            "the refused key's handshake logged",
        )
        statuses = [
            e["zap_status"] for e in captured if e["event"] == "transport.handshake.refused"
        ]
        assert statuses == [400]
        assert handshake_counts(server) == (2, 1)
        assert set(endpoint_stats(server.endpoint_name).refusals()) == {
            "stranger.source_unproven",
            "stranger.source_connections",
            "handshake.failed",
            "handshake.refused",
        }
    finally:
        for sock in raw:
            sock.close()
        for peer in peers:
            peer.close()
        server.endpoint.stop()
