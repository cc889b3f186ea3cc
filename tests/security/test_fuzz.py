"""A bounded fuzz of every endpoint from every identity (issue 8, item 7).

One real manager (``swarm-node``, real CURVE). Identities: a stranger (a fresh key, no
certificate), a worker (a certificate this test obtains by joining with the worker
token), the manager itself (its own key), and on the control socket the local user. For
each endpoint (remote API, join-hello port, control socket) and identity, `FRAMES` frames
from the seeded generator of tests/support/fuzz.py go out on a raw DEALER: random bytes,
declared types with wrong field types, bad envelopes, truncated and flipped frames, huge
declared lengths, deep nesting, frames over a stranger's size. Every reply must decode as a
valid message; every `LEGIT_EVERY` frames every identity's legitimate calls must succeed.
Afterwards: no actor crashed (no supervisor crash, restart or escalation in the log), no
handler raised, peak RSS stayed under 300 MiB, and the node is still the ready leader.

Well-formed requests that would act (control writes, ``raft.join``, a session under the
manager's own key) are only ever sent malformed: the fuzz tests the edge, not what an
operator may legitimately do. The seed is ``SWARMNODE_FUZZ_SEED`` if set, else random; it
is in every failure message, and ``SWARMNODE_FUZZ_SEED=N pytest tests/security/test_fuzz.py``
sends the same frames again.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import zmq

from actors.ca.join import hello_address, hello_keypair, join_cluster
from actors.ca.node_identity import read_curve_keys
from api.errors import CodecError, ErrorCode, RemoteError
from api.schema.frame import REPLY_LIMITS
from tests.support.flood import peak_rss_bytes
from tests.support.fuzz import FrameFuzzer
from tests.support.swarm import Swarm, SwarmNode, poll
from transport.client import Client
from transport.codec import decode
from transport.keys import KeyPair, generate_keypair

FRAMES = 300
LEGIT_EVERY = 50
PEAK_RSS_BOUND = 300 * 1024 * 1024
FAILURE_EVENTS = frozenset(
    {
        "supervisor.child.crashed",
        "supervisor.child.restarted",
        "supervisor.escalating",
        "transport.handler.failed",
        "transport.io.failed",
        "raft.loop.crashed",
    }
)
# requests that act when well-formed: only ever sent malformed (see the module docstring)
CONTROL_WRITES = frozenset(
    {
        "control.service.create",
        "control.service.update",
        "control.service.scale",
        "control.service.rm",
        "control.service.rollback",
        "control.node.update",
        "control.node.rm",
        "control.cluster.update",
        "control.cluster.join_token",
        "control.cluster.unlock_key",
        "control.cluster.leave",
    }
)
MANAGER_ACTS = frozenset({"raft.join", "dispatcher.session"})
SEED = int(os.environ.get("SWARMNODE_FUZZ_SEED") or random.randrange(2**32))


@dataclass(frozen=True)
class Identity:
    name: str
    keys: KeyPair | None  # None: the control socket's local user


@dataclass(frozen=True)
class Edge:
    endpoint: str
    address: str
    server_key: bytes | None


@dataclass
class Target:
    node: SwarmNode
    edges: dict[str, Edge]
    identities: dict[str, Identity]

    def legit_calls(self) -> list[tuple[str, Callable[[], Any]]]:
        """Each identity's legitimate calls on each endpoint it may use."""
        remote, hello, control = self.edges["remote"], self.edges["hello"], self.edges["control"]

        def call(edge: Edge, who: Identity | None, message_type: str) -> Callable[[], Any]:
            def run() -> Any:
                keys = who.keys if who is not None else None
                with Client(
                    edge.address, server_key=edge.server_key, keypair=keys, timeout=10.0
                ) as client:
                    try:
                        return client.request(message_type) or True
                    except RemoteError as exc:
                        if exc.code == ErrorCode.BUSY:  # strangers' share full: again
                            return None
                        raise

            return run

        ids = self.identities
        return [
            ("control version", call(control, None, "version")),
            ("control node ls", call(control, None, "control.node.ls")),
            ("remote ca.root as a stranger", call(remote, ids["stranger"], "ca.root")),
            ("remote version as a worker", call(remote, ids["worker"], "version")),
            ("remote raft.status as the manager", call(remote, ids["manager"], "raft.status")),
            ("hello ca.hello as a stranger", call(hello, ids["stranger"], "ca.hello")),
        ]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with Swarm(tmp) as swarm:
        node = swarm.start_node("m1", executor="process")
        node.wait_ready()
        worker = join_cluster(
            node.remote_api,
            node.join_token("worker"),
            state_dir=tmp / "fuzz-worker",
            hostname="fuzz-worker",
            timeout=30.0,
        )
        remote = f"tcp://{node.remote_api}"
        yield Target(
            node,
            {
                "remote": Edge("remote", remote, read_curve_keys(node.state_dir).public),
                "hello": Edge("hello", hello_address(remote), hello_keypair().public),
                "control": Edge("control", f"ipc://{node.socket}", None),
            },
            {
                "stranger": Identity("stranger", generate_keypair()),
                "worker": Identity("worker", worker.keypair),
                "manager": Identity("manager", read_curve_keys(node.state_dir)),
            },
        )


