"""What a peer sends back on a member's DEALER (`CurvePeers._read_notices`, read at each
send): a ``raft.removed`` notice is read; a send that finds nothing waiting reads without
a zmq.Again exception (asked with ZMQ_EVENTS first: real sockets)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import zmq

from actors.raft_node.peers import CurvePeers
from api.schema.raft import RAFT_REMOVED
from tests.support.counting_socket import CountingSocket
from transport import generate_keypair
from transport.codec import encode


@pytest.fixture
def connected() -> Iterator[tuple[CurvePeers, zmq.Socket[bytes], zmq.Socket[bytes]]]:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind("inproc://notices")
    dealer = context.socket(zmq.DEALER)
    dealer.connect("inproc://notices")
    peers = CurvePeers(1, {}, generate_keypair())
    yield peers, router, dealer
    peers.close()
    dealer.close(linger=0)
    router.close(linger=0)
    context.term()


def test_a_send_that_finds_no_notice_reads_without_an_again(
    connected: tuple[CurvePeers, zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    peers, _router, dealer = connected
    counting = CountingSocket(dealer)
    peers._read_notices(2, counting)  # type: ignore[arg-type]
    assert counting.agains == 0
    assert peers.removed_by is None


def test_a_removed_notice_waiting_is_read(
    connected: tuple[CurvePeers, zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    peers, router, dealer = connected
    dealer.send(b"hello")  # the ROUTER learns the DEALER's routing id
    assert router.poll(5000, zmq.POLLIN)
    identity, _ = router.recv_multipart()
    router.send_multipart([identity, encode(RAFT_REMOVED.name, {"from": 2, "member": 1})])
    assert dealer.poll(5000, zmq.POLLIN)
    peers._read_notices(2, CountingSocket(dealer))  # type: ignore[arg-type]
    assert peers.removed_by == 2
