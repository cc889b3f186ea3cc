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
from tests.unit.dispatcher.helpers import NODE_A, GateOutbox, session_request, task
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
