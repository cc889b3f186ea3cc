"""The agent's calls a manager answers ``busy`` (its request queue is full), and status
batches with no reply in time: the session stays, a status batch is put back, and the loop
makes the call again later (pure: a stand-in client that answers as the endpoint and the
client do)."""

from __future__ import annotations

import queue
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest

from actors.worker.agent import Agent, StatusOutbox, _ManagerBusy, _SessionEnded
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


def send_statuses(parts: Any, client: Answers) -> None:
    """Send the pending batch and judge its (already failed) reply, as the session loop
    does; the loop is woken by the reply."""
    woken: queue.SimpleQueue[Any] = queue.SimpleQueue()
    call = Agent._send_statuses(parts, client, "s1", woken)  # type: ignore[arg-type]
    assert call is not None and not woken.empty()
    Agent._status_answered(parts, call)


def agent_parts() -> Any:
    outbox = StatusOutbox()
    outbox.report_status([("t1", TaskStatus(state=TaskState.RUNNING, message="started"))])
    return SimpleNamespace(statuses=outbox, _max_batch=100, _node_id="n" * 25)


def test_a_status_batch_answered_busy_is_put_back_without_ending_the_session() -> None:
    parts = agent_parts()
    with pytest.raises(_ManagerBusy):
        send_statuses(parts, Answers(BUSY))
    assert parts.statuses.pending() == 1


def test_a_status_batch_with_no_reply_in_time_is_put_back_and_a_late_heartbeat_ends() -> None:
    parts = agent_parts()
    late = RequestTimeout("no reply to 'dispatcher.status' within 5.0s")
    with pytest.raises(_ManagerBusy):
        send_statuses(parts, Answers(late))
    assert parts.statuses.pending() == 1
    # the heartbeat still says whether the manager is there
    with pytest.raises(_SessionEnded, match="heartbeat failed: no reply"):
        Agent._heartbeat(parts, Answers(late), "s1")  # type: ignore[arg-type]


def test_a_heartbeat_answered_busy_does_not_end_the_session_and_other_errors_do() -> None:
    parts = agent_parts()
    with pytest.raises(_ManagerBusy):
        Agent._heartbeat(parts, Answers(BUSY), "s1")  # type: ignore[arg-type]
    refused = RemoteError("unavailable", "no dispatcher")
    with pytest.raises(_SessionEnded, match="heartbeat failed: unavailable"):
        Agent._heartbeat(parts, Answers(refused), "s1")  # type: ignore[arg-type]
    with pytest.raises(_SessionEnded, match="status batch failed: unavailable"):
        send_statuses(parts, Answers(refused))
    assert parts.statuses.pending() == 1  # put back for the next session
