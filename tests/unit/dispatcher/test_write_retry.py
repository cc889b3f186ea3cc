"""A batch the store failed is written again (actors/dispatcher/writer.py, held_writes.py):
a real store whose proposer drops or stalls its proposals (tests/unit/dispatcher/helpers.py
``SwitchedProposer``), and once it takes writes again, the READY of a session opened
meanwhile, a heartbeat's TLS report and the statuses a worker was told were accepted are
in the store. Before, such a batch was logged ``dispatcher.write.failed`` and dropped.
And the dispatcher's stop ends a batch stalled in the store with it."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any, cast

import pykka
import pytest
from structlog.testing import capture_logs

from actors.dispatcher import Dispatcher, DispatcherLink
from actors.dispatcher.core import NodeWrite
from actors.dispatcher.front import SessionOpen, StatusReport
from actors.dispatcher.held_writes import RETRY_BACKOFF, HeldWrites, Writes
from actors.dispatcher.statuses import PendingStatus
from actors.dispatcher.writer import StoreWriter
from actors.metrics.registry import REGISTRY
from actors.store import MemoryStore, WriteTx, nodes, tasks
from api.enums import NodeState
from api.objects import Node, NodeDescription, NodeTLSInfo, Task
from api.schema.frame import Envelope
from api.task_state import TaskState
from tests.support.clocks import ManualClock, ManualTimer
from tests.support.waiting import wait_for
from tests.unit.dispatcher.helpers import (
    NODE_A,
    GateOutbox,
    Quorum,
    SwitchedProposer,
    session_request,
    status,
    switched_store,
    task,
)
from tests.unit.dispatcher.test_front import front_of
from transport.codec import decode
from transport.endpoint import Request

KEY_A = b"A" * 40
OLD = NodeTLSInfo(("oldroot",), b"subject", b"old-key")
NEW = NodeTLSInfo(("oldroot", "newroot"), b"subject", b"new-key")
DESC = NodeDescription(hostname="box-a", tls_info=OLD)
READY = NodeWrite(NODE_A, NodeState.READY, "", DESC, "10.0.0.1")
DOWN = NodeWrite(NODE_A, NodeState.DOWN, "heartbeat failure")


def seeded(proposal_timeout: float = 0.2) -> tuple[MemoryStore, SwitchedProposer]:
    store, proposer = switched_store(proposal_timeout)

    def create(tx: WriteTx) -> None:
        tx.create(Node(NODE_A))
        for name in ("t1", "t2"):
            tx.create(task(name, NODE_A))

    store.update(create)
    return store, proposer


def stored_node(store: MemoryStore) -> Node:
    found = store.view(partial(nodes.get, id=NODE_A))
    assert found is not None
    return found


def stored_task(store: MemoryStore, name: str) -> Task:
    found = store.view(partial(tasks.get, id=task(name).id))
    assert found is not None
    return found


def held() -> float:
    """The writes the dispatcher's writer holds (its gauge)."""
    return REGISTRY.get_sample_value("swarm_dispatcher_writes_held") or 0.0


def running(name: str, state: TaskState) -> PendingStatus:
    return PendingStatus(task(name).id, NODE_A, status(state))


@pytest.fixture
def timer() -> ManualTimer:
    return ManualTimer(ManualClock())


@pytest.fixture
def writers() -> Iterator[list[pykka.ActorRef[StoreWriter]]]:
    started: list[pykka.ActorRef[StoreWriter]] = []
    yield started
    for ref in started:
        ref.stop()


def start_writer(
    store: MemoryStore,
    timer: ManualTimer,
    writers: list[pykka.ActorRef[StoreWriter]],
    held: HeldWrites | None = None,
) -> pykka.ActorRef[StoreWriter]:
    ref = StoreWriter.start(store, timer=timer, held=held)
    writers.append(ref)
    return ref


