"""The dispatcher's stop does every step whatever one of them raises, each wait bounded
(actors/dispatcher/actor.py ``on_stop``, stop_steps.py): a status intake that does not
stop in time, or a session whose final frame cannot be sent, no longer leaves the other
sessions without theirs and the writer running."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs

from actors.dispatcher import Dispatcher, DispatcherLink
from actors.dispatcher.front import DispatcherFront, SessionOpen, StatusReport
from actors.dispatcher.intake import StatusIntake
from actors.dispatcher.stop_steps import StopSteps, stop_and_wait
from actors.dispatcher.writer import StoreWriter
from api.objects import NodeDescription, TaskStatus
from api.task_state import TaskState
from tests.support.waiting import wait_for
from tests.unit.dispatcher.helpers import (
    NODE_A,
    NODE_B,
    GateOutbox,
    session_request,
    task,
    two_nodes_one_task,
)
from transport.codec import decode

KEY_A = b"A" * 40
KEY_B = b"B" * 40
DESC = NodeDescription(hostname="box")
STOPPED = "dispatcher stopped"


@dataclass
class Running:
    ref: pykka.ActorRef[Any]
    front: DispatcherFront
    intake: pykka.ActorRef[StatusIntake]
    writer: pykka.ActorRef[StoreWriter]


@pytest.fixture
def running() -> Iterator[Running]:
    store = two_nodes_one_task()
    link = DispatcherLink()
    intakes = set(pykka.ActorRegistry.get_by_class(StatusIntake))
    writers = set(pykka.ActorRegistry.get_by_class(StoreWriter))
    ref = Dispatcher.start(None, store, link=link, tick_interval=0.05)
    front = wait_for(link.front, "the dispatcher's front attached")
    (intake,) = set(pykka.ActorRegistry.get_by_class(StatusIntake)) - intakes
    (writer,) = set(pykka.ActorRegistry.get_by_class(StoreWriter)) - writers
    yield Running(ref, front, intake, writer)
    if ref.is_alive():
        ref.stop()


def open_session(front: DispatcherFront, outbox: Any, node_id: str, key: bytes) -> str:
    assert front.request_session(SessionOpen(session_request(outbox, key), node_id, DESC, ""))
    wait_for(lambda: outbox.sent, f"{node_id[:1]}'s first frame")
    return str(decode(outbox.sent[0]).body["session_id"])


def closed_reason(outbox: GateOutbox) -> str | None:
    return decode(outbox.sent[-1]).body.get("closed")


def failed_steps(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "dispatcher.stop.step_failed"]


def test_an_intake_that_does_not_stop_in_time_leaves_no_step_undone(running: Running) -> None:
    """The intake blocked in a handler (its reply to a status report waits on a stalled
    stream): the stop waits for it a bounded time, then still closes the session with
    its final frame and stops the writer. Before, its ``pykka.Timeout`` ended the stop
    there: no final frame, and the writer left running."""
    r = running
    stream = GateOutbox()
    session_id = open_session(r.front, stream, NODE_A, KEY_A)
    replies = GateOutbox()
    replies.gate.clear()
    report = session_request(replies, KEY_A, rid=2)
    updates = [(task("t1").id, TaskStatus(state=TaskState.ACCEPTED))]
    assert r.front.request_report(StatusReport(report, NODE_A, session_id, updates)) is None
    try:
        wait_for(replies.waiting.is_set, "the intake blocked in its reply")
        with capture_logs() as logs:
            r.ref.stop(timeout=30)
        assert closed_reason(stream) == STOPPED
        assert not r.writer.is_alive()
        assert r.intake.is_alive()  # still in its handler
        (failed,) = failed_steps(logs)
        assert failed["step"] == "stop_intake"
        assert "did not stop within" in failed["error"]
        assert "after the reports it judges" in failed["skipped"]
    finally:
        replies.gate.set()
    wait_for(lambda: not r.intake.is_alive(), "the intake stopped after its handler")


class BreakingOutbox:
    """A stream whose sends fail once ``broken``."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.broken = False

    def send(self, parts: Sequence[bytes]) -> bool:
        if self.broken:
            raise OSError("the stream broke")
        self.sent.append(parts[1])
        return True


def test_a_final_frame_that_fails_leaves_the_other_sessions_theirs(running: Running) -> None:
    r = running
    broken, stream_b = BreakingOutbox(), GateOutbox()
    open_session(r.front, broken, NODE_A, KEY_A)  # opened first: closed first
    open_session(r.front, stream_b, NODE_B, KEY_B)
    broken.broken = True
    with capture_logs() as logs:
        r.ref.stop(timeout=30)
    assert closed_reason(stream_b) == STOPPED
    assert not r.writer.is_alive() and not r.intake.is_alive()
    (failed,) = failed_steps(logs)
    assert (failed["step"], failed["failures"], failed["error"]) == (
        "close_sessions",
        1,
        "the stream broke",
    )


def test_steps_go_on_after_one_fails_and_each_failure_names_what_it_skipped() -> None:
    steps, done = StopSteps(), []
    with capture_logs() as logs:
        with steps.step("first", "the first's rest"):
            raise RuntimeError("broken")
        with steps.step("second", "nothing"):
            done.append("second")

        def close(item: int) -> None:
            if item % 2:
                raise ValueError(f"odd {item}")
            done.append(str(item))

        steps.each("each", range(5), close, "the odd ones")
    assert done == ["second", "0", "2", "4"]
    assert steps.failed == ["first", "each"]
    assert [(e["step"], e["skipped"], e["error"]) for e in failed_steps(logs)] == [
        ("first", "the first's rest", "broken"),
        ("each", "the odd ones", "odd 1"),
    ]
    assert failed_steps(logs)[1]["failures"] == 2


def test_stop_and_wait_names_an_actor_that_did_not_stop_in_time() -> None:
    class Slow(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> None:
            released.wait(30)

    released = threading.Event()
    ref = Slow.start()
    ref.tell("block")
    try:
        with pytest.raises(TimeoutError, match=r"the slow one did not stop within 0\.1s"):
            stop_and_wait(ref, 0.1, "the slow one")
    finally:
        released.set()
    wait_for(lambda: not ref.is_alive(), "the slow one stopped after its message")
    stop_and_wait(ref, 0.1, "a dead one")  # no error
    stop_and_wait(None, 0.1, "never started")
