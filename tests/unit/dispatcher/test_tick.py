"""The dispatcher's tick: periodic (heartbeat expiry), and at once for the first work after
a quiet period (an assignment change to send, statuses to write), so a lone change
reaches its worker without waiting for the period while a burst is still one frame."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import pytest

from actors.dispatcher import Dispatcher, DispatcherLink
from actors.dispatcher.front import DispatcherFront, SessionOpen, StatusReport
from actors.store import MemoryStore, WriteTx
from actors.store import nodes as node_queries
from actors.store import tasks as task_queries
from api.enums import NodeState
from api.objects import Node, NodeDescription, TaskStatus
from api.task_state import TaskState
from tests.support.clocks import ManualClock, ManualTimer
from tests.support.waiting import wait_for
from tests.unit.dispatcher.helpers import (
    NODE_A,
    GateOutbox,
    TickedDispatcher,
    session_request,
    task,
)
from transport.codec import decode

W = 0.1
KEY_A = b"A" * 40
DESC = NodeDescription(hostname="box")
_ids = itertools.count(1)


@dataclass
class Running(TickedDispatcher):
    def assign(self, *names: str) -> None:
        """One commit per task, assigned to node A."""
        for name in names:
            self.store.update(partial(WriteTx.create, obj=task(name, NODE_A)))


@pytest.fixture
def running() -> Iterator[Running]:
    store = MemoryStore.local(clock=time.time)
    store.update(lambda tx: tx.create(Node(NODE_A)))
    clock = ManualClock()
    timer = ManualTimer(clock)
    link = DispatcherLink()
    ref = Dispatcher.start(None, store, link=link, tick_interval=W, clock=clock, timer=timer)
    wait_for(link.front, "the dispatcher's front attached")
    front = link.front()
    assert front is not None
    yield Running(store, timer, ref, front, W)
    ref.stop()


class RecordingLink(DispatcherLink):
    """A link that records the ticks the dispatcher's timer had armed when it attached."""

    def __init__(self, timer: ManualTimer) -> None:
        super().__init__()
        self._timer = timer
        self.armed_at_attach: list[float] | None = None

    def attach(self, front: DispatcherFront) -> None:
        self.armed_at_attach = list(self._timer.delays)
        super().attach(front)


def test_the_front_attaches_once_the_start_is_whole() -> None:
    """The front is what handlers and tests take for a running dispatcher: it attaches
    after the first tick is armed, the start's last step (it attached before, and a test
    that read the timer once the front was there could run ahead of the start)."""
    store = MemoryStore.local(clock=time.time)
    timer = ManualTimer(ManualClock())
    link = RecordingLink(timer)
    ref = Dispatcher.start(None, store, link=link, tick_interval=W, clock=timer.clock, timer=timer)
    try:
        wait_for(link.front, "the dispatcher's front attached")
        assert link.armed_at_attach == [W]
    finally:
        ref.stop()


def open_session(r: Running) -> tuple[GateOutbox, str]:
    outbox = GateOutbox()
    assert r.front.request_session(SessionOpen(session_request(outbox, KEY_A), NODE_A, DESC, ""))
    wait_for(lambda: outbox.sent, "the session's first frame")
    return outbox, decode(outbox.sent[0]).body["session_id"]


def test_a_change_after_a_quiet_period_arms_a_tick_at_once(running: Running) -> None:
    r = running
    assert r.timer.delays == [W]  # the periodic tick
    r.quiet()
    armed = len(r.timer.delays)
    r.assign("t1")
    assert r.timer.delays[armed:] == [0.0]
    r.assign("t2")  # before that tick ran: it takes both
    assert r.timer.delays[armed:] == [0.0]


