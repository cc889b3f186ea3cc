"""A rolling upgrade's mixed versions (README "Upgrading"), against a real manager
(``swarm-node``) over real ZeroMQ with CURVE: frames built as a newer version builds
them, with fields this version does not declare, sent raw by a real member (a worker
that joined with the worker token, its own certificate and keys).

- A newer worker's session request (a body field more, a description field more) opens
  a session: the manager streams its frames, stores the node's description without the
  field, and answers the worker's heartbeat that carries a field more.
- A user's control request with a field it does not declare is refused, naming the
  field, as is a spec with a field its class does not have; nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
import zmq

from actors.ca.join import join_cluster
from actors.ca.node_identity import read_curve_keys
from api.codec_objects import encode
from api.objects import NodeDescription, Platform
from api.schema.frame import PROTOCOL_VERSION, REPLY_LIMITS
from tests.support.swarm import Swarm, SwarmNode, poll
from transport.codec import decode
from transport.keys import KeyPair

FAILURE_EVENTS = frozenset(
    {"supervisor.child.crashed", "transport.handler.failed", "raft.loop.crashed"}
)


@dataclass
class Cluster:
    node: SwarmNode
    worker_id: str
    worker_keys: KeyPair


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("mixed")
    with Swarm(tmp) as swarm:
        node = swarm.start_node("m1", executor="process")
        node.wait_ready()
        worker = join_cluster(
            node.remote_api,
            node.join_token("worker"),
            state_dir=tmp / "newer-worker",
            hostname="newer-worker",
            timeout=30.0,
        )
        yield Cluster(node, worker.node_id, worker.keypair)


class RawPeer:
    """A DEALER that sends frames as built (not through ``encode``, which checks them)."""

    def __init__(self, address: str, server_key: bytes | None, keys: KeyPair | None) -> None:
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.linger = 0
        if server_key is not None and keys is not None:
            self._sock.curve_serverkey = server_key
            self._sock.curve_publickey = keys.public
            self._sock.curve_secretkey = keys.secret
        self._sock.connect(address)
        self._ids = iter(range(1, 1 << 30))

    def send(self, message_type: str, body: dict[str, Any]) -> int:
        request_id = next(self._ids)
        envelope = {"v": PROTOCOL_VERSION, "t": message_type, "id": request_id, "b": body}
        self._sock.send(msgpack.packb(envelope, use_bin_type=True))
        return request_id

    def reply(self, request_id: int, timeout: float = 30.0) -> Any:
        """The next frame answering ``request_id`` (decoded and checked as any reply)."""
        while self._sock.poll(int(timeout * 1000), zmq.POLLIN):
            envelope = decode(self._sock.recv(), limits=REPLY_LIMITS)
            if envelope.id == request_id:
                return envelope
        raise AssertionError(f"no reply to request {request_id} within {timeout} s")

    def close(self) -> None:
        self._sock.close(0)
        self._ctx.term()


def newer_description() -> dict[str, Any]:
    description = encode(NodeDescription(hostname="newer-worker", platform=Platform("linux")))
    description["gpus"] = [{"vendor": "x", "count": 2}]  # a newer worker's field
    return description


def test_a_newer_workers_session_and_heartbeat_are_served(cluster: Cluster) -> None:
    node = cluster.node
    peer = RawPeer(
        f"tcp://{node.remote_api}", read_curve_keys(node.state_dir).public, cluster.worker_keys
    )
    try:
        session = peer.send(
            "dispatcher.session",
            {
                "node_id": cluster.worker_id,
                "description": newer_description(),
                "compression": "zstd",  # a newer worker's body field
            },
        )
        first = peer.reply(session)
        assert first.type == "dispatcher.session.message", first.body
        session_id = first.body["session_id"]
        beat = peer.send(
            "dispatcher.heartbeat",
            {"node_id": cluster.worker_id, "session_id": session_id, "load": 0.5},
        )
        answer = peer.reply(beat)
        assert answer.type == "dispatcher.heartbeat.reply", answer.body
        assert answer.body["period"] > 0

        def stored() -> dict[str, Any] | None:
            doc: dict[str, Any] = node.ctl_json("node", "inspect", cluster.worker_id)[0]
            ready = doc["status"]["state"] == "ready"
            return doc if ready and doc["description"]["hostname"] == "newer-worker" else None

        doc = poll(stored, "the newer worker's node is ready with its description")
        assert "gpus" not in doc["description"]
    finally:
        peer.close()
    failures = [e for e in node.log_events() if e.get("event") in FAILURE_EVENTS]
    assert not failures, failures[:5]


def test_a_control_request_with_a_field_it_does_not_declare_is_refused(cluster: Cluster) -> None:
    node = cluster.node
    peer = RawPeer(f"ipc://{node.socket}", None, None)
    spec = {"name": "typo", "task": {"container": {"image": "busybox", "args": ["true"]}}}
    try:
        refused = peer.reply(peer.send("control.service.create", {"spec": spec, "detatch": 1}))
        assert refused.type == "error"
        assert refused.body["code"] == "invalid"
        assert 'unknown field "detatch"' in refused.body["message"]

        typo = {**spec, "task": {"container": {**spec["task"]["container"], "imagee": "x"}}}
        refused = peer.reply(peer.send("control.service.create", {"spec": typo}))
        assert refused.type == "error" and refused.body["code"] == "invalid_spec"
        assert (
            "spec.task.container.imagee: unknown field of ContainerSpec"
            in (refused.body["message"])
        )
    finally:
        peer.close()
    assert node.ctl_json("service", "ls") == []


def test_the_manager_is_whole_after_the_newer_frames(cluster: Cluster) -> None:
    node = cluster.node
    node.ctl_json("service", "create", "--detach", "--name", "after", "busybox", "true")
    assert [s["name"] for s in node.ctl_json("service", "ls")] == ["after"]
    failures = [e for e in node.log_events() if e.get("event") in FAILURE_EVENTS]
    assert not failures, failures[:5]
