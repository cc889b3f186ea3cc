"""The update monitor (pure): a new task that fails within ``monitor`` seconds of running
(or before it ran) is a failure of the update; the update completes only once every new
task is past its window; failures after the window do not count."""

from __future__ import annotations

from dataclasses import replace

from actors.orchestrator.update import failed_in_window, failure_detail
from api.enums import FailureAction, UpdateOrder, UpdateState
from api.objects import ContainerStatus, Service, Task, TaskStatus
from api.specs import ContainerSpec, RestartPolicy, UpdateConfig
from api.task_state import TaskState
from tests.unit.orchestrator.helpers import World, make_node, make_service


def _world(replicas: int, update: UpdateConfig, rollback: UpdateConfig | None = None) -> World:
    w = World()
    service = make_service(replicas=replicas, update=update)
    if rollback is not None:
        service = replace(service, spec=replace(service.spec, rollback_config=rollback))
    w.add(service, make_node("n1"), make_node("n2"))
    w.settle()
    return w


def _update_image(w: World, image: str = "busybox:2", sid: str = "svc-web") -> Service:
    s = w.services[sid]
    task = replace(s.spec.task, container=ContainerSpec(image=image))
    new = replace(
        s,
        spec=replace(s.spec, task=task),
        previous_spec=s.spec,
        spec_version=s.spec_version + 1,
        update_status=None,
    )
    w.services[sid] = new
    return new


def _new_tasks(w: World, image: str = "busybox:2") -> list[Task]:
    return sorted(
        (t for t in w.runnable("svc-web") if t.spec.container.image == image),
        key=lambda t: t.slot,
    )


def _status(w: World) -> tuple[UpdateState | None, str]:
    st = w.services["svc-web"].update_status
    return (st.state, st.message) if st is not None else (None, "")


def _image(w: World) -> str:
    return w.services["svc-web"].spec.task.container.image


def test_a_failure_inside_the_window_rolls_back() -> None:
    """The issue's case: a task that dies 3 s into a 10 s window. Before the monitor, the
    update completed as soon as the new task ran and the broken version stayed."""
    w = _world(1, UpdateConfig(monitor=10.0, failure_action=FailureAction.ROLLBACK))
    _update_image(w)
    w.settle()
    (new,) = _new_tasks(w)
    assert new.status.state == TaskState.RUNNING
    assert _status(w)[0] == UpdateState.UPDATING  # running, but still watched
    w.now += 3.0
    w.set_status(new.id, TaskState.FAILED, err="task: non-zero exit (1)")
    w.reconcile()
    state, message = _status(w)
    assert state == UpdateState.ROLLBACK_STARTED
    assert new.id in message and "non-zero exit (1)" in message
    assert _image(w) == "busybox"
    assert w.services["svc-web"].spec_history[-1].origin == "update failed"
    w.settle()
    w.now += 5.0
    w.settle()
    state, done = _status(w)
    assert state == UpdateState.ROLLBACK_COMPLETED
    assert done == f"rollback completed: {message}"  # still says why
    assert [t.spec.container.image for t in w.runnable("svc-web")] == ["busybox"]


def test_the_update_completes_when_the_window_ends_and_wakes_for_it() -> None:
    w = _world(2, UpdateConfig(parallelism=0, monitor=10.0))
    _update_image(w)
    w.settle()
    started = max(t.status.started_at for t in _new_tasks(w))
    plan = w.reconcile()
    assert plan.wake_at == started + 10.0
    assert _status(w)[0] == UpdateState.UPDATING
    w.now = started + 10.0
    w.reconcile()
    assert _status(w)[0] == UpdateState.COMPLETED


def test_a_failure_after_the_window_is_not_the_updates() -> None:
    w = _world(1, UpdateConfig(monitor=2.0, failure_action=FailureAction.ROLLBACK))
    _update_image(w)
    w.settle()
    (new,) = _new_tasks(w)
    w.now += 2.0
    w.settle()
    assert _status(w)[0] == UpdateState.COMPLETED
    w.now += 1.0
    w.set_status(new.id, TaskState.FAILED)
    w.settle()
    assert _image(w) == "busybox:2"  # restarted, not rolled back
    assert _status(w)[0] == UpdateState.COMPLETED


def test_a_slot_past_its_window_does_not_fail_an_update_still_running() -> None:
    w = _world(2, UpdateConfig(parallelism=1, monitor=2.0, failure_action=FailureAction.PAUSE))
    _update_image(w)
    w.reconcile()  # slot 1 stopped
    w.stop_shut_down()
    w.reconcile()  # slot 1 refilled
    (first,) = _new_tasks(w)
    w.schedule_and_run()
    w.reconcile()  # slot 2 stopped (delay 0)
    w.stop_shut_down()
    w.reconcile()  # slot 2 refilled, not scheduled yet: the update is still running
    w.now += 3.0
    w.set_status(first.id, TaskState.FAILED)
    w.reconcile()
    assert _status(w)[0] == UpdateState.UPDATING


