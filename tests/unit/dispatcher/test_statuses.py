"""Status acceptance: own tasks only, worker-owned states only, forward only."""

from __future__ import annotations

from actors.dispatcher.statuses import Decision, StatusQueue, judge_status
from api.task_state import TaskState
from tests.unit.dispatcher.helpers import NODE_A, NODE_B, status, task


def test_forward_move_on_own_task_is_written() -> None:
    verdict = judge_status(task("t1"), NODE_A, status(TaskState.RUNNING))
    assert verdict.decision is Decision.WRITE and verdict.accepted


def test_unknown_task_is_refused() -> None:
    verdict = judge_status(None, NODE_A, status(TaskState.RUNNING))
    assert verdict.decision is Decision.REFUSE
    assert "no such task" in verdict.reason


def test_task_of_another_node_is_refused() -> None:
    verdict = judge_status(task("t1", NODE_B), NODE_A, status(TaskState.RUNNING))
    assert not verdict.accepted
    assert "another node" in verdict.reason or "not assigned" in verdict.reason


def test_backward_move_is_refused() -> None:
    verdict = judge_status(task("t1", state=TaskState.RUNNING), NODE_A, status(TaskState.STARTING))
    assert verdict.decision is Decision.REFUSE
    assert "running" in verdict.reason and "starting" in verdict.reason


def test_terminal_task_stays_terminal() -> None:
    failed = task("t1", state=TaskState.FAILED)
    assert not judge_status(failed, NODE_A, status(TaskState.RUNNING)).accepted
    assert judge_status(failed, NODE_A, status(TaskState.REJECTED)).accepted  # later still


def test_manager_owned_states_are_refused() -> None:
    verdict = judge_status(task("t1", state=TaskState.PENDING), NODE_A, status(TaskState.ASSIGNED))
    assert verdict.decision is Decision.REFUSE
    assert "managers" in verdict.reason


def test_repeat_of_the_stored_state_is_accepted_without_a_write() -> None:
    verdict = judge_status(task("t1", state=TaskState.RUNNING), NODE_A, status(TaskState.RUNNING))
    assert verdict.decision is Decision.REPEAT and verdict.accepted


def test_queue_coalesces_per_task_keeping_the_latest_state() -> None:
    q = StatusQueue()
    q.add("t1", NODE_A, status(TaskState.PREPARING))
    q.add("t1", NODE_A, status(TaskState.RUNNING))
    q.add("t1", NODE_A, status(TaskState.STARTING))  # late, older: ignored
    q.add("t2", NODE_A, status(TaskState.ACCEPTED))
    taken = q.take()
    assert [(p.task_id, p.status.state) for p in taken] == [
        ("t1", TaskState.RUNNING),
        ("t2", TaskState.ACCEPTED),
    ]
    assert len(q) == 0


def test_news_of_the_same_state_is_written_until_the_task_finishes() -> None:
    from dataclasses import replace

    from api.specs import PortConfig

    preparing = task("t1", state=TaskState.PREPARING)
    pulling = replace(status(TaskState.PREPARING), message="pulling image app:1: 1 of 3 layers")
    assert judge_status(preparing, NODE_A, pulling).decision is Decision.WRITE
    same = replace(preparing, status=pulling)
    assert judge_status(same, NODE_A, pulling).decision is Decision.REPEAT
    running = task("t1", state=TaskState.RUNNING)
    ports = (PortConfig(target_port=80, published_port=32768),)
    with_ports = replace(running.status, port_status=ports)
    assert judge_status(running, NODE_A, with_ports).decision is Decision.WRITE
    done = task("t1", state=TaskState.COMPLETE)
    news = replace(done.status, message="something else")
    assert judge_status(done, NODE_A, news).decision is Decision.REPEAT