def test_a_dropped_batch_is_written_once_the_store_takes_writes(
    timer: ManualTimer, writers: list[pykka.ActorRef[StoreWriter]]
) -> None:
    store, proposer = seeded()
    writer = start_writer(store, timer, writers)
    proposer.down(Quorum.DROPPING)
    writer.tell(Writes((READY,), (running("t1", TaskState.RUNNING),)))
    writer.ask("sync")
    assert proposer.refused == 1 and timer.has_pending()  # held, an attempt armed
    # writes handed on meanwhile join the held ones and wait for that attempt
    later = Writes(
        (NodeWrite(NODE_A, NodeState.READY, tls=NEW),), (running("t2", TaskState.ACCEPTED),)
    )
    writer.tell(later)
    writer.ask("sync")
    assert proposer.refused == 1
    timer.fire_all()  # still no quorum: fails again, armed again
    writer.ask("sync")
    assert proposer.refused == 2 and timer.has_pending()
    assert stored_node(store).status.state is not NodeState.READY
    proposer.up()
    timer.fire_all()
    writer.ask("sync")
    node = stored_node(store)
    assert (node.status.state, node.status.addr) == (NodeState.READY, "10.0.0.1")
    assert node.description == NodeDescription(hostname="box-a", tls_info=NEW)
    assert stored_task(store, "t1").status.state is TaskState.RUNNING
    assert stored_task(store, "t2").status.state is TaskState.ACCEPTED
    assert not timer.has_pending()


def test_a_timed_out_batch_that_committed_late_is_not_written_over_a_newer_decision(
    timer: ManualTimer, writers: list[pykka.ActorRef[StoreWriter]]
) -> None:
    store, proposer = seeded()
    writer = start_writer(store, timer, writers)
    proposer.down(Quorum.STALLED)
    writer.tell(Writes((READY,), (running("t1", TaskState.RUNNING),)))
    writer.ask("sync")  # ProposalTimeout: maybe committed
    assert proposer.refused == 1 and timer.has_pending()
    writer.tell(Writes((DOWN,), ()))  # the session expired meanwhile
    writer.ask("sync")
    proposer.up()  # the stalled batch commits after all: READY, t1 RUNNING
    assert stored_node(store).status.state is NodeState.READY
    t1 = stored_task(store, "t1")
    assert t1.status.state is TaskState.RUNNING
    timer.fire_all()
    writer.ask("sync")
    node = stored_node(store)  # the newest decision, with the READY's description
    assert (node.status.state, node.status.message) == (NodeState.DOWN, "heartbeat failure")
    assert (node.description, node.status.addr) == (DESC, "10.0.0.1")
    assert stored_task(store, "t1").meta.version == t1.meta.version  # a repeat: not rewritten


def test_writes_are_given_up_after_the_limit_and_when_the_writer_stops(
    timer: ManualTimer, writers: list[pykka.ActorRef[StoreWriter]]
) -> None:
    store, proposer = seeded()
    writer = start_writer(store, timer, writers, HeldWrites(limit=2))
    proposer.down(Quorum.DROPPING)
    with capture_logs() as logs:
        writer.tell(Writes((READY,), (running("t1", TaskState.RUNNING),)))
        writer.ask("sync")
        timer.fire_all()
        writer.ask("sync")
        assert proposer.refused == 2 and not timer.has_pending()
        writer.tell(Writes((), (running("t2", TaskState.RUNNING),)))
        writer.ask("sync")
        assert timer.has_pending()
        writer.stop()
    given_up = [e for e in logs if e["event"] == "dispatcher.write.given_up"]
    assert [(e["nodes"], e["statuses"], e["node_ids"]) for e in given_up] == [
        (1, 1, [NODE_A]),
        (0, 1, []),
    ]
    assert given_up[0]["task_ids"] == [task("t1").id]
    assert "every attempt" in given_up[0]["reason"] and "stopped" in given_up[1]["reason"]


