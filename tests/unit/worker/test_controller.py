"""The worker's pure task step function: transitions, adoption, errors."""

from __future__ import annotations

import pytest

from actors.worker.controller import Action, Outcome, retry_delay, step
from actors.worker.executors.base import (
    ContainerExistsError,
    ContainerNotFoundError,
    EngineError,
    EngineUnavailableError,
    ExitResult,
    Health,
    ImageNotFoundError,
    Observation,
    RuntimeState,
    StartError,
)
from api.objects import ContainerStatus, TaskStatus
from api.task_state import TaskState

S = TaskState
RUN = S.RUNNING
NOW = 100.0


def st(state: TaskState, **kw: object) -> TaskStatus:
    return TaskStatus(state=state, **kw)  # type: ignore[arg-type]


def go(status, outcome=None, desired=RUN, removing=False, attempt=0, refuses=False):
    return step(
        desired=desired,
        status=status,
        outcome=outcome,
        removing=removing,
        now=NOW,
        attempt=attempt,
        prepare_refuses_started=refuses,
    )


def obs(state: RuntimeState, **kw: object) -> Outcome:
    return Outcome(Action.INSPECT, observation=Observation(state, **kw))  # type: ignore[arg-type]


def test_new_runner_accepts_and_inspects() -> None:
    d = go(st(S.ASSIGNED))
    assert d.status.state is S.ACCEPTED and d.status.message == "accepted"
    assert d.status.timestamp == NOW
    assert d.action is Action.INSPECT


def test_new_task_prepares_at_once_when_prepare_refuses_a_started_container() -> None:
    # the executor's prepare reports a started container, so the inspect that would only
    # find nothing for a task never reported on is skipped
    d = go(st(S.ASSIGNED), refuses=True)
    assert (d.status.state, d.action) == (S.PREPARING, Action.PREPARE)
    assert d.status.timestamp == NOW


@pytest.mark.parametrize("persisted", [S.ACCEPTED, S.PREPARING, S.READY, S.RUNNING])
def test_a_task_reported_on_before_is_inspected_first_all_the_same(persisted: TaskState) -> None:
    d = go(st(persisted), refuses=True)
    assert (d.status.state, d.action) == (persisted, Action.INSPECT)


@pytest.mark.parametrize("refuses", [False, True])
def test_new_task_to_stop_is_shut_down_without_a_call(refuses: bool) -> None:
    # a removed service's tasks not started yet: no inspect, no stop, no remove
    d = go(st(S.ASSIGNED), desired=S.SHUTDOWN, refuses=refuses)
    assert (d.status.state, d.action, d.finished) == (S.SHUTDOWN, None, False)
    d = go(st(S.ASSIGNED), desired=S.REMOVE, refuses=refuses)
    assert (d.status.state, d.action) == (S.SHUTDOWN, None)
    d = go(st(S.ASSIGNED), removing=True, refuses=refuses)
    assert (d.status.state, d.action, d.finished) == (S.SHUTDOWN, None, True)


def test_a_task_reported_on_before_is_inspected_before_it_is_stopped() -> None:
    # a restarted worker's ACCEPTED task may have a container its last status did not say
    d = go(st(S.ACCEPTED), desired=S.SHUTDOWN, refuses=True)
    assert d.action is Action.INSPECT
    d = go(d.status, obs(RuntimeState.CREATED, container_id="c1"), desired=S.SHUTDOWN)
    assert d.action is Action.SHUTDOWN


@pytest.mark.parametrize(
    ("found", "state"),
    [
        (obs(RuntimeState.RUNNING, container_id="c1", pid=7), S.RUNNING),
        (obs(RuntimeState.EXITED, container_id="c1", exit_code=0), S.COMPLETE),
        (obs(RuntimeState.EXITED, container_id="c1", exit_code=3), S.FAILED),
    ],
)
def test_a_started_container_found_by_prepare_is_inspected_and_adopted(
    found: Outcome, state: TaskState
) -> None:
    d = go(st(S.PREPARING), Outcome(Action.PREPARE, error=ContainerExistsError("exists")))
    assert (d.status.state, d.action) == (S.PREPARING, Action.INSPECT)
    d = go(d.status, found)
    assert d.status.state is state and d.status.container_status.container_id == "c1"
    assert d.action is not Action.START  # never restarted


