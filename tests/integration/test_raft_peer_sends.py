"""CurvePeers over real ZeroMQ with CURVE: a batch larger than a frame may carry arrives in
``raft.chunk`` frames and is put back together whole; a send that fails (no address known,
peer not connected, batch over every limit) is counted per peer and reason and logged as an
error, never dropped in silence. Before, ``send`` swallowed every failure, and a batch over
the frame limit could never be delivered."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from actors import log
from actors.raft_node.frames import Chunk, ChunkAssembler
from actors.raft_node.peers import CurvePeers, Peer
from tests.support.raft_cluster import free_port
from tests.support.waiting import any_error, wait_for
from transport import AllowList, Endpoint, KeyPair, Request, generate_keypair


class Receiver:
    """A member's remote endpoint that records the Raft frames it gets."""

    def __init__(self, sender_key: bytes) -> None:
        self.keys = generate_keypair()
        self.lock = threading.Lock()
        self.batches: list[bytes] = []
        self.chunks: list[dict[str, Any]] = []
        self.endpoint = Endpoint(
            "tcp://127.0.0.1:0",
            {"raft.messages": self._messages, "raft.chunk": self._chunk},
            keypair=self.keys,
            admission=AllowList([sender_key]),
            name="raft-receiver",
        )
        self.addr = self.endpoint.start()

    def _messages(self, request: Request) -> None:
        with self.lock:
            self.batches.append(request.body["batch"])

    def _chunk(self, request: Request) -> None:
        with self.lock:
            self.chunks.append(dict(request.body))

    def assembled(self) -> list[bytes]:
        assembler = ChunkAssembler(1 << 30)
        with self.lock:
            bodies = sorted(self.chunks, key=lambda b: b["seq"])
        out = []
        for b in bodies:
            whole = assembler.add(Chunk(b["from"], b["stream"], b["total"], b["offset"], b["data"]))
            if whole is not None:
                out.append(whole)
        return out


@pytest.fixture
def sender_keys() -> KeyPair:
    return generate_keypair()


@pytest.fixture
def receiver(sender_keys: KeyPair) -> Iterator[Receiver]:
    r = Receiver(sender_keys.public)
    yield r
    r.endpoint.stop()


@pytest.fixture
def ring() -> log.LogRing:
    return log.configure("json", stream=io.StringIO(), force=True)


def failures_logged(ring: log.LogRing) -> list[dict[str, Any]]:
    return [e for e in ring.snapshot() if e.get("event") == "raft.send.failed"]


def test_a_batch_larger_than_a_frame_arrives_in_chunks(
    receiver: Receiver, sender_keys: KeyPair
) -> None:
    peers = CurvePeers(
        1, {2: Peer(2, receiver.addr, receiver.keys.public)}, sender_keys, batch_bytes=64 * 1024
    )
    try:
        # the DEALER drops frames until CURVE is through: small batches until one arrives
        wait_for(
            lambda: peers.send(2, b"hello") or receiver.batches or None,
            "connected",
            10,
            tolerate=any_error,
        )
        big = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and 4 bytes: 17 chunks
        peers.send(2, big)
        assembled = wait_for(
            lambda: receiver.assembled() or None, "the assembled batch", 10, tolerate=any_error
        )
        assert assembled == [big]
        assert len(receiver.chunks) == 17
        assert max(len(c["data"]) for c in receiver.chunks) == 64 * 1024
        assert peers.failed_sends(2, "too_large") == 0
    finally:
        peers.close()


def test_failed_sends_are_counted_and_logged_as_errors(
    receiver: Receiver, sender_keys: KeyPair, ring: log.LogRing
) -> None:
    closed = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    peers = CurvePeers(
        1,
        {2: Peer(2, receiver.addr, receiver.keys.public), 3: Peer(3, closed, b"k" * 40)},
        sender_keys,
        batch_bytes=1_000,
        max_batch_bytes=10_000,
    )
    try:
        peers.send(9, b"x")  # no member 9: no address
        peers.send(3, b"x")  # not connected: ZMQ_IMMEDIATE refuses at once
        peers.send(2, b"x" * 20_000)  # over what a member accepts, chunks or not
        peers.send(2, b"x" * 20_000)
        assert peers.failed_sends(9, "unknown_peer") == 1
        assert peers.failed_sends(3, "unreachable") == 1
        assert peers.failed_sends(2, "too_large") == 2
        assert peers.failed_sends() == 4
        logged = failures_logged(ring)
        assert {(e["to"], e["reason"]) for e in logged} == {
            (9, "unknown_peer"),
            (3, "unreachable"),
            (2, "too_large"),
        }
        assert all(e["level"] == "error" for e in logged)
        # the second too_large within log_every is counted, not logged again
        assert len(logged) == 3
        assert "over the 10000 bytes a member accepts" in next(
            e["error"] for e in logged if e["reason"] == "too_large"
        )
    finally:
        peers.close()
