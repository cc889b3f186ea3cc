"""The dispatcher's watch of the store (actors/dispatcher/watch_intake.py) through a running
dispatcher: a watch the store closed (here a restore from a snapshot) is read again whole,
every session sent its full set and a session of a node no longer stored closed, and the
store's changes after it wake the dispatcher as before."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from actors.dispatcher import Dispatcher, DispatcherLink
from actors.dispatcher.core import NODE_REMOVED
from actors.dispatcher.front import SessionOpen
from actors.store import MemoryStore, WriteTx
from api.objects import Node, NodeDescription
from tests.support.clocks import ManualClock, ManualTimer
from tests.support.waiting import wait_for
from tests.unit.dispatcher.helpers import (
    NODE_A,
    NODE_B,
    GateOutbox,
    TickedDispatcher,
    session_request,
    task,
    two_nodes_one_task,
)
from transport.codec import decode

W = 0.1
DESC = NodeDescription(hostname="box")


@dataclass
class Running(TickedDispatcher):
    def open(self, node_id: str, key: bytes) -> GateOutbox:
        outbox = GateOutbox()
        opening = SessionOpen(session_request(outbox, key), node_id, DESC, "")
        assert self.front.request_session(opening)
        wait_for(lambda: outbox.sent, f"the first frame of {node_id[:1]}")
        return outbox


@pytest.fixture
def running() -> Iterator[Running]:
    store = two_nodes_one_task()
    timer = ManualTimer(ManualClock())
    link = DispatcherLink()
    ref = Dispatcher.start(None, store, link=link, tick_interval=W, clock=timer.clock, timer=timer)
    front = wait_for(link.front, "the dispatcher's front attached")
    yield Running(store, timer, ref, front, W)
    ref.stop()


def restored_without_node_b() -> bytes:
    """A snapshot of the cluster as another store holds it: node B gone, t2 on node A."""
    other = MemoryStore.local(clock=time.time)

    def create(tx: WriteTx) -> None:
        tx.create(Node(NODE_A))
        tx.create(task("t1", NODE_A))
        tx.create(task("t2", NODE_A))

    other.update(create)
    return other.snapshot()


def bodies(outbox: GateOutbox) -> list[dict[str, Any]]:
    return [decode(frame).body for frame in outbox.sent]


def test_a_restored_store_is_read_again_and_watched_as_before(running: Running) -> None:
    r = running
    stream_a, stream_b = r.open(NODE_A, b"A" * 40), r.open(NODE_B, b"B" * 40)
    r.quiet()
    sent_a = len(stream_a.sent)
    r.store.restore(restored_without_node_b())

    def resent() -> list[dict[str, Any]]:
        r.timer.advance(W)
        return [b for b in bodies(stream_a)[sent_a:] if b.get("full")]

    (full,) = wait_for(resent, "node A's full set again")
    assert sorted(t["id"] for t in full["tasks"]) == sorted([task("t1").id, task("t2").id])
    wait_for(
        lambda: r.timer.advance(W) >= 0 and bodies(stream_b)[-1].get("closed") == NODE_REMOVED,
        "node B's session closed",
    )
    r.quiet()
    armed = len(r.timer.delays)
    sent_a = len(stream_a.sent)
    r.store.update(partial(WriteTx.create, obj=task("t3", NODE_A)))
    # a change after a quiet period arms a tick at once, as before the restore
    assert r.timer.delays[armed:] == [0.0]
    wait_for(lambda: r.timer.advance(0.0) >= 0 and len(stream_a.sent) > sent_a, "t3's frame")
    assert [t["id"] for t in bodies(stream_a)[sent_a]["tasks"]] == [task("t3").id]