def may_be_valid(endpoint: str, identity: str) -> Callable[[str], bool]:
    def check(message_type: str) -> bool:
        if endpoint == "control":
            return message_type not in CONTROL_WRITES
        return not (endpoint == "remote" and identity == "manager" and message_type in MANAGER_ACTS)

    return check


def dealer(edge: Edge, who: Identity | None) -> tuple[zmq.Context[zmq.Socket[bytes]], Any]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.sndtimeo = 2000
    sock.reconnect_ivl = 20  # the hello port drops a peer over 4 KiB: back at once
    if edge.server_key is not None and who is not None and who.keys is not None:
        sock.curve_serverkey = edge.server_key
        sock.curve_publickey = who.keys.public
        sock.curve_secretkey = who.keys.secret
    sock.connect(edge.address)
    return ctx, sock


def drain(sock: Any, replies: Counter[str], wait_ms: int = 0) -> None:
    """Read what came back: each reply must be a valid message."""
    while sock.poll(wait_ms, zmq.POLLIN):
        frame = sock.recv()
        try:
            envelope = decode(frame, limits=REPLY_LIMITS)
        except CodecError as exc:
            pytest.fail(f"seed {SEED}: the manager sent an invalid frame ({exc.message})")
        code = envelope.body.get("code") if envelope.type == "error" else "ok"
        replies[str(code)] += 1
        wait_ms = 0


def check_node(target: Target, where: str) -> None:
    node = target.node
    assert node.process is not None
    failures = [e for e in node.log_events() if e.get("event") in FAILURE_EVENTS]
    assert not failures, f"seed {SEED}, {where}: {failures[:5]}"
    rss = peak_rss_bytes(node.process.pid)
    assert rss < PEAK_RSS_BOUND, f"seed {SEED}, {where}: peak RSS {rss / 2**20:.0f} MiB"


def fuzz(target: Target, endpoint: str, identity: str) -> None:
    edge = target.edges[endpoint]
    who = target.identities.get(identity)
    rng = random.Random(f"{SEED}/{endpoint}/{identity}")
    fuzzer = FrameFuzzer(rng, may_be_valid=may_be_valid(endpoint, identity))
    kinds: Counter[str] = Counter()
    replies: Counter[str] = Counter()
    ctx, sock = dealer(edge, who)
    try:
        for i in range(1, FRAMES + 1):
            kind, frame = fuzzer.frame()
            kinds[kind] += 1
            try:
                sock.send(frame)
            except zmq.Again:
                kinds["not sent"] += 1
            drain(sock, replies)
            if i % LEGIT_EVERY == 0:
                for what, call in target.legit_calls():
                    poll(call, f"seed {SEED}, {endpoint}/{identity} frame {i}: {what}", 30)
        drain(sock, replies, wait_ms=500)
    finally:
        ctx.destroy(linger=0)
    check_node(target, f"{endpoint} as {identity} ({dict(kinds)}; replies {dict(replies)})")


@pytest.mark.parametrize("identity", ["stranger", "worker", "manager"])
def test_fuzz_the_remote_api(target: Target, identity: str) -> None:
    fuzz(target, "remote", identity)


@pytest.mark.parametrize("identity", ["stranger", "worker", "manager"])
def test_fuzz_the_join_port(target: Target, identity: str) -> None:
    fuzz(target, "hello", identity)


def test_fuzz_the_control_socket(target: Target) -> None:
    fuzz(target, "control", "local")


def test_the_node_is_whole_after_the_fuzz(target: Target) -> None:
    target.node.wait_ready()
    for what, call in target.legit_calls():
        poll(call, f"seed {SEED}: {what} after the fuzz", 30)
    check_node(target, "after the fuzz")


def test_the_seed_reproduces_the_frames() -> None:
    def frames(seed: int) -> list[bytes]:
        fuzzer = FrameFuzzer(random.Random(f"{seed}/remote/stranger"))
        return [fuzzer.frame()[1] for _ in range(50)]

    assert frames(SEED) == frames(SEED)