def test_happy_path_to_running_and_complete() -> None:
    d = go(st(S.ACCEPTED), obs(RuntimeState.MISSING))
    assert (d.status.state, d.action) == (S.PREPARING, Action.PREPARE)
    d = go(d.status, Outcome(Action.PREPARE))
    assert (d.status.state, d.action) == (S.READY, Action.START)
    d = go(d.status, Outcome(Action.START))
    assert (d.status.state, d.action) == (S.STARTING, Action.INSPECT)
    d = go(d.status, obs(RuntimeState.RUNNING, container_id="c1", pid=7))
    assert (d.status.state, d.action) == (RUN, Action.WAIT)
    assert d.status.message == "started"
    assert d.status.container_status == ContainerStatus("c1", 7, 0)
    d = go(d.status, Outcome(Action.WAIT, exit=ExitResult(0)))
    assert (d.status.state, d.action) == (S.COMPLETE, None)
    assert d.status.container_status is not None and d.status.container_status.container_id == "c1"


def test_non_zero_exit_fails_with_the_code() -> None:
    d = go(st(RUN), Outcome(Action.WAIT, exit=ExitResult(3)))
    assert d.status.state is S.FAILED
    assert d.status.err == "task: non-zero exit (3)"
    assert d.status.container_status == ContainerStatus(exit_code=3)


def test_a_wait_woken_while_the_task_still_runs_waits_again() -> None:
    status = st(RUN, message="started")
    d = go(status, Outcome(Action.WAIT))  # no exit: the executor's watch woke for nothing
    assert (d.status, d.action) == (status, Action.WAIT)
    d = go(status, Outcome(Action.WAIT), desired=S.SHUTDOWN)
    assert (d.status, d.action) == (status, Action.SHUTDOWN)
    d = go(st(S.FAILED), Outcome(Action.WAIT), removing=True)
    assert (d.status.state, d.action) == (S.FAILED, Action.REMOVE)


def test_desired_ready_prepares_but_does_not_start() -> None:
    d = go(st(S.PREPARING), Outcome(Action.PREPARE), desired=S.READY)
    assert (d.status.state, d.action) == (S.READY, None)


def test_health_starting_then_healthy() -> None:
    d = go(st(S.STARTING), obs(RuntimeState.RUNNING, health=Health.STARTING))
    assert (d.status.state, d.action) == (S.STARTING, Action.INSPECT)
    assert d.delay > 0
    d = go(d.status, obs(RuntimeState.RUNNING, health=Health.HEALTHY))
    assert (d.status.state, d.action) == (RUN, Action.WAIT)


def test_unhealthy_fails_and_stops_the_container() -> None:
    d = go(st(S.STARTING), obs(RuntimeState.RUNNING, health=Health.UNHEALTHY))
    assert d.status.state is S.FAILED and d.status.err == "task: unhealthy container"
    assert d.action is Action.SHUTDOWN
    d2 = go(d.status, Outcome(Action.SHUTDOWN))
    assert d2.status == d.status and d2.action is None
    d3 = go(st(RUN), Outcome(Action.WAIT, exit=ExitResult(143, unhealthy=True)))
    assert d3.status.state is S.FAILED and d3.status.err == "task: unhealthy container"


@pytest.mark.parametrize("persisted", [S.ACCEPTED, S.STARTING, RUN])
def test_adopts_a_running_container(persisted: TaskState) -> None:
    d = go(st(persisted), obs(RuntimeState.RUNNING, container_id="c9"))
    assert (d.status.state, d.action) == (RUN, Action.WAIT)


def test_adopts_a_created_container_by_starting_it() -> None:
    d = go(st(S.ACCEPTED), obs(RuntimeState.CREATED, container_id="c9"))
    assert (d.status.state, d.action) == (S.READY, Action.START)


def test_adopts_an_exited_container() -> None:
    d = go(st(RUN), obs(RuntimeState.EXITED, exit_code=0))
    assert d.status.state is S.COMPLETE
    d = go(st(RUN), obs(RuntimeState.EXITED, exit_code=2))
    assert d.status.state is S.FAILED and "non-zero exit (2)" in d.status.err


