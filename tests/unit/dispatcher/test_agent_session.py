"""The agent's pure decisions: backoff, manager rotation, status coalescing, lost frames."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from actors.backoff import Backoff
from actors.dispatcher.wire import ManagerAddress
from actors.worker.session import (
    SESSION_BACKOFF,
    ManagerRotation,
    StatusCoalescer,
    backoff_step,
    lost_frames,
    statuses_to_resend,
)
from api.objects import Task, TaskStatus
from api.task_state import TaskState


def st(state: TaskState) -> TaskStatus:
    return TaskStatus(state=state)


M1 = ManagerAddress("tcp://10.0.0.1:4242", b"1" * 40)
M2 = ManagerAddress("tcp://10.0.0.2:4242", b"2" * 40)
M3 = ManagerAddress("tcp://10.0.0.3:4242", b"3" * 40)


def test_session_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(5)
    delays = [SESSION_BACKOFF.delay(failures, rng) for failures in range(1, 11)]
    ceilings = [min(8.0, 0.1 * 2**i) for i in range(10)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))


def test_session_backoff_jitter_spreads_workers() -> None:
    delays = {SESSION_BACKOFF.delay(1, random.Random(seed)) for seed in range(20)}
    assert len(delays) > 1


@pytest.mark.parametrize("seed", range(5))
def test_equal_jitter_is_a_random_point_in_the_upper_half(seed: int) -> None:
    # SwarmKit's agent (and the agent's own ReconnectBackoff before the shared Backoff):
    # ceiling / 2 + uniform(0, ceiling / 2), with the same draws from the same rng
    backoff, old = Backoff.equal_jitter(0.1, 8.0), random.Random(seed)
    new = random.Random(seed)
    for failures in range(1, 12):
        ceiling = min(8.0, 0.1 * 2 ** (failures - 1))
        expected = ceiling / 2 + old.uniform(0, ceiling / 2)
        assert backoff.delay(failures, new) == pytest.approx(expected, rel=1e-12)


def test_rotation_tries_the_next_manager_and_wraps() -> None:
    rotation = ManagerRotation([M1, M2])
    assert rotation.current() == M1
    assert rotation.advance() == M2
    assert rotation.advance() == M1


def test_rotation_takes_the_list_a_manager_sent() -> None:
    rotation = ManagerRotation([M1])
    rotation.update([M3, M1, M2])
    assert rotation.current() == M1  # still the one in use
    assert rotation.advance() == M2
    rotation.update([])  # nothing sent: keep the list
    assert rotation.managers == (M3, M1, M2)
    rotation.update([M3])  # ours is gone: start at the top
    assert rotation.current() == M3


def test_the_backoff_steps_once_per_round_through_the_managers() -> None:
    assert [backoff_step(f, 3) for f in range(1, 10)] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert [backoff_step(f, 1) for f in range(1, 4)] == [1, 2, 3]
    assert backoff_step(0, 3) == 1 and backoff_step(5, 0) == 5


def test_rotation_needs_a_manager() -> None:
    with pytest.raises(ValueError):
        ManagerRotation([])


def test_coalescer_keeps_the_latest_state_per_task() -> None:
    c = StatusCoalescer()
    c.add([("t1", st(TaskState.PREPARING)), ("t2", st(TaskState.ACCEPTED))])
    c.add([("t1", TaskStatus(state=TaskState.RUNNING))])
    c.add([("t1", TaskStatus(state=TaskState.STARTING))])
    taken = c.take(10)
    assert [(t, s.state) for t, s in taken] == [
        ("t1", TaskState.RUNNING),
        ("t2", TaskState.ACCEPTED),
    ]


def test_requeue_never_overwrites_something_newer() -> None:
    c = StatusCoalescer()
    c.add([("t1", st(TaskState.PREPARING)), ("t2", st(TaskState.ACCEPTED))])
    batch = c.take(1)
    assert len(c) == 1
    c.add([("t1", TaskStatus(state=TaskState.RUNNING))])
    c.requeue(batch)
    assert dict((t, s.state) for t, s in c.take(10))["t1"] is TaskState.RUNNING


def test_put_is_add_of_one_update() -> None:
    c = StatusCoalescer()
    c.put("t1", st(TaskState.RUNNING))
    c.put("t1", st(TaskState.PREPARING))  # earlier: never replaces a later one
    c.put("t2", st(TaskState.ACCEPTED))
    assert [(t, s.state) for t, s in c.take(10)] == [
        ("t1", TaskState.RUNNING),
        ("t2", TaskState.ACCEPTED),
    ]


def test_a_new_session_resends_only_the_statuses_its_full_set_does_not_hold() -> None:
    running = TaskStatus(timestamp=5.0, state=TaskState.RUNNING, message="started")
    failed = TaskStatus(timestamp=6.0, state=TaskState.FAILED, message="exit 1")
    held = [
        Task(id="same", status=running),
        Task(id="older", status=replace(running, timestamp=4.0)),
    ]
    current = [("same", running), ("older", running), ("unknown", failed)]
    assert statuses_to_resend(current, held) == [("older", running), ("unknown", failed)]
    assert statuses_to_resend(current, []) == current
    assert statuses_to_resend(current, None) == current  # the first frame is no full set
    # a task the node has not stepped yet still has the manager's ASSIGNED: never resent
    assigned = TaskStatus(timestamp=7.0, state=TaskState.ASSIGNED)
    assert statuses_to_resend([*current, ("new", assigned)], None) == current


def test_frames_are_lost_when_fewer_came_than_the_manager_had_streamed() -> None:
    assert lost_frames(1, 0) is None  # the first heartbeat: nothing counted yet
    assert lost_frames(3, 3) is None
    assert lost_frames(4, 3) is None  # more since the manager counted: still on their way
    assert lost_frames(2, 3) == "session stream lost frames (2 of 3 received)"
