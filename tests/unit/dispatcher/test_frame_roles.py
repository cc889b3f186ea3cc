"""A session's frames name the node's role on its first frame and, in a frame of its own,
as soon as the role changed in the store (a promotion or demotion recorded): the node
renews its certificate at once instead of at its next heartbeat, a period away."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from actors.dispatcher import Dispatcher, DispatcherLink
from actors.dispatcher.front import SessionOpen
from actors.store import MemoryStore, WriteTx, nodes
from api.enums import NodeRole, NodeState
from api.objects import Node, NodeDescription
from tests.support.clocks import ManualClock, ManualTimer
from tests.support.waiting import wait_for
from tests.unit.dispatcher.helpers import NODE_A, NODE_B, GateOutbox, session_request
from transport.codec import decode

W = 0.1


@pytest.fixture
def running() -> Iterator[tuple[MemoryStore, ManualTimer, Any]]:
    store = MemoryStore.local(clock=time.time)
    store.update(lambda tx: tx.create(Node(NODE_A, role=NodeRole.MANAGER)))
    timer = ManualTimer(ManualClock())
    link = DispatcherLink()
    ref = Dispatcher.start(None, store, link=link, tick_interval=W, clock=timer.clock, timer=timer)
    wait_for(link.front, "the dispatcher's front attached")
    yield store, timer, link.front()
    ref.stop()


def _set_role(store: MemoryStore, role: NodeRole) -> None:
    def write(tx: WriteTx) -> None:
        node = nodes.get(tx, NODE_A)
        assert node is not None
        tx.update(replace(node, role=role))

    store.update(write)


def test_a_role_change_is_sent_at_once_and_only_then(
    running: tuple[MemoryStore, ManualTimer, Any],
) -> None:
    store, timer, front = running
    outbox = GateOutbox()
    assert front.request_session(
        SessionOpen(session_request(outbox, b"A" * 40), NODE_A, NodeDescription(hostname="m"), "")
    )
    wait_for(lambda: outbox.sent, "the session's first frame")
    assert decode(outbox.sent[0]).body["role"] == "manager"

    def frames_after(sent: int, what: str) -> list[dict[str, Any]]:
        wait_for(lambda: timer.advance(W) >= 0 and len(outbox.sent) > sent, what)
        return [decode(raw).body for raw in outbox.sent[sent:]]

    # the demotion recorded (the leader marks the node a worker once it left Raft)
    sent = len(outbox.sent)
    _set_role(store, NodeRole.WORKER)
    (frame,) = frames_after(sent, "a frame naming the new role")
    assert frame["role"] == "worker" and frame["tasks"] == [] and not frame["full"]
    # a change of the node that leaves its role alone sends nothing: the next frame is
    # the one the promotion sends
    sent = len(outbox.sent)

    def relabel(tx: WriteTx) -> None:
        node = nodes.get(tx, NODE_A)
        assert node is not None
        tx.update(replace(node, spec=replace(node.spec, labels={"zone": "a"})))

    store.update(relabel)
    _set_role(store, NodeRole.MANAGER)
    (frame,) = frames_after(sent, "a frame naming the role again")
    assert frame["role"] == "manager"


def test_the_first_frame_names_the_role_before_the_watch_brought_the_node(
    running: tuple[MemoryStore, ManualTimer, Any],
) -> None:
    """A node joined just before its session opens: the open reads it from the store,
    and its first frame names the role so read, as SwarmKit's first session message
    carries the node; no frame of its own follows once the tick takes in the node's
    creation (it came as one, under load, and a test counting frames saw it)."""
    store, timer, front = running
    store.update(lambda tx: tx.create(Node(NODE_B, role=NodeRole.WORKER)))
    # no tick has run since (the timer is the test's): the watch has not brought the node
    outbox = GateOutbox()
    assert front.request_session(
        SessionOpen(session_request(outbox, b"B" * 40), NODE_B, NodeDescription(hostname="w"), "")
    )
    wait_for(lambda: outbox.sent, "the session's first frame")
    assert decode(outbox.sent[0]).body["role"] == "worker"

    # the tick that writes the node READY took in its creation first (actor.py's tick:
    # the watch, then the frames, then the writes): it sent no frame naming the role
    def ready() -> bool:
        node = store.view(lambda tx: nodes.get(tx, NODE_B))
        return node is not None and node.status.state is NodeState.READY

    wait_for(lambda: timer.advance(W) >= 0 and ready(), "the node's READY written")
    assert all("role" not in decode(raw).body for raw in outbox.sent[1:])
