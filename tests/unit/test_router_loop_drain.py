"""RouterLoop's drain of its ROUTER (transport/router_loop.py): a batch of one, every hop
of a lone write, ends on ZMQ_EVENTS, not on a zmq.Again exception (real sockets)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import zmq

from tests.support.counting_socket import CountingSocket
from transport.outbox import Outbox
from transport.router_loop import BATCH_BYTES, PROBED, RouterLoop


@pytest.fixture
def sockets() -> Iterator[tuple[RouterLoop, zmq.Socket[bytes], zmq.Socket[bytes]]]:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind("inproc://drain")
    dealer = context.socket(zmq.DEALER)
    dealer.connect("inproc://drain")
    outbox = Outbox()
    loop = RouterLoop(
        context,
        "inproc://drain",
        outbox,
        lambda batch: None,
        name="drain-test",
        keypair=None,
        max_message_size=1 << 20,
    )
    yield loop, router, dealer
    outbox.close()
    dealer.close(linger=0)
    router.close(linger=0)
    context.term()


def _sent(router: zmq.Socket[bytes], dealer: zmq.Socket[bytes], count: int) -> None:
    for i in range(count):
        dealer.send(b"frame-%d" % i)
    assert router.poll(5000, zmq.POLLIN)


def test_a_batch_of_one_ends_without_an_again(
    sockets: tuple[RouterLoop, zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    loop, router, dealer = sockets
    _sent(router, dealer, 1)
    counting = CountingSocket(router)
    batch = loop._receive(counting, curve=False)  # type: ignore[arg-type]
    assert [item[1] for item in batch] == [b"frame-0"]
    assert counting.agains == 0


@pytest.mark.parametrize("count", [PROBED - 1, PROBED, 3 * PROBED])
def test_a_batch_takes_every_waiting_message_in_order(
    sockets: tuple[RouterLoop, zmq.Socket[bytes], zmq.Socket[bytes]], count: int
) -> None:
    loop, router, dealer = sockets
    _sent(router, dealer, count)
    counting = CountingSocket(router)
    batch = loop._receive(counting, curve=False)  # type: ignore[arg-type]
    assert [item[1] for item in batch] == [b"frame-%d" % i for i in range(count)]
    assert counting.agains <= 1  # one only past the probed receives
    assert loop._receive(counting, curve=False) == []  # type: ignore[arg-type]


def test_a_batch_stops_taking_frames_once_it_holds_batch_bytes(
    sockets: tuple[RouterLoop, zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    """Frames of a quarter of the budget: a batch holds four (the fourth reaches the
    budget), and the next drains take the rest, in order."""
    loop, router, dealer = sockets
    size = BATCH_BYTES // 4
    for i in range(12):
        dealer.send(bytes([i]) * size)
    assert router.poll(5000, zmq.POLLIN)
    batches = []
    while batch := loop._receive(router, curve=False):
        batches.append([bytes(item[1][:1]) for item in batch])
    assert [len(b) for b in batches] == [4, 4, 4]
    assert [f for b in batches for f in b] == [bytes([i]) for i in range(12)]


def test_a_frame_is_a_view_of_zeromqs_buffer_never_a_copy(
    sockets: tuple[RouterLoop, zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    loop, router, dealer = sockets
    _sent(router, dealer, 1)
    [(_identity, frame, _key, source)] = loop._receive(router, curve=False)
    assert isinstance(frame, memoryview)
    assert frame.obj is source  # the received frame's own buffer
