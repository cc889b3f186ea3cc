"""Writes the store did not take, held for another attempt (actors/dispatcher/held_writes.py):
the core's newest decision wins over a held write, what a later write leaves out is kept,
and everything is bounded."""

from __future__ import annotations

import random

from actors.backoff import Backoff
from actors.dispatcher.core import NodeWrite, merge_node_writes
from actors.dispatcher.held_writes import LOST_SAMPLE, HeldWrites, Lost, Writes
from actors.dispatcher.statuses import PendingStatus
from api.enums import NodeState
from api.objects import NodeDescription, NodeTLSInfo
from api.task_state import TaskState
from tests.unit.dispatcher.helpers import NODE_A, NODE_B, status

OLD = NodeTLSInfo(("oldroot",), b"subject", b"old-key")
NEW = NodeTLSInfo(("oldroot", "newroot"), b"subject", b"new-key")
DESC = NodeDescription(hostname="box-a", tls_info=OLD)
READY = NodeWrite(NODE_A, NodeState.READY, "", DESC, "10.0.0.1")


def pending(task_id: str, state: TaskState, message: str = "") -> PendingStatus:
    return PendingStatus(task_id, NODE_A, status(state, message))


def test_a_later_write_wins_and_keeps_what_it_leaves_out() -> None:
    down = NodeWrite(NODE_A, NodeState.DOWN, "heartbeat failure")
    # the session's READY the store did not take, then its expiry: DOWN, with its
    # description and address (a stale READY written after it would show a dead node up)
    assert merge_node_writes(READY, down) == NodeWrite(
        NODE_A, NodeState.DOWN, "heartbeat failure", DESC, "10.0.0.1"
    )
    # a heartbeat's TLS report after it: kept over the description's own report
    report = NodeWrite(NODE_A, NodeState.READY, tls=NEW)
    assert merge_node_writes(READY, report) == NodeWrite(
        NODE_A, NodeState.READY, "", DESC, "10.0.0.1", NEW
    )
    # ... and a DOWN after that keeps the report too
    merged = merge_node_writes(merge_node_writes(READY, report), down)
    assert (merged.state, merged.description, merged.tls) == (NodeState.DOWN, DESC, NEW)
    # a newer session's request brings its own description and report
    reopened = NodeWrite(NODE_A, NodeState.READY, "", NodeDescription(hostname="b"), "10.0.0.2")
    assert merge_node_writes(merge_node_writes(READY, report), reopened) == reopened


def test_writes_handed_on_while_some_are_held_join_them_newest_winning() -> None:
    held = HeldWrites()
    assert not held
    first = [pending("t1", TaskState.RUNNING), pending("t2", TaskState.PREPARING, "pulling")]
    assert not held.hold(Writes((READY,), tuple(first)))
    later = [
        pending("t1", TaskState.STARTING),  # behind the held RUNNING: never replaces it
        pending("t2", TaskState.PREPARING, "pulled"),  # the same state, later: replaces
        pending("t3", TaskState.ACCEPTED),
    ]
    down = NodeWrite(NODE_A, NodeState.DOWN, "heartbeat failure")
    other = NodeWrite(NODE_B, NodeState.READY)
    assert not held.hold(Writes((down, other), tuple(later)))
    assert len(held) == 5
    taken = held.take()
    assert taken.nodes == (merge_node_writes(READY, down), other)
    assert {p.task_id: (p.status.state, p.status.message) for p in taken.statuses} == {
        "t1": (TaskState.RUNNING, ""),
        "t2": (TaskState.PREPARING, "pulled"),
        "t3": (TaskState.ACCEPTED, ""),
    }
    assert not held and held.take() == Writes()


def test_holding_is_bounded_and_what_is_given_up_is_named() -> None:
    """What is given up names its nodes, those of its node writes and of its statuses:
    their sessions are closed so that they register again."""
    held = HeldWrites(max_nodes=1, max_statuses=2)
    writes = Writes(
        (READY, NodeWrite(NODE_B, NodeState.READY)),
        tuple(pending(f"t{i}", TaskState.RUNNING) for i in range(LOST_SAMPLE + 5)),
    )
    lost = held.hold(writes)
    assert lost == Lost(
        1,
        LOST_SAMPLE + 3,
        (NODE_B,),
        tuple(f"t{i}" for i in range(2, LOST_SAMPLE + 2)),
        frozenset({NODE_A, NODE_B}),  # B's write, A's statuses
    )
    # a held node's or task's later write merges: no room needed
    assert not held.hold(Writes((NodeWrite(NODE_A, NodeState.DOWN),), (writes.statuses[0],)))
    assert len(held) == 3
    everything = held.give_up()
    assert everything == Lost(1, 2, (NODE_A,), ("t0", "t1"), frozenset({NODE_A}))
    assert not held and not held.give_up()
    # statuses alone name their nodes too
    held.hold(Writes((), (PendingStatus("t9", NODE_B, status(TaskState.RUNNING)),)))
    assert held.give_up().affected == {NODE_B}


def test_attempts_back_off_and_stop_at_the_limit() -> None:
    backoff = Backoff(initial=0.1, maximum=5.0)
    held = HeldWrites(backoff=backoff, limit=4)
    delays = [held.failed() for _ in range(3)]
    assert delays == [backoff.delay(1), backoff.delay(2), backoff.delay(3)]
    assert held.failed() is None  # the fourth failure in a row: give up
    held.give_up()
    assert held.failures == 0
    held.failed(random.Random(1))
    assert held.succeeded() == 1 and held.failures == 0
