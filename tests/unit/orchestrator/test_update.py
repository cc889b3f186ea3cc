"""Rolling updates (pure): parallelism, delay, order, failure action, update_status."""

from __future__ import annotations

from dataclasses import replace

from api.enums import FailureAction, UpdateOrder, UpdateState
from api.objects import Service
from api.specs import ContainerSpec, UpdateConfig
from api.task_state import TaskState
from tests.unit.orchestrator.helpers import World, make_global, make_node, make_service


def _world(replicas: int, update: UpdateConfig, nodes: int = 2) -> World:
    w = World()
    w.add(make_service(replicas=replicas, update=update))
    w.add(*(make_node(f"n{i}") for i in range(1, nodes + 1)))
    w.settle()
    return w


def _change_image(w: World, sid: str = "svc-web", image: str = "busybox:2") -> Service:
    s = w.services[sid]
    task = replace(s.spec.task, container=ContainerSpec(image=image))
    new = replace(
        s, spec=replace(s.spec, task=task), previous_spec=s.spec, spec_version=s.spec_version + 1
    )
    w.services[sid] = new
    return new


def _images(w: World, sid: str = "svc-web") -> list[str]:
    return [t.spec.container.image for t in w.runnable(sid)]


def _past_monitor(w: World, monitor: float = UpdateConfig().monitor) -> None:
    """Let the new tasks' monitor window pass."""
    w.now += monitor
    w.settle()


def _state(w: World, sid: str = "svc-web") -> UpdateState | None:
    st = w.services[sid].update_status
    return st.state if st is not None else None


def test_no_change_restarts_nothing() -> None:
    w = _world(3, UpdateConfig())
    s = w.services["svc-web"]
    w.services[s.id] = replace(s, spec_version=s.spec_version + 1)
    assert w.reconcile().effects == []


def test_stop_first_parallelism_one() -> None:
    w = _world(3, UpdateConfig(parallelism=1))
    _change_image(w)
    w.reconcile()
    assert _state(w) == UpdateState.UPDATING
    # one slot stopped, waiting for the old task to stop before its replacement
    assert len(w.runnable("svc-web")) == 2
    w.reconcile()
    assert len(w.runnable("svc-web")) == 2  # still waiting: the old one is running
    w.stop_shut_down()
    w.reconcile()
    assert sorted(_images(w)) == ["busybox", "busybox", "busybox:2"]
    w.reconcile()  # the new task is not running yet: nothing more starts
    assert sorted(_images(w)) == ["busybox", "busybox", "busybox:2"]
    w.settle()
    assert _images(w) == ["busybox:2"] * 3
    assert _state(w) == UpdateState.UPDATING  # the new tasks are monitored
    _past_monitor(w)
    assert _state(w) == UpdateState.COMPLETED


def test_parallelism_zero_updates_all_at_once() -> None:
    w = _world(4, UpdateConfig(parallelism=0))
    _change_image(w)
    w.reconcile()
    assert w.runnable("svc-web") == []
    w.stop_shut_down()
    w.reconcile()
    assert _images(w) == ["busybox:2"] * 4


def test_parallelism_two() -> None:
    w = _world(5, UpdateConfig(parallelism=2))
    _change_image(w)
    w.reconcile()
    assert len(w.runnable("svc-web")) == 3


def test_delay_between_batches() -> None:
    w = _world(2, UpdateConfig(parallelism=1, delay=10.0))
    _change_image(w)
    w.settle()
    # first slot done and running; the second waits for the delay
    assert sorted(_images(w)) == ["busybox", "busybox:2"]
    plan = w.reconcile()
    assert plan.wake_at is not None and plan.wake_at == w.now + 10.0
    w.now += 10.0
    w.settle()
    assert _images(w) == ["busybox:2"] * 2
    assert _state(w) == UpdateState.UPDATING  # the last batch's delay runs too
    w.now += 10.0
    w.settle()
    assert _state(w) == UpdateState.COMPLETED


def test_start_first_starts_the_new_task_before_stopping_the_old() -> None:
    w = _world(1, UpdateConfig(order=UpdateOrder.START_FIRST))
    (old,) = w.runnable("svc-web")
    _change_image(w)
    w.reconcile()
    assert sorted(_images(w)) == ["busybox", "busybox:2"]
    w.reconcile()
    assert w.tasks[old.id].desired_state == TaskState.RUNNING  # new one not running yet
    w.schedule_and_run()
    w.reconcile()
    assert w.tasks[old.id].desired_state == TaskState.SHUTDOWN
    w.settle()
    assert _images(w) == ["busybox:2"]


def test_failure_pauses_the_update() -> None:
    w = _world(3, UpdateConfig(parallelism=1, failure_action=FailureAction.PAUSE))
    _change_image(w)
    w.reconcile()
    w.stop_shut_down()
    w.reconcile()
    (new,) = [t for t in w.runnable("svc-web") if t.spec.container.image == "busybox:2"]
    w.set_status(new.id, TaskState.FAILED)
    w.reconcile()
    assert _state(w) == UpdateState.PAUSED
    w.settle()
    assert sorted(_images(w)) == ["busybox", "busybox", "busybox:2"]  # no more progress


def test_failure_rolls_back() -> None:
    w = _world(2, UpdateConfig(parallelism=1, failure_action=FailureAction.ROLLBACK))
    _change_image(w)
    w.reconcile()
    w.stop_shut_down()
    w.reconcile()
    (new,) = [t for t in w.runnable("svc-web") if t.spec.container.image == "busybox:2"]
    w.set_status(new.id, TaskState.FAILED)
    w.reconcile()
    assert _state(w) == UpdateState.ROLLBACK_STARTED
    assert w.services["svc-web"].spec.task.container.image == "busybox"
    w.settle()
    assert _images(w) == ["busybox"] * 2
    _past_monitor(w)
    assert _state(w) == UpdateState.ROLLBACK_COMPLETED


def test_failure_continue() -> None:
    w = _world(2, UpdateConfig(parallelism=1, failure_action=FailureAction.CONTINUE))
    _change_image(w)
    w.reconcile()
    w.stop_shut_down()
    w.reconcile()
    (new,) = [t for t in w.runnable("svc-web") if t.spec.container.image == "busybox:2"]
    w.set_status(new.id, TaskState.FAILED)
    w.settle()
    assert _images(w) == ["busybox:2"] * 2
    _past_monitor(w)
    assert _state(w) == UpdateState.COMPLETED


def test_global_update_by_node() -> None:
    w = World()
    w.add(make_global(update=UpdateConfig(parallelism=1)), make_node("n1"), make_node("n2"))
    w.settle()
    _change_image(w, "svc-agent")
    w.reconcile()
    assert len(w.runnable("svc-agent")) == 1
    w.settle()
    assert _images(w, "svc-agent") == ["busybox:2"] * 2
    assert [t.node_id for t in w.runnable("svc-agent")] == ["n1", "n2"]