def test_a_task_that_never_ran_counts() -> None:
    w = _world(2, UpdateConfig(parallelism=1, failure_action=FailureAction.PAUSE))
    _update_image(w)
    w.reconcile()
    w.stop_shut_down()
    w.reconcile()
    (new,) = _new_tasks(w)
    w.set_status(new.id, TaskState.REJECTED, err="image busybox:2 not found on this node")
    w.reconcile()
    state, message = _status(w)
    assert state == UpdateState.PAUSED
    assert message == (
        f"update paused due to failure or early termination of task {new.id}: "
        "image busybox:2 not found on this node"
    )


def test_an_early_exit_counts() -> None:
    w = _world(1, UpdateConfig(monitor=5.0, failure_action=FailureAction.PAUSE))
    _update_image(w)
    w.settle()
    (new,) = _new_tasks(w)
    w.now += 1.0
    w.set_status(new.id, TaskState.COMPLETE)
    w.reconcile()
    state, message = _status(w)
    assert state == UpdateState.PAUSED and message.endswith("exited (0)")


def test_max_failure_ratio_allows_some_failures() -> None:
    w = _world(
        4,
        UpdateConfig(
            parallelism=0, monitor=5.0, max_failure_ratio=0.5, failure_action=FailureAction.PAUSE
        ),
    )
    _update_image(w)
    w.settle()
    a, b, c, _ = _new_tasks(w)
    for task in (a, b):
        w.set_status(task.id, TaskState.FAILED)
    w.reconcile()
    assert _status(w)[0] == UpdateState.UPDATING  # 2 of 4: not more than half
    w.set_status(c.id, TaskState.FAILED)
    w.reconcile()
    assert _status(w)[0] == UpdateState.PAUSED


def test_a_failing_rollback_pauses_and_is_itself_monitored() -> None:
    w = _world(
        1,
        UpdateConfig(monitor=5.0, failure_action=FailureAction.ROLLBACK),
        rollback=UpdateConfig(monitor=5.0, failure_action=FailureAction.PAUSE),
    )
    _update_image(w)
    w.settle()
    (new,) = _new_tasks(w)
    w.set_status(new.id, TaskState.FAILED)
    w.reconcile()
    assert _status(w)[0] == UpdateState.ROLLBACK_STARTED
    w.settle()
    (back,) = _new_tasks(w, "busybox")
    w.now += 1.0
    w.set_status(
        back.id, TaskState.FAILED, err="task: unhealthy container (last health check: not ready)"
    )
    w.reconcile()
    state, message = _status(w)
    assert state == UpdateState.ROLLBACK_PAUSED
    assert message.startswith("rollback paused due to failure or early termination of task")
    assert message.endswith("task: unhealthy container (last health check: not ready)")
    assert _image(w) == "busybox"  # no rollback of a rollback


def test_a_rollback_is_paced_by_the_rollback_config_of_the_spec_left() -> None:
    w = _world(4, UpdateConfig(parallelism=0, failure_action=FailureAction.ROLLBACK))
    s = _update_image(w)
    # the failing update asked for its rollback to run two at a time, start-first
    paced = UpdateConfig(parallelism=2, order=UpdateOrder.START_FIRST)
    w.services[s.id] = replace(s, spec=replace(s.spec, rollback_config=paced))
    w.settle()
    new = _new_tasks(w)
    w.set_status(new[0].id, TaskState.FAILED)
    w.reconcile()
    assert _status(w)[0] == UpdateState.ROLLBACK_STARTED
    w.reconcile()
    started = [t for t in w.tasks.values() if t.spec.container.image == "busybox"]
    assert len([t for t in started if t.status.state == TaskState.PENDING]) == 2


def test_failed_in_window_and_detail() -> None:
    running = TaskStatus(timestamp=100.0, state=TaskState.RUNNING, started_at=100.0)
    task = Task(id="t1", status=running)
    assert not failed_in_window(task, 5.0)
    ended = replace(task, status=replace(running, state=TaskState.FAILED, timestamp=105.0))
    assert failed_in_window(ended, 5.0)
    assert not failed_in_window(ended, 4.9)
    never = Task(id="t2", status=TaskStatus(timestamp=1e9, state=TaskState.REJECTED))
    assert failed_in_window(never, 0.0)
    shut = replace(task, status=replace(running, state=TaskState.SHUTDOWN, timestamp=101.0))
    assert not failed_in_window(shut, 5.0)  # stopped by us
    exited = Task(
        id="t3",
        status=TaskStatus(state=TaskState.COMPLETE, container_status=ContainerStatus(exit_code=0)),
    )
    assert failure_detail(exited) == "exited (0)"
    long = replace(ended, status=replace(ended.status, err="x" * 2000))
    assert len(failure_detail(long)) == 512 and failure_detail(long).endswith("...")


