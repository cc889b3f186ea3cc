"""The worker's pure decisions about a task's runner (actors/worker/runner_rules.py)."""

from __future__ import annotations

from collections import deque

import pytest

from actors.worker.runner_rules import (
    Phase,
    Removal,
    describe_crash,
    failed_by_crashes,
    held_at_start,
    initial_status,
    reached_start,
    recent_crashes,
    removal,
    settle,
    takes_start_slot,
)
from api.objects import Task, TaskStatus
from api.task_state import TaskState


def task(desired: TaskState, state: TaskState = TaskState.ASSIGNED) -> Task:
    return Task(
        id="t1",
        service_id="s1",
        node_id="n1",
        desired_state=desired,
        status=TaskStatus(state=state, timestamp=10.0),
    )


def test_the_later_of_the_assigned_and_the_persisted_status_wins() -> None:
    t = task(TaskState.RUNNING)
    running = TaskStatus(state=TaskState.RUNNING, timestamp=5.0)
    assert initial_status(t, None) == t.status
    assert initial_status(t, running) == running
    assert initial_status(t, TaskStatus(state=TaskState.ASSIGNED, timestamp=11.0)).timestamp == 11.0


def test_a_new_task_to_stop_settles_without_a_runner() -> None:
    t = task(TaskState.SHUTDOWN)
    settled = settle(t, t.status, removing=False, now=20.0, prepare_refuses_started=False)
    assert settled is not None and not settled.forget
    assert settled.status.state is TaskState.SHUTDOWN
    removed = settle(t, t.status, removing=True, now=20.0, prepare_refuses_started=False)
    assert removed is not None and removed.forget


def test_a_task_to_run_or_reported_on_needs_a_runner() -> None:
    to_run = task(TaskState.RUNNING)
    assert (
        settle(to_run, to_run.status, removing=False, now=1.0, prepare_refuses_started=False)
        is None
    )
    accepted = task(TaskState.SHUTDOWN, TaskState.ACCEPTED)
    assert (
        settle(accepted, accepted.status, removing=True, now=1.0, prepare_refuses_started=False)
        is None
    )


@pytest.mark.parametrize(
    ("state", "desired", "reached"),
    [
        (TaskState.STARTING, TaskState.RUNNING, False),
        (TaskState.RUNNING, TaskState.RUNNING, True),
        (TaskState.FAILED, TaskState.RUNNING, True),
        (TaskState.READY, TaskState.READY, True),  # waits at READY as desired
        (TaskState.READY, TaskState.RUNNING, False),
        (TaskState.READY, None, False),  # the task is gone
    ],
)
def test_a_start_slot_is_freed_at_running_at_an_end_or_parked_at_ready(
    state: TaskState, desired: TaskState | None, reached: bool
) -> None:
    assert reached_start(state, desired) is reached


@pytest.mark.parametrize(
    ("phase", "state", "todo"),
    [
        (Phase.STARTED, TaskState.NEW, Removal.TELL_RUNNER),
        (Phase.QUEUED, TaskState.ASSIGNED, Removal.FORGET),  # never reported on
        (Phase.SETTLED, TaskState.SHUTDOWN, Removal.FORGET),
        (Phase.HELD, TaskState.PREPARING, Removal.QUEUE_RUNNER),  # a container may be there
        (Phase.DONE, TaskState.COMPLETE, Removal.QUEUE_RUNNER),
        (Phase.QUEUED, TaskState.RUNNING, Removal.QUEUED),
    ],
)
def test_a_removal_takes_what_the_runners_phase_needs(
    phase: Phase, state: TaskState, todo: Removal
) -> None:
    assert removal(phase, state) is todo


def test_crashes_older_than_the_window_are_forgotten() -> None:
    crashes: deque[float] = deque()
    assert [recent_crashes(crashes, now, 60.0) for now in (0.0, 30.0, 61.0, 200.0)] == [1, 2, 2, 1]


def test_a_crash_is_described_with_its_cause() -> None:
    try:
        try:
            raise OSError("engine gone")
        except OSError as cause:
            raise RuntimeError("inspect failed") from cause
    except RuntimeError as error:
        assert describe_crash(error) == "RuntimeError: inspect failed (OSError: engine gone)"
    assert describe_crash(ValueError("x")) == "ValueError: x"


def test_a_task_fails_after_repeated_crashes_unless_it_ended() -> None:
    running = TaskStatus(state=TaskState.RUNNING, timestamp=1.0)
    failed = failed_by_crashes(running, "ValueError: x", now=9.0)
    assert failed is not None
    assert (failed.state, failed.message, failed.timestamp) == (TaskState.FAILED, "failed", 9.0)
    assert failed.err == "task runner crashed repeatedly: ValueError: x"
    assert failed_by_crashes(TaskStatus(state=TaskState.COMPLETE), "x", now=9.0) is None


@pytest.mark.parametrize(
    ("persisted", "held"),
    [
        (None, True),  # never reported on
        (TaskState.PREPARING, True),
        (TaskState.RUNNING, False),  # a container to re-adopt
        (TaskState.FAILED, False),
    ],
)
def test_a_task_from_disk_waits_for_a_full_set_unless_it_ran(
    persisted: TaskState | None, held: bool
) -> None:
    status = None if persisted is None else TaskStatus(state=persisted)
    assert held_at_start(status) is held


def test_only_a_task_on_its_way_to_running_takes_a_start_slot() -> None:
    assert takes_start_slot(TaskState.ACCEPTED, removing=False)
    assert not takes_start_slot(TaskState.ACCEPTED, removing=True)
    assert not takes_start_slot(TaskState.RUNNING, removing=False)