def test_changes_right_after_a_tick_that_sent_a_frame_wait_for_its_window(
    running: Running,
) -> None:
    r = running
    outbox, _ = open_session(r)
    r.quiet()
    sent = len(outbox.sent)
    r.assign("t1")
    r.timer.advance(0.0)
    r.sync()  # the tick that sent t1 ran and armed the next periodic one
    assert len(outbox.sent) == sent + 1
    armed = len(r.timer.delays)
    r.timer.clock.advance(W / 4)
    r.assign("t2")
    r.assign("t3")
    assert r.timer.delays[armed:] == []  # they join the periodic tick one window later
    r.quiet()
    armed = len(r.timer.delays)
    r.assign("t4")
    assert r.timer.delays[armed:] == [0.0]


def test_a_tick_that_only_took_in_changes_holds_back_nothing(running: Running) -> None:
    r = running
    r.quiet()
    r.assign("t1")  # no session holds it: nothing to send (a service's new tasks, say)
    r.timer.advance(0.0)
    r.sync()
    armed = len(r.timer.delays)
    r.assign("t2")
    assert r.timer.delays[armed:] == [0.0]


def test_a_lone_assignment_reaches_the_worker_without_the_clock_moving(
    running: Running,
) -> None:
    r = running
    outbox, _ = open_session(r)
    wait_for(  # the open's node write is armed at once too
        lambda: r.timer.advance(0.0) >= 0 and node_state(r.store) is NodeState.READY,
        "the node written READY",
    )
    r.quiet()
    sent = len(outbox.sent)
    r.assign("t1")
    wait_for(lambda: r.timer.advance(0.0) >= 0 and len(outbox.sent) > sent, "t1's frame")
    body = decode(outbox.sent[sent]).body
    assert [t["id"] for t in body["tasks"]] == [task("t1").id]


def test_a_burst_of_changes_goes_in_one_frame(running: Running) -> None:
    r = running
    outbox, _ = open_session(r)
    r.quiet()
    sent = len(outbox.sent)
    r.assign("t1", "t2", "t3")
    assert r.timer.fire_all() == 1  # one armed tick for the three (also before: the period)
    r.sync()
    assert len(outbox.sent) == sent + 1
    body = decode(outbox.sent[sent]).body
    assert len(body["tasks"]) == 3


def test_a_lone_status_report_is_written_without_the_clock_moving(running: Running) -> None:
    r = running
    outbox, session_id = open_session(r)
    r.assign("t1")
    wait_for(lambda: r.timer.advance(0.0) >= 0 and len(outbox.sent) > 1, "t1's frame")
    r.quiet()
    report_box = GateOutbox()
    request = session_request(report_box, KEY_A, next(_ids) + 100)
    updates = [(task("t1").id, TaskStatus(state=TaskState.ACCEPTED))]
    assert r.front.request_report(StatusReport(request, NODE_A, session_id, updates)) is None
    wait_for(
        lambda: r.timer.advance(0.0) >= 0 and task_state(r.store, "t1") is TaskState.ACCEPTED,
        "t1 written ACCEPTED",
    )


def test_a_status_right_after_its_assignment_is_written_without_the_clock_moving(
    running: Running,
) -> None:
    """The frame's tick opened the window of frames, not the one of status writes."""
    r = running
    outbox, session_id = open_session(r)
    r.quiet()
    r.assign("t1")
    wait_for(lambda: r.timer.advance(0.0) >= 0 and len(outbox.sent) > 1, "t1's frame")
    request = session_request(GateOutbox(), KEY_A, next(_ids) + 100)
    updates = [(task("t1").id, TaskStatus(state=TaskState.ACCEPTED))]
    assert r.front.request_report(StatusReport(request, NODE_A, session_id, updates)) is None
    wait_for(
        lambda: r.timer.advance(0.0) >= 0 and task_state(r.store, "t1") is TaskState.ACCEPTED,
        "t1 written ACCEPTED",
    )


def node_state(store: MemoryStore) -> NodeState | None:
    node = store.view(lambda tx: node_queries.get(tx, NODE_A))
    return node.status.state if node is not None else None


def task_state(store: MemoryStore, name: str) -> TaskState | None:
    found = store.view(lambda tx: task_queries.get(tx, task(name).id))
    return found.status.state if found is not None else None