def _reject_new_tasks(w: World, image: str = "busybox:2") -> None:
    """The nodes refuse every task of ``image`` that is to run (an image they cannot pull)."""
    for t in list(w.tasks.values()):
        if (
            t.spec.container.image == image
            and t.desired_state == TaskState.RUNNING
            and t.status.state < TaskState.RUNNING
        ):
            w.set_status(t.id, TaskState.REJECTED, err=f"pulling image {image} failed")


def _run_failing_update(w: World, rounds: int = 30) -> None:
    for _ in range(rounds):
        w.reconcile()
        _reject_new_tasks(w)
        w.schedule_and_run()  # the old spec's refills run; the new one's were refused
        w.stop_shut_down()
        w.now += 1.0


def _updated_slots(w: World, image: str = "busybox:2") -> list[int]:
    return sorted({t.slot for t in w.of("svc-web") if t.spec.container.image == image})


def test_continue_goes_on_past_a_slot_whose_new_task_fails_and_completes() -> None:
    """SwarmKit's updater is done with a slot once the task it made runs or fails, and
    with failure action continue it goes on to the next slot (the failing one is the
    restart policy's). Before, the update waited for that slot to run the new spec, so it
    never got past the first failing slot and stayed 'updating' for ever."""
    w = _world(3, UpdateConfig(parallelism=1, monitor=2.0, failure_action=FailureAction.CONTINUE))
    _update_image(w)
    _run_failing_update(w)
    assert _updated_slots(w) == [1, 2, 3]
    assert _status(w)[0] == UpdateState.COMPLETED


def test_the_update_delay_follows_a_failed_slot_too() -> None:
    w = _world(2, UpdateConfig(parallelism=1, delay=10.0, failure_action=FailureAction.CONTINUE))
    _update_image(w)
    _run_failing_update(w, rounds=5)
    assert _updated_slots(w) == [1]  # slot 1 failed less than 10 s ago
    _run_failing_update(w, rounds=10)
    assert _updated_slots(w) == [1, 2]


def test_max_failure_ratio_counts_slots_not_restarts() -> None:
    """4 slots, at most half may fail: slot 1's new task failing again and again (its
    restarts) is one failed slot, as SwarmKit counts the tasks its updater made; the
    update pauses at the third failing slot."""
    w = _world(
        4,
        UpdateConfig(
            parallelism=1, monitor=5.0, max_failure_ratio=0.5, failure_action=FailureAction.PAUSE
        ),
    )
    _update_image(w)
    _run_failing_update(w)
    state, message = _status(w)
    assert state == UpdateState.PAUSED
    assert _updated_slots(w) == [1, 2, 3]
    assert message.endswith("pulling image busybox:2 failed")


def test_start_first_keeps_the_old_tasks_and_paces_new_ones_by_the_restart_policy() -> None:
    """start-first, continue: a slot whose new task is refused keeps its old task running
    and gets another new one only after the restart delay (it got one every pass, and
    the update never reached the next slot); the other slots are updated meanwhile."""
    w = _world(
        3,
        UpdateConfig(
            parallelism=1,
            monitor=2.0,
            order=UpdateOrder.START_FIRST,
            failure_action=FailureAction.CONTINUE,
        ),
    )
    s = w.services["svc-web"]
    policy = RestartPolicy(delay=5.0, max_attempts=3)
    w.services[s.id] = replace(
        s, spec=replace(s.spec, task=replace(s.spec.task, restart_policy=policy))
    )
    _update_image(w)
    _run_failing_update(w, rounds=12)
    assert _updated_slots(w) == [1, 2, 3]
    assert _status(w)[0] == UpdateState.COMPLETED
    assert [
        t.spec.container.image for t in w.runnable("svc-web") if t.status.state == TaskState.RUNNING
    ] == ["busybox"] * 3
    made = [t for t in w.of("svc-web") if t.spec.container.image == "busybox:2" and t.slot == 1]
    assert 2 <= len(made) <= 3  # at 0 s, then every 5 s
    _run_failing_update(w, rounds=30)
    made = [t for t in w.of("svc-web") if t.spec.container.image == "busybox:2" and t.slot == 1]
    assert len(made) == 4  # the first and 3 more: max attempts