def test_vanished_container_fails() -> None:
    d = go(st(RUN), obs(RuntimeState.MISSING))
    assert d.status.state is S.FAILED and "not found" in d.status.err
    d = go(st(S.READY), obs(RuntimeState.MISSING))
    assert (d.status.state, d.action) == (S.READY, Action.PREPARE)


def test_shutdown_when_desired() -> None:
    d = go(st(RUN), None, desired=S.SHUTDOWN)
    assert d.action is Action.INSPECT
    d = go(st(RUN), obs(RuntimeState.RUNNING), desired=S.SHUTDOWN)
    assert d.action is Action.SHUTDOWN and d.status.state is RUN
    d = go(d.status, Outcome(Action.SHUTDOWN), desired=S.SHUTDOWN)
    assert (d.status.state, d.action) == (S.SHUTDOWN, None)


def test_exit_while_stopping_is_shutdown_not_failure() -> None:
    d = go(st(RUN), Outcome(Action.WAIT, exit=ExitResult(137)), desired=S.SHUTDOWN)
    assert d.status.state is S.SHUTDOWN
    assert d.status.container_status == ContainerStatus(exit_code=137)
    assert d.action is None


def test_shutdown_of_a_never_started_task() -> None:
    d = go(st(S.ACCEPTED), obs(RuntimeState.MISSING), desired=S.SHUTDOWN)
    assert (d.status.state, d.action, d.finished) == (S.SHUTDOWN, None, False)
    d = go(st(S.ACCEPTED), obs(RuntimeState.MISSING), removing=True)
    assert (d.status.state, d.action, d.finished) == (S.SHUTDOWN, None, True)
    d = go(st(S.READY), obs(RuntimeState.MISSING), desired=S.SHUTDOWN)
    assert d.action is Action.SHUTDOWN  # prepared once: stopped and removed as before


def test_removal_shuts_down_then_removes_then_finishes() -> None:
    d = go(st(RUN), obs(RuntimeState.RUNNING), removing=True)
    assert d.action is Action.SHUTDOWN
    d = go(d.status, Outcome(Action.SHUTDOWN), removing=True)
    assert (d.status.state, d.action) == (S.SHUTDOWN, Action.REMOVE)
    d = go(d.status, Outcome(Action.REMOVE), removing=True)
    assert d.finished


def test_terminal_task_does_nothing_until_removed() -> None:
    for state in (S.COMPLETE, S.FAILED, S.REJECTED, S.SHUTDOWN):
        assert go(st(state)).action is None
        assert go(st(state), removing=True).action is Action.REMOVE


def test_missing_image_is_rejected_with_the_message() -> None:
    error = ImageNotFoundError("image nope:1 not found on this node: No such image: nope:1")
    d = go(st(S.PREPARING), Outcome(Action.PREPARE, error=error))
    assert d.status.state is S.REJECTED
    assert d.status.err == str(error)
    assert d.action is None


def test_start_error_before_starting_is_rejected() -> None:
    error = StartError('starting container failed: exec: "/nonexistent": no such file')
    d = go(st(S.READY), Outcome(Action.START, error=error))
    assert d.status.state is S.REJECTED and "/nonexistent" in d.status.err


def test_fatal_error_after_starting_fails_and_stops() -> None:
    d = go(st(RUN), Outcome(Action.WAIT, error=EngineError("boom")))
    assert d.status.state is S.FAILED and d.status.err == "boom"
    assert d.action is Action.SHUTDOWN


def test_temporary_errors_retry_with_backoff() -> None:
    error = EngineUnavailableError("engine down")
    d = go(st(S.PREPARING), Outcome(Action.PREPARE, error=error), attempt=3)
    assert d.retry and d.action is Action.PREPARE and d.status.state is S.PREPARING
    assert d.delay == retry_delay(3) > retry_delay(0)
    assert retry_delay(100) == 10.0