def test_a_session_opened_while_the_store_fails_ends_up_written() -> None:
    """Through the running dispatcher: the READY of a session opened while no proposal
    commits, the TLS report of its heartbeat and the statuses of its report, all
    acknowledged to the node, are in the store once proposals commit again."""
    store, proposer = seeded()
    clock = ManualClock()
    timer = ManualTimer(clock)
    link = DispatcherLink()
    ref = Dispatcher.start(None, store, link=link, tick_interval=0.1, clock=clock, timer=timer)
    try:
        wait_for(link.front, "the dispatcher's front attached")
        front = front_of(link)
        proposer.down(Quorum.DROPPING)
        outbox = GateOutbox()
        assert front.request_session(
            SessionOpen(session_request(outbox, KEY_A), NODE_A, DESC, "10.0.0.1")
        )
        wait_for(lambda: outbox.sent, "node A's first frame")
        session_id = str(decode(outbox.sent[0]).body["session_id"])
        front.heartbeat(NODE_A, session_id, KEY_A, NEW)
        replies = GateOutbox()
        updates = [(task("t1").id, status(TaskState.ACCEPTED))]
        envelope = Envelope("dispatcher.status", 2, {})
        request = Request(
            envelope, KEY_A, b"peer", cast(Any, replies), endpoint="remote", max_size=1 << 20
        )
        assert front.request_report(StatusReport(request, NODE_A, session_id, updates)) is None
        wait_for(lambda: replies.sent, "the status report answered")
        assert decode(replies.sent[0]).body["accepted"] == 1
        # the READY refused, then the report's tick: the node's and t1's writes held
        wait_for(
            lambda: timer.advance(0.0) >= 0 and held() == 2,
            "the node's and the status's writes held",
            describe=held,
        )
        assert proposer.refused >= 1
        assert stored_node(store).status.state is not NodeState.READY
        assert stored_task(store, "t1").status.state is TaskState.ASSIGNED
        proposer.up()
        timer.advance(RETRY_BACKOFF.delay(1) * 2)  # the writer's next attempt

        def written() -> bool:
            timer.advance(0.0)
            node = stored_node(store)
            return (
                node.status.state is NodeState.READY
                and node.description == NodeDescription(hostname="box-a", tls_info=NEW)
                and stored_task(store, "t1").status.state is TaskState.ACCEPTED
            )

        wait_for(written, "the READY, the TLS report and the status written")
        assert held() == 0
    finally:
        ref.stop()


def test_the_dispatchers_stop_ends_a_write_stalled_in_the_store() -> None:
    """A batch whose proposal does not commit (a leader without its quorum) holds the
    writer until the store's proposal timeout: the dispatcher's stop ends that wait, the
    writer stops with the dispatcher and gives its writes up for the next leader's
    sessions to resend. Before, the stop waited 5 s for the writer and went on without
    it, leaving its thread waiting out the timeout (here 10 minutes)."""
    store, proposer = seeded(proposal_timeout=600.0)
    clock = ManualClock()
    timer = ManualTimer(clock)
    link = DispatcherLink()
    before = set(pykka.ActorRegistry.get_by_class(StoreWriter))
    ref = Dispatcher.start(None, store, link=link, tick_interval=0.1, clock=clock, timer=timer)
    try:
        wait_for(link.front, "the dispatcher's front attached")
        (writer,) = set(pykka.ActorRegistry.get_by_class(StoreWriter)) - before
        proposer.down(Quorum.STALLED)
        outbox = GateOutbox()
        assert front_of(link).request_session(
            SessionOpen(session_request(outbox, KEY_A), NODE_A, DESC, "10.0.0.1")
        )
        wait_for(
            lambda: timer.advance(0.0) >= 0 and proposer.refused >= 1,
            "the READY's batch waiting on its proposal",
        )
        with capture_logs() as logs:
            ref.stop()
        wait_for(lambda: not writer.is_alive(), "the writer stopped with the dispatcher")
    finally:
        if ref.is_alive():
            ref.stop()
    given_up = [e for e in logs if e["event"] == "dispatcher.write.given_up"]
    assert [(e["reason"], e["node_ids"]) for e in given_up] == [
        ("the dispatcher stopped", [NODE_A])
    ]
    assert stored_node(store).status.state is not NodeState.READY
