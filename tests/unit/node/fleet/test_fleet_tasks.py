"""A fleet node's tasks: the worker's step function over the sim executor, no threads."""

from __future__ import annotations

import dataclasses
import random

import pytest

from actors.node.fleet.tasks import NodeTasks
from actors.worker.executors.sim import FAILED_EXIT_CODE, SimExecutor
from api.task_state import TaskState
from tests.unit.worker.helpers import make_task

S = TaskState


def node(**kw: object) -> tuple[NodeTasks, SimExecutor]:
    holder: list[NodeTasks] = []
    executor = SimExecutor("node1", on_exit=lambda t, code: holder[0].exited(t, code), **kw)  # type: ignore[arg-type]
    tasks = NodeTasks(executor)
    holder.append(tasks)
    return tasks, executor


def reported(tasks: NodeTasks) -> dict[str, S]:
    return {k: s.state for k, s in tasks.statuses.take(10_000)}


def state(tasks: NodeTasks, task_id: str) -> S:
    return dict(tasks.current_statuses())[task_id].state


def test_a_task_runs_inline_and_only_its_latest_status_is_queued() -> None:
    tasks, executor = node()
    tasks.apply(True, [make_task("t1")], [], now=100.0)
    assert state(tasks, "t1") is S.RUNNING
    assert executor.running() == ["t1"]
    assert reported(tasks) == {"t1": S.RUNNING}
    assert tasks.take_timers() == []
    assert dict(tasks.current_statuses())["t1"].timestamp == 100.0


def test_start_takes_the_start_delay_as_a_timer() -> None:
    tasks, executor = node(start_delay=0.5)
    tasks.apply(True, [make_task("t1")], [], now=1.0)
    assert state(tasks, "t1") is S.READY and executor.running() == []
    (timer,) = tasks.take_timers()
    assert timer.delay == 0.5 and timer.task_id == "t1"
    tasks.fire(timer, now=1.5)
    assert state(tasks, "t1") is S.RUNNING
    tasks.fire(timer, now=1.6)  # fired twice: stale, nothing happens
    assert state(tasks, "t1") is S.RUNNING


def test_a_desired_state_change_waits_for_the_pending_start() -> None:
    tasks, _ = node(start_delay=0.5)
    task = make_task("t1")
    tasks.apply(True, [task], [], now=1.0)
    (timer,) = tasks.take_timers()
    tasks.apply(False, [dataclasses.replace(task, desired_state=S.SHUTDOWN)], [], now=1.1)
    assert state(tasks, "t1") is S.READY  # the pending start decides next
    tasks.fire(timer, now=1.5)
    assert state(tasks, "t1") is S.SHUTDOWN


def test_exit_on_demand_ends_the_wait() -> None:
    tasks, executor = node()
    tasks.apply(True, [make_task("ok"), make_task("bad")], [], now=1.0)
    reported(tasks)
    executor.exit("ok", 0)
    executor.exit("bad", 3)
    tasks.drain(now=2.0)
    assert reported(tasks) == {"ok": S.COMPLETE, "bad": S.FAILED}
    assert dict(tasks.current_statuses())["bad"].err == "task: non-zero exit (3)"


def test_fail_rate_fails_tasks_right_after_they_start() -> None:
    tasks, _ = node(fail_rate=1.0, rng=random.Random(1))
    tasks.apply(True, [make_task("t1")], [], now=1.0)
    status = dict(tasks.current_statuses())["t1"]
    assert status.state is S.FAILED
    assert status.err == f"task: non-zero exit ({FAILED_EXIT_CODE})"


def test_fail_rate_draws_from_the_rng() -> None:
    tasks, _ = node(fail_rate=0.3, rng=random.Random(7))
    tasks.apply(True, [make_task(f"t{i}") for i in range(1000)], [], now=1.0)
    failed = tasks.counts()[S.FAILED]
    assert 200 < failed < 400 and failed + tasks.counts()[S.RUNNING] == 1000


def test_shutdown_then_removal_forgets_the_task() -> None:
    tasks, executor = node()
    task = make_task("t1")
    tasks.apply(True, [task], [], now=1.0)
    tasks.apply(False, [dataclasses.replace(task, desired_state=S.SHUTDOWN)], [], now=2.0)
    assert state(tasks, "t1") is S.SHUTDOWN
    assert "t1" in executor.list_tasks() and executor.running() == []
    tasks.apply(False, [], ["t1"], now=3.0)
    assert len(tasks) == 0 and "t1" not in executor.list_tasks()
    assert reported(tasks) == {"t1": S.SHUTDOWN}


def test_a_full_set_removes_what_it_lacks() -> None:
    tasks, executor = node()
    tasks.apply(True, [make_task("a"), make_task("b")], [], now=1.0)
    tasks.apply(True, [make_task("a")], [], now=2.0)
    assert len(tasks) == 1 and set(executor.list_tasks()) == {"a"}


def test_a_missing_image_is_rejected() -> None:
    tasks, _ = node(missing_images={"nope"})
    tasks.apply(True, [make_task("t1", image="nope")], [], now=1.0)
    status = dict(tasks.current_statuses())["t1"]
    assert status.state is S.REJECTED and "image nope not found" in status.err


@pytest.mark.parametrize("delay", [0.0, 0.2])
def test_states_only_move_forward(delay: float) -> None:
    tasks, executor = node(start_delay=delay)
    seen: list[S] = []
    tasks.apply(True, [make_task("t1")], [], now=1.0)
    seen += reported(tasks).values()
    for timer in tasks.take_timers():
        tasks.fire(timer, now=2.0)
    seen += reported(tasks).values()
    executor.exit("t1", 0)
    tasks.drain(now=3.0)
    seen += reported(tasks).values()
    assert seen == sorted(seen) and seen[-1] is S.COMPLETE


def test_counts_follow_every_status_change_and_removal() -> None:
    tasks, executor = node(start_delay=0.5)
    a, b = make_task("a"), make_task("b")
    tasks.apply(True, [a, b], [], now=1.0)
    assert tasks.counts() == {S.READY: 2}
    for timer in tasks.take_timers():
        tasks.fire(timer, now=1.5)
    assert tasks.counts() == {S.RUNNING: 2}
    executor.exit("a", 3)
    tasks.drain(now=2.0)
    assert tasks.counts() == {S.RUNNING: 1, S.FAILED: 1}
    tasks.apply(False, [], ["a"], now=3.0)  # shut down, removed and forgotten
    assert tasks.counts() == {S.RUNNING: 1} and len(tasks) == 1
    tasks.apply(True, [], [], now=4.0)  # a full set without b
    assert tasks.counts() == {} and len(tasks) == 0
