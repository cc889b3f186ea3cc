"""A session's frames name the manager list on its first frame and when the list changed
since its last frame, never again otherwise (the agent keeps the list it has when a frame
names none: actors/worker/agent.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from actors.dispatcher import Dispatcher, DispatcherLink
from actors.dispatcher.front import SessionOpen
from actors.dispatcher.wire import ManagerAddress
from actors.store import MemoryStore, WriteTx
from api.objects import Node, NodeDescription
from tests.support.clocks import ManualClock, ManualTimer
from tests.support.waiting import wait_for
from tests.unit.dispatcher.helpers import NODE_A, NODE_B, GateOutbox, session_request, task
from transport.codec import decode

W = 0.1
M1 = ManagerAddress("tcp://127.0.0.1:1", b"k" * 40)
M2 = ManagerAddress("tcp://127.0.0.1:2", b"j" * 40)


@pytest.fixture
def running() -> Iterator[tuple[MemoryStore, ManualTimer, list[ManagerAddress], Any]]:
    store = MemoryStore.local(clock=time.time)
    store.update(lambda tx: tx.create(Node(NODE_A)))
    timer = ManualTimer(ManualClock())
    link = DispatcherLink()
    managers = [M1]
    ref = Dispatcher.start(
        None, store, link=link, tick_interval=W, clock=timer.clock, timer=timer,
        managers=lambda: list(managers),
    )  # fmt: skip
    wait_for(link.front, "the dispatcher's front attached")
    yield store, timer, managers, link.front()
    ref.stop()


def test_frames_name_the_managers_only_when_the_list_changed(
    running: tuple[MemoryStore, ManualTimer, list[ManagerAddress], Any],
) -> None:
    store, timer, managers, front = running
    outbox = GateOutbox()
    assert front.request_session(SessionOpen(session_request(outbox, b"A" * 40), NODE_A,
                                             NodeDescription(hostname="box"), ""))  # fmt: skip
    wait_for(lambda: outbox.sent, "the session's first frame")

    def next_frame(name: str) -> dict[str, Any]:
        sent = len(outbox.sent)
        store.update(partial(WriteTx.create, obj=task(name, NODE_A)))
        wait_for(lambda: timer.advance(W) >= 0 and len(outbox.sent) > sent, f"{name}'s frame")
        body: dict[str, Any] = decode(outbox.sent[sent]).body
        return body

    first = decode(outbox.sent[0]).body
    assert first["managers"] == [M1.encode()]
    assert next_frame("t1")["managers"] == []  # unchanged since the last frame
    managers.append(M2)
    assert next_frame("t2")["managers"] == [M1.encode(), M2.encode()]
    assert next_frame("t3")["managers"] == []


def test_a_changed_manager_list_alone_sends_each_session_one_frame() -> None:
    """Nothing assigned changes: each open session is still sent the new list, in one
    frame however many ticks pass (a quiet worker would otherwise fail over to none of
    the managers that joined after its last frame); no frame when the list is the same."""
    store = MemoryStore.local(clock=time.time)
    store.update(lambda tx: (tx.create(Node(NODE_A)), tx.create(Node(NODE_B))))
    timer = ManualTimer(ManualClock())
    link = DispatcherLink()
    managers = [M1]
    ref = Dispatcher.start(
        None, store, link=link, tick_interval=W, clock=timer.clock, timer=timer,
        managers=lambda: list(managers),
    )  # fmt: skip
    try:
        wait_for(link.front, "the dispatcher's front attached")
        front = link.front()
        outboxes = {NODE_A: GateOutbox(), NODE_B: GateOutbox()}
        for node_id, outbox in outboxes.items():
            key = node_id[:1].upper().encode() * 40
            request = session_request(outbox, key)
            opening = SessionOpen(request, node_id, NodeDescription(hostname="box"), "")
            assert front.request_session(opening)
            wait_for(lambda o=outbox: o.sent, f"{node_id}'s first frame")

        def ticks(n: int) -> list[list[dict[str, Any]]]:
            """The frames each session was sent over ``n`` ticks."""
            before = {i: len(o.sent) for i, o in outboxes.items()}
            for _ in range(n):
                timer.advance(W)
                ref.proxy().session_count().get(timeout=10)  # the tick handled
            return [[decode(b).body for b in o.sent[before[i] :]] for i, o in outboxes.items()]

        assert ticks(5) == [[], []]  # the list did not change
        managers.append(M2)
        sent = ticks(5)
        for frames in sent:
            assert len(frames) == 1
            (frame,) = frames
            assert frame["managers"] == [M1.encode(), M2.encode()]
            assert frame["tasks"] == [] and frame["removed"] == [] and not frame["full"]
        managers[:] = [M1, M2]  # equal, a new list object
        assert ticks(5) == [[], []]
        # a change that comes with a session's assignment goes in that frame only
        managers.remove(M1)
        store.update(partial(WriteTx.create, obj=task("t1", NODE_A)))
        to_a, to_b = ticks(5)
        assert [(len(f["tasks"]), f["managers"]) for f in to_a] == [(1, [M2.encode()])]
        assert [(len(f["tasks"]), f["managers"]) for f in to_b] == [(0, [M2.encode()])]
    finally:
        ref.stop()
