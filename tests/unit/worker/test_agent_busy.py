"""The agent's calls a manager answers ``busy`` (its request queue is full), and status
batches with no reply in time: the session stays, a status batch is put back, and the loop
makes the call again later (pure: a stand-in client that answers as the endpoint and the
client do)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from actors.worker.agent_calls import StatusOutbox, heartbeat, send_statuses, status_answered
from actors.worker.session_calls import ManagerBusy, SessionEnded
from api.errors import ErrorCode, RemoteError, RequestTimeout
from api.objects import TaskStatus
from api.task_state import TaskState


class Answers:
    """A client whose every request raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls: list[str] = []

    def request(self, message_type: str, body: Any = None, timeout: float | None = None) -> Any:
        self.calls.append(message_type)
        raise self.error

    def request_async(
        self, message_type: str, body: Any = None, timeout: float | None = None
    ) -> Future[Any]:
        self.calls.append(message_type)
        reply: Future[Any] = Future()
        reply.set_exception(self.error)
        return reply


BUSY = RemoteError(ErrorCode.BUSY, "endpoint 'remote' is busy: too many requests queued")


NODE_ID = "n" * 25


def send_and_judge(outbox: StatusOutbox, client: Answers) -> None:
    """Send the pending batch and judge its (already failed) reply, as the session loop
    does; the loop is woken by the reply."""
    woken: list[str] = []
    call = send_statuses(
        client,  # type: ignore[arg-type]
        outbox,
        100,
        NODE_ID,
        "s1",
        lambda: woken.append("woken"),
    )
    assert call is not None and woken == ["woken"]
    status_answered(call, outbox)


def an_outbox() -> StatusOutbox:
    outbox = StatusOutbox()
    outbox.report_status([("t1", TaskStatus(state=TaskState.RUNNING, message="started"))])
    return outbox


def test_a_status_batch_answered_busy_is_put_back_without_ending_the_session() -> None:
    outbox = an_outbox()
    with pytest.raises(ManagerBusy):
        send_and_judge(outbox, Answers(BUSY))
    assert outbox.pending() == 1


def test_a_status_batch_with_no_reply_in_time_is_put_back_and_a_late_heartbeat_ends() -> None:
    outbox = an_outbox()
    late = RequestTimeout("no reply to 'dispatcher.status' within 5.0s")
    with pytest.raises(ManagerBusy):
        send_and_judge(outbox, Answers(late))
    assert outbox.pending() == 1
    # the heartbeat still says whether the manager is there
    with pytest.raises(SessionEnded, match="heartbeat failed: no reply"):
        heartbeat(Answers(late), NODE_ID, "s1")  # type: ignore[arg-type]


def test_a_heartbeat_answered_busy_does_not_end_the_session_and_other_errors_do() -> None:
    outbox = an_outbox()
    with pytest.raises(ManagerBusy):
        heartbeat(Answers(BUSY), NODE_ID, "s1")  # type: ignore[arg-type]
    refused = RemoteError("unavailable", "no dispatcher")
    with pytest.raises(SessionEnded, match="heartbeat failed: unavailable"):
        heartbeat(Answers(refused), NODE_ID, "s1")  # type: ignore[arg-type]
    with pytest.raises(SessionEnded, match="status batch failed: unavailable"):
        send_and_judge(outbox, Answers(refused))
    assert outbox.pending() == 1  # put back for the next session
