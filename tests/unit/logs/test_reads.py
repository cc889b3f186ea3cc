"""Which reads a node opens for a subscription of tasks (actors/logs/reads.py)."""

from __future__ import annotations

from actors.logs.reads import ReadState, plan_reads
from actors.logs.wire import Kind, LogOptions, SubscriptionMessage
from api.objects import Task
from api.task_state import TaskState


def message(follow: bool, tail: int = -1, since: int = 0) -> SubscriptionMessage:
    return SubscriptionMessage(
        "sub", Kind.TASKS, LogOptions(follow=follow, tail=tail, since=since), frozenset({"s1"})
    )


T1 = Task(id="t1", service_id="s1")
OTHER = Task(id="t9", service_id="s2")


def test_without_follow_each_selected_task_is_read_once_then_finished() -> None:
    held = [(T1, TaskState.RUNNING), (OTHER, TaskState.RUNNING)]
    scan = plan_reads(message(False, tail=3), held, {})
    assert [(t.id, q.tail, q.follow) for t, q in scan.opens] == [("t1", 3, False)]
    assert not scan.finished
    assert plan_reads(message(False), held, {"t1": ReadState(done=True)}).finished


def test_a_follow_reopens_a_read_that_ended_early_from_after_its_last_line() -> None:
    reads = {"t1": ReadState(last_ts=100)}
    scan = plan_reads(message(True, tail=5, since=10), [(T1, TaskState.RUNNING)], reads)
    ((_, query),) = scan.opens
    assert (query.since, query.tail, query.follow) == (101, -1, True)
    assert not scan.finished


def test_a_follow_not_started_yet_keeps_its_tail() -> None:
    scan = plan_reads(message(True, tail=5), [(T1, TaskState.ASSIGNED)], {"t1": ReadState()})
    ((_, query),) = scan.opens
    assert (query.tail, query.follow) == (5, True)


def test_a_terminal_task_gets_one_last_read_without_follow() -> None:
    scan = plan_reads(message(True), [(T1, TaskState.FAILED)], {"t1": ReadState(last_ts=7)})
    ((_, query),) = scan.opens
    assert (query.since, query.follow) == (8, False)
    reading = plan_reads(message(True), [(T1, TaskState.FAILED)], {"t1": ReadState(reading=True)})
    assert reading.opens == ()
    assert not plan_reads(message(True), [], {"t1": ReadState(done=True)}).finished
