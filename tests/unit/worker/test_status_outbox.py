"""The agent's status outbox wakes the session when it goes from empty to holding some
statuses (the session sends them at once instead of at its next poll), and only then: a
burst reported while a batch waits joins it without more wake-ups."""

from __future__ import annotations

from actors.worker.agent_calls import StatusOutbox
from api.objects import TaskStatus
from api.task_state import TaskState


def st(state: TaskState) -> TaskStatus:
    return TaskStatus(state=state)


def test_wakes_once_per_empty_to_pending() -> None:
    outbox = StatusOutbox()
    wakes: list[int] = []
    outbox.set_on_pending(lambda: wakes.append(outbox.pending()))
    outbox.report_status([("t1", st(TaskState.ACCEPTED))])
    outbox.report_status([("t2", st(TaskState.ACCEPTED)), ("t1", st(TaskState.RUNNING))])
    assert wakes == [1]  # called after the statuses are in, once
    assert [t for t, _ in outbox.take(10)] == ["t1", "t2"]
    outbox.report_status([("t3", st(TaskState.RUNNING))])
    assert wakes == [1, 1]


def test_nothing_reported_or_no_session_wakes_nothing() -> None:
    outbox = StatusOutbox()
    wakes: list[bool] = []
    outbox.report_status([("t1", st(TaskState.ACCEPTED))])  # no session yet
    outbox.set_on_pending(lambda: wakes.append(True))
    outbox.take(10)
    outbox.report_status([])
    assert wakes == []
    outbox.set_on_pending(None)  # the session ended
    outbox.report_status([("t2", st(TaskState.ACCEPTED))])
    assert wakes == [] and outbox.pending() == 1
