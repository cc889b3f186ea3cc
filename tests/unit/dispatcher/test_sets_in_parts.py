"""A node's full set over a frame, through the dispatcher actor (streams.py): sent in parts
to a node whose session request names ``parts``, each within the frame limit; whole to a
node of an earlier version, which cannot take it past the limit, and whose session then
ends naming why. The request's frame limit stands in for the 16 MiB one (1 MiB here), the
dispatcher's ``frame_bytes`` for the half of it the product cuts at."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from actors.dispatcher import Dispatcher, DispatcherLink
from actors.dispatcher.front import DispatcherFront, SessionOpen
from actors.dispatcher.spec_tables import HeldSpecs
from actors.dispatcher.wire import encode_session_request, parse_frame
from actors.store import MemoryStore, WriteTx
from actors.worker.set_assembly import SetAssembly
from api.objects import Node, NodeDescription
from api.schema.frame import Envelope
from tests.support.clocks import ManualClock, ManualTimer
from tests.support.waiting import wait_for
from tests.unit.dispatcher.helpers import NODE_A, GateOutbox, task
from transport.codec import decode
from transport.endpoint import Request

LIMIT = 1 << 20  # the request's frame limit
BUDGET = 128 * 1024
TASKS = 4_000  # about 1.3 MiB with shared specs: over the limit
DESCRIPTION = NodeDescription(hostname="box")


@pytest.fixture
def timer() -> ManualTimer:
    return ManualTimer(ManualClock())


@pytest.fixture
def front(timer: ManualTimer) -> Iterator[DispatcherFront]:
    store = MemoryStore.local(clock=time.time)
    spec = task("spec").spec  # one service's spec, shared as the store shares it

    def seed(tx: WriteTx) -> None:
        tx.create(Node(NODE_A))
        for i in range(TASKS):
            tx.create(replace(task(f"t{i:05}", NODE_A), spec=spec))

    store.update(seed)
    link = DispatcherLink()
    ref = Dispatcher.start(
        None, store, link=link, tick_interval=0.1, clock=timer.clock, timer=timer,
        frame_bytes=BUDGET,
    )  # fmt: skip
    wait_for(link.front, "the dispatcher's front attached")
    yield link.front()
    ref.stop()


def open_session(front: DispatcherFront, body: dict[str, Any]) -> GateOutbox:
    outbox = GateOutbox()
    stand_in: Any = outbox  # an Outbox as far as a Request uses one
    envelope = Envelope("dispatcher.session", 1, body)
    request = Request(envelope, b"A" * 40, b"peer", stand_in, endpoint="remote", max_size=LIMIT)
    assert front.request_session(SessionOpen(request, NODE_A, DESCRIPTION, ""))
    return outbox


def test_a_full_set_over_the_frame_limit_reaches_a_node_of_this_version_in_parts(
    front: DispatcherFront,
) -> None:
    outbox = open_session(front, encode_session_request(NODE_A, DESCRIPTION))
    assembly, held = SetAssembly(), HeldSpecs()

    def assembled() -> Any:
        while outbox.sent[len(taken) :]:
            frame = parse_frame(decode(outbox.sent[len(taken)]).body, held)
            taken.append(frame)
            assert frame.closed is None, frame.closed
            whole = assembly.take(frame)
            if whole is not None:
                return whole
        return None

    taken: list[Any] = []
    whole = wait_for(assembled, "the full set, every part")
    assert len(taken) > 1 and all(len(sent) <= BUDGET + 100 for sent in outbox.sent)
    assert [(f.part, f.parts) for f in taken] == [(i, len(taken)) for i in range(len(taken))]
    assert whole.full and len(whole.tasks) == TASKS
    assert front.session_count() == 1


def test_a_node_of_an_earlier_version_gets_its_set_whole_and_is_told_why_it_cannot(
    front: DispatcherFront, timer: ManualTimer
) -> None:
    earlier = encode_session_request(NODE_A, DESCRIPTION)
    del earlier["parts"]  # what a node of the earlier version sends
    outbox = open_session(front, earlier)
    wait_for(lambda: timer.advance(0.1) >= 0 and outbox.sent, "the closing frame, a tick later")
    (closing,) = [decode(sent).body for sent in outbox.sent]
    assert "exceeds the limit" in closing["closed"]
    assert f"full assignment set of {TASKS} tasks" in closing["closed"]
    assert "upgrade it to take one in parts" in closing["closed"]
