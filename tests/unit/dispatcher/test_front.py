"""The dispatcher's front: heartbeats served on the caller's thread while the actor is busy
or the store's lock is held, status reports judged off that thread, session opens queued
per node and opened in one batch by the actor."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from typing import Any, cast

import pykka
import pytest
from structlog.testing import capture_logs

from actors.dispatcher import Dispatcher, DispatcherLink
from actors.dispatcher.core import DispatcherCore
from actors.dispatcher.front import (
    OPEN_PATIENCE,
    REPLACED_OPEN,
    UNAVAILABLE,
    DispatcherFront,
    SessionOpen,
    StatusReport,
)
from actors.dispatcher.heartbeats import HeartbeatConfig
from actors.dispatcher.sessions import NO_SESSION, SessionError
from actors.log import get_logger
from actors.store import MemoryStore, WriteTx
from api.objects import Node, NodeDescription, TaskStatus
from api.schema.frame import Envelope
from api.task_state import TaskState
from tests.support.clocks import ManualClock
from tests.support.waiting import wait_for
from tests.unit.dispatcher.helpers import NODE_A, NODE_B, GateOutbox, session_request
from transport.codec import decode
from transport.endpoint import Request

KEY_A = b"A" * 40
KEY_B = b"B" * 40
DESC = NodeDescription(hostname="box")


@pytest.fixture
def running() -> Iterator[tuple[MemoryStore, DispatcherLink, pykka.ActorRef[Any]]]:
    store = MemoryStore.local(clock=time.time)

    def create(tx: WriteTx) -> None:
        tx.create(Node(NODE_A))
        tx.create(Node(NODE_B))

    store.update(create)
    link = DispatcherLink()
    ref = Dispatcher.start(None, store, link=link, tick_interval=0.05)
    wait_for(link.front, "the dispatcher's front attached")
    yield store, link, ref
    ref.stop()


def front_of(link: DispatcherLink) -> DispatcherFront:
    front = link.front()
    assert front is not None
    return front


def open_session_of_node_a(front: DispatcherFront) -> tuple[GateOutbox, str]:
    outbox = GateOutbox()
    assert front.request_session(SessionOpen(session_request(outbox, KEY_A), NODE_A, DESC, ""))
    wait_for(lambda: outbox.sent, "node A's first frame")
    return outbox, str(decode(outbox.sent[0]).body["session_id"])


def test_heartbeats_are_answered_while_the_dispatcher_is_busy_sending(
    running: tuple[MemoryStore, DispatcherLink, pykka.ActorRef[Any]],
) -> None:
    _store, link, _ref = running
    front = front_of(link)
    outbox, session_id = open_session_of_node_a(front)

    outbox.gate.clear()  # node B's stream stalls the actor inside its send
    assert front.request_session(SessionOpen(session_request(outbox, KEY_B), NODE_B, DESC, ""))
    assert outbox.waiting.wait(10)
    try:
        period, frames, role = front.heartbeat(NODE_A, session_id, KEY_A)
        assert not outbox.gate.is_set()  # answered while the actor was still blocked
        assert period > 0 and frames == 1 and role == "worker"
        with pytest.raises(SessionError) as refused:
            front.heartbeat(NODE_A, "not-a-session", KEY_A)
        assert refused.value.code == NO_SESSION
    finally:
        outbox.gate.set()
    wait_for(lambda: len(outbox.sent) == 2, "node B's first frame")


def test_a_second_open_of_a_node_replaces_the_queued_one() -> None:
    store = MemoryStore.local(clock=time.time)
    woken: list[int] = []
    core = DispatcherCore(HeartbeatConfig(), random.Random(1), get_logger("test"))
    front = DispatcherFront(core, store, time.monotonic, lambda: woken.append(1))
    first, second, other = GateOutbox(), GateOutbox(), GateOutbox()
    front.request_session(SessionOpen(session_request(first, KEY_A), NODE_A, DESC, ""))
    front.request_session(SessionOpen(session_request(second, KEY_A, 2), NODE_A, DESC, ""))
    front.request_session(SessionOpen(session_request(other, KEY_B, 3), NODE_B, DESC, ""))
    assert woken == [1]  # one wake-up for the batch
    [refusal] = first.sent
    assert decode(refusal).body["code"] == REPLACED_OPEN
    assert [o.node_id for o in front.take_opens()] == [NODE_B, NODE_A]  # newest first
    assert front.take_opens() == []
    front.request_session(SessionOpen(session_request(other, KEY_B, 4), NODE_B, DESC, ""))
    assert woken == [1, 1]
    [left] = front.close()
    assert left.node_id == NODE_B
    assert not front.request_session(
        SessionOpen(session_request(other, KEY_B, 5), NODE_B, DESC, "")
    )


def test_opens_are_taken_newest_first_and_one_its_agent_gave_up_on_is_refused() -> None:
    # fails before: oldest first, and every open served however long it waited (after a
    # leader change the oldest were opened for agents gone since, and expired later)
    clock = ManualClock()
    woken: list[int] = []
    core = DispatcherCore(HeartbeatConfig(), random.Random(1), get_logger("test"))
    front = DispatcherFront(
        core, MemoryStore.local(clock=time.time), clock, lambda: woken.append(1)
    )
    old, a, b = GateOutbox(), GateOutbox(), GateOutbox()
    node_c = "c" * 25
    front.request_session(SessionOpen(session_request(old, b"C" * 40), node_c, DESC, ""))
    clock.advance(OPEN_PATIENCE + 0.1)
    front.request_session(SessionOpen(session_request(a, KEY_A), NODE_A, DESC, ""))
    front.request_session(SessionOpen(session_request(b, KEY_B), NODE_B, DESC, ""))
    assert [o.node_id for o in front.take_opens(1)] == [NODE_B]
    assert woken == [1, 1]  # more wait: the actor is woken again
    assert [o.node_id for o in front.take_opens(5)] == [NODE_A]
    [refusal] = old.sent
    assert decode(refusal).body["code"] == UNAVAILABLE
    assert not a.sent and not b.sent


def test_status_reports_wait_for_the_store_off_the_handler_threads(
    running: tuple[MemoryStore, DispatcherLink, pykka.ActorRef[Any]],
) -> None:
    store, link, _ref = running
    front = front_of(link)
    _outbox, session_id = open_session_of_node_a(front)
    report_box = GateOutbox()
    report = Request(
        Envelope("dispatcher.status", 7, {}), KEY_A, b"peer", cast(Any, report_box),
        endpoint="remote", max_size=1 << 20,
    )  # fmt: skip
    updates = [("no-such-task", TaskStatus(state=TaskState.RUNNING))]
    with store.read():  # a big read (or a commit) holds the store's lock
        assert front.request_report(StatusReport(report, NODE_A, session_id, updates)) is None
        assert front.heartbeat(NODE_A, session_id, KEY_A)[1] == 1  # not behind the report
        assert report_box.sent == []
    wait_for(lambda: report_box.sent, "the report answered")
    body = decode(report_box.sent[0]).body
    assert body["accepted"] == 0
    assert body["refused"] == [{"task_id": "no-such-task", "reason": "no such task"}]


class BrokenOutbox:
    """A stream whose every send fails."""

    def send(self, parts: Sequence[bytes]) -> bool:
        raise OSError("the stream broke")


def test_an_intake_that_fails_takes_the_dispatcher_down_for_its_supervisor(
    running: tuple[MemoryStore, DispatcherLink, pykka.ActorRef[Any]],
) -> None:
    """Its reply to a report raised: the intake ended, and the reports queued after it
    waited unanswered while the dispatcher ran on. Now the dispatcher crashes on it, so
    its supervisor starts it (and a new intake) again."""
    _store, link, ref = running
    front = front_of(link)
    _outbox, session_id = open_session_of_node_a(front)
    report = Request(
        Envelope("dispatcher.status", 7, {}), KEY_A, b"peer", cast(Any, BrokenOutbox()),
        endpoint="remote", max_size=1 << 20,
    )  # fmt: skip
    updates = [("no-such-task", TaskStatus(state=TaskState.RUNNING))]
    with capture_logs() as logs:
        assert front.request_report(StatusReport(report, NODE_A, session_id, updates)) is None
        wait_for(lambda: not ref.is_alive(), "the dispatcher crashed")
    (crash,) = [e for e in logs if e["event"] == "actor.crashed"]
    assert crash["child"] == "Dispatcher"
    assert link.front() is None  # its stop ran