def test_retry_delays_double_from_half_a_second_up_to_ten() -> None:
    assert [retry_delay(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_missing_container_is_success_for_stop_and_remove() -> None:
    gone = ContainerNotFoundError("gone")
    d = go(st(RUN), Outcome(Action.SHUTDOWN, error=gone), desired=S.SHUTDOWN)
    assert d.status.state is S.SHUTDOWN
    d = go(st(S.SHUTDOWN), Outcome(Action.REMOVE, error=gone), removing=True)
    assert d.finished


def test_failed_shutdown_terminates() -> None:
    d = go(st(RUN), Outcome(Action.SHUTDOWN, error=EngineError("stuck")), desired=S.SHUTDOWN)
    assert d.action is Action.TERMINATE
    d = go(st(RUN), Outcome(Action.TERMINATE), desired=S.SHUTDOWN)
    assert d.status.state is S.SHUTDOWN


def test_states_only_move_forward() -> None:
    # A late start outcome for a task already running does not move it back.
    d = go(st(RUN), Outcome(Action.START))
    assert d.status.state is RUN
    d = go(st(S.COMPLETE), Outcome(Action.WAIT, exit=ExitResult(1)))
    assert d.status.state is S.COMPLETE


def test_every_decision_moves_forward_or_stays() -> None:
    outcomes = [
        None,
        obs(RuntimeState.MISSING),
        obs(RuntimeState.CREATED),
        obs(RuntimeState.RUNNING),
        obs(RuntimeState.RUNNING, health=Health.STARTING),
        obs(RuntimeState.RUNNING, health=Health.UNHEALTHY),
        obs(RuntimeState.EXITED, exit_code=1),
        *(Outcome(a) for a in Action if a not in (Action.INSPECT, Action.WAIT)),
        Outcome(Action.WAIT, exit=ExitResult(0)),
        *(Outcome(a, error=EngineError("x")) for a in Action),
        *(Outcome(a, error=ContainerNotFoundError("x")) for a in Action),
    ]
    for state in TaskState:
        for outcome in outcomes:
            for desired in (S.READY, RUN, S.SHUTDOWN, S.REMOVE):
                for removing in (False, True):
                    d = go(st(state), outcome, desired=desired, removing=removing)
                    assert d.status.state >= state
                    if d.status.state != state:
                        assert d.status.state >= S.ACCEPTED


def test_shutdown_records_the_exit_code() -> None:
    stopped = Outcome(Action.SHUTDOWN, observation=Observation(RuntimeState.EXITED, exit_code=137))
    d = go(st(RUN), stopped, desired=S.SHUTDOWN)
    assert d.status.state is S.SHUTDOWN
    assert d.status.container_status == ContainerStatus(exit_code=137)


def test_unhealthy_says_what_the_last_health_check_printed() -> None:
    seen = obs(RuntimeState.RUNNING, health=Health.UNHEALTHY, health_output="db down\n")
    d = go(st(S.STARTING), seen)
    assert d.status.err == "task: unhealthy container (last health check: db down)"
    exit_ = ExitResult(143, unhealthy=True, health_output="x" * 1000)
    d2 = go(st(RUN), Outcome(Action.WAIT, exit=exit_))
    assert d2.status.err.startswith("task: unhealthy container (last health check: ...xxx")
    assert len(d2.status.err) < 400  # the output is bounded


def test_running_records_when_the_task_first_ran() -> None:
    d = go(st(S.STARTING), obs(RuntimeState.RUNNING))
    assert (d.status.state, d.status.started_at) == (RUN, NOW)
    later = step(
        desired=RUN,
        status=d.status,
        outcome=Outcome(Action.WAIT, exit=ExitResult(1)),
        removing=False,
        now=NOW + 9,
    )
    assert (later.status.state, later.status.started_at) == (S.FAILED, NOW)


def test_a_move_keeps_every_field_it_does_not_set() -> None:
    """The controller builds statuses field by field (not dataclasses.replace): a field
    added to TaskStatus must be carried over there too."""
    import dataclasses

    from actors.worker.controller import _to, _with_container
    from api.objects import PortConfig

    assert [f.name for f in dataclasses.fields(TaskStatus)] == [
        "timestamp", "state", "message", "err", "container_status", "port_status", "started_at",
    ]  # fmt: skip
    ports = (PortConfig(target_port=80, published_port=8080),)
    before = TaskStatus(1.0, TaskState.STARTING, "starting", "", ContainerStatus("c1"), ports)
    moved = _to(before, TaskState.RUNNING, "started", 2.0)
    assert moved == dataclasses.replace(
        before, state=TaskState.RUNNING, message="started", timestamp=2.0, started_at=2.0
    )
    other = ContainerStatus("c2")
    assert _with_container(moved, other) == dataclasses.replace(moved, container_status=other)
