"""Restart supervision (pure): dead tasks replaced per the restart policy, with an
injected clock."""

from __future__ import annotations

from dataclasses import replace

from api.enums import NodeAvailability, NodeState, RestartCondition
from api.specs import RestartPolicy
from api.task_state import TaskState
from tests.unit.orchestrator.helpers import World, make_node, make_service


def _world(policy: RestartPolicy, replicas: int = 1) -> World:
    w = World()
    w.add(make_service(replicas=replicas, restart=policy), make_node("n1"), make_node("n2"))
    w.settle()
    return w


def _fail(w: World, state: TaskState = TaskState.FAILED) -> str:
    (t,) = [t for t in w.runnable("svc-web") if t.slot == 1]
    w.set_status(t.id, state)
    return t.id


def test_failed_task_is_replaced_in_the_same_slot() -> None:
    w = _world(RestartPolicy(delay=0))
    old = _fail(w)
    w.reconcile()
    assert w.tasks[old].desired_state == TaskState.SHUTDOWN
    (new,) = w.runnable("svc-web")
    assert new.id != old and new.slot == 1 and new.desired_state == TaskState.RUNNING
    assert new.status.state == TaskState.PENDING and new.node_id == ""


def test_condition_none_does_not_restart_and_slot_stays_finished() -> None:
    w = _world(RestartPolicy(condition=RestartCondition.NONE, delay=0))
    _fail(w)
    w.reconcile()
    assert w.runnable("svc-web") == []
    assert w.reconcile().effects == []  # not refilled on a later pass either


def test_on_failure_restarts_failures_but_not_completions() -> None:
    w = _world(RestartPolicy(condition=RestartCondition.ON_FAILURE, delay=0))
    _fail(w, TaskState.FAILED)
    w.settle()
    assert len(w.runnable("svc-web")) == 1
    _fail(w, TaskState.COMPLETE)
    w.reconcile()
    assert w.runnable("svc-web") == []


def test_any_restarts_completed_tasks() -> None:
    w = _world(RestartPolicy(condition=RestartCondition.ANY, delay=0))
    _fail(w, TaskState.COMPLETE)
    w.reconcile()
    assert len(w.runnable("svc-web")) == 1


def test_max_attempts() -> None:
    w = _world(RestartPolicy(delay=0, max_attempts=2))
    for _ in range(2):
        _fail(w)
        w.settle()
        assert len(w.runnable("svc-web")) == 1
    _fail(w)
    w.settle()
    assert w.runnable("svc-web") == []


def test_max_attempts_beyond_history_retention_uses_memory() -> None:
    w = _world(RestartPolicy(delay=0, max_attempts=4))
    w.retention = 1
    for _ in range(4):
        _fail(w)
        w.settle()
        assert len(w.runnable("svc-web")) == 1
    _fail(w)
    w.settle()
    assert w.runnable("svc-web") == []


def test_window_counts_only_recent_restarts() -> None:
    w = _world(RestartPolicy(delay=0, max_attempts=1, window=60))
    _fail(w)
    w.settle()
    assert len(w.runnable("svc-web")) == 1
    _fail(w)
    w.settle()
    assert w.runnable("svc-web") == []  # second failure inside the window
    w.now += 120
    w.settle()
    assert len(w.runnable("svc-web")) == 1  # the window moved on


def test_delay_holds_the_replacement_at_ready() -> None:
    w = _world(RestartPolicy(delay=5.0))
    _fail(w)
    plan = w.reconcile()
    (new,) = w.runnable("svc-web")
    assert new.desired_state == TaskState.READY
    assert new.status.message == "restart delayed"
    assert plan.wake_at == w.now + 5.0
    w.now += 2
    plan = w.reconcile()
    assert w.tasks[new.id].desired_state == TaskState.READY
    assert plan.wake_at == new.meta.created_at + 5.0
    w.now += 3
    w.reconcile()
    assert w.tasks[new.id].desired_state == TaskState.RUNNING


def test_node_down_replaces_task_elsewhere_without_delay() -> None:
    w = _world(RestartPolicy(condition=RestartCondition.NONE, delay=5.0), replicas=2)
    on_n1 = [t for t in w.runnable("svc-web") if t.node_id == "n1"]
    assert on_n1
    w.add(make_node("n1", state=NodeState.DOWN))
    w.settle()
    tasks = w.runnable("svc-web")
    assert len(tasks) == 2 and all(t.node_id == "n2" for t in tasks)
    assert w.tasks[on_n1[0].id].desired_state == TaskState.SHUTDOWN


def test_drain_moves_replicated_tasks() -> None:
    w = _world(RestartPolicy(delay=0), replicas=4)
    w.add(make_node("n1", availability=NodeAvailability.DRAIN))
    w.settle()
    tasks = w.runnable("svc-web")
    assert len(tasks) == 4 and {t.node_id for t in tasks} == {"n2"}
    assert sorted(t.slot for t in tasks) == [1, 2, 3, 4]


def test_removed_node_counts_as_vanished() -> None:
    w = _world(RestartPolicy(delay=0), replicas=2)
    del w.nodes["n1"]
    w.settle()
    assert {t.node_id for t in w.runnable("svc-web")} == {"n2"}


def _crash_loop(w: World, restarts: int, every: float = 3.0) -> None:
    for _ in range(restarts):
        _fail(w)
        w.settle()
        w.now += every


def test_a_crash_loop_without_max_attempts_keeps_no_restart_history() -> None:
    # the leader's memory grew by one entry per restart of a slot under condition any
    w = _world(RestartPolicy(condition=RestartCondition.ANY, delay=0))
    _crash_loop(w, 50)
    assert len(w.runnable("svc-web")) == 1
    assert sum(len(v) for v in w.history.entries.values()) == 0


def test_restart_history_holds_at_most_max_attempts_within_the_window() -> None:
    w = _world(RestartPolicy(condition=RestartCondition.ANY, delay=0, max_attempts=3, window=10))
    _crash_loop(w, 40, every=6.0)  # two restarts per window: never 3 inside one
    assert len(w.runnable("svc-web")) == 1
    (entries,) = w.history.entries.values()
    assert len(entries) <= 2 and all(at >= w.now - 6.0 - 10 for at, _ in entries)


def test_restart_history_forgets_the_restarts_of_a_replaced_spec() -> None:
    w = _world(RestartPolicy(condition=RestartCondition.ANY, delay=0, max_attempts=5))
    _crash_loop(w, 3)
    service = w.services["svc-web"]
    task = replace(service.spec.task, container=replace(service.spec.task.container, image="b"))
    w.services["svc-web"] = replace(service, spec=replace(service.spec, task=task))
    w.settle()
    _crash_loop(w, 1)
    (entries,) = w.history.entries.values()
    assert [s.container.image for _, s in entries] == ["b"]
