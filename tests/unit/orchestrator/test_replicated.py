"""Replicated services: slots 1..N, scale up and down (pure)."""

from __future__ import annotations

from dataclasses import replace

from actors.orchestrator import SetDesiredState, removal_order
from api.specs import ReplicatedService
from api.task_state import TaskState
from tests.unit.orchestrator.helpers import World, make_node, make_service


def _world(replicas: int = 3, nodes: int = 3) -> World:
    w = World()
    w.add(make_service(replicas=replicas), *(make_node(f"n{i}") for i in range(1, nodes + 1)))
    return w


def _scale(w: World, replicas: int) -> None:
    s = w.services["svc-web"]
    spec = replace(s.spec, mode=ReplicatedService(replicas=replicas))
    w.services[s.id] = replace(s, spec=spec, spec_version=s.spec_version + 1)


def test_creates_one_pending_task_per_slot() -> None:
    w = _world(3)
    w.reconcile()
    tasks = w.runnable("svc-web")
    assert [t.slot for t in tasks] == [1, 2, 3]
    for t in tasks:
        assert t.status.state == TaskState.PENDING
        assert t.desired_state == TaskState.RUNNING
        assert t.node_id == ""
        assert t.spec == w.services["svc-web"].spec.task
        assert t.spec_version == 1
        assert t.service_name == "web"


def test_reconcile_is_idempotent() -> None:
    w = _world(3)
    w.settle()
    assert w.reconcile().effects == []


def test_scale_up_adds_the_lowest_free_slots() -> None:
    w = _world(3)
    w.settle()
    _scale(w, 6)
    w.settle()
    assert w.slots("svc-web") == [1, 2, 3, 4, 5, 6]


def test_scale_only_change_restarts_nothing() -> None:
    w = _world(3)
    w.settle()
    before = {t.id for t in w.runnable("svc-web")}
    _scale(w, 4)
    w.settle()
    after = {t.id for t in w.runnable("svc-web")}
    assert before < after and len(after) == 4


def test_scale_down_removes_highest_slots_when_balanced() -> None:
    w = _world(6, nodes=3)
    w.settle()
    _scale(w, 3)
    plan = w.reconcile()
    removed = [e for e in plan.effects if isinstance(e, SetDesiredState)]
    assert all(e.state == TaskState.REMOVE for e in removed)
    assert len(removed) == 3
    assert w.slots("svc-web") == [1, 2, 3]


def test_scale_down_prefers_nodes_with_most_tasks() -> None:
    w = _world(4, nodes=2)
    w.reconcile()
    # slots 1-3 on n1, slot 4 on n2
    w.schedule_and_run(["n1", "n1", "n1", "n2"])
    placed = {t.slot: t.node_id for t in w.runnable("svc-web")}
    assert placed == {1: "n1", 2: "n1", 3: "n1", 4: "n2"}
    _scale(w, 2)
    w.reconcile()
    kept = {t.slot: t.node_id for t in w.runnable("svc-web")}
    assert sorted(kept.values()) == ["n1", "n2"]


def test_scale_down_prefers_tasks_not_running() -> None:
    w = _world(3, nodes=3)
    w.reconcile()
    w.schedule_and_run()
    t1 = next(t for t in w.runnable("svc-web") if t.slot == 1)
    w.set_status(t1.id, TaskState.STARTING)  # not running yet (a test shortcut)
    _scale(w, 2)
    w.reconcile()
    assert w.slots("svc-web") == [2, 3]


def test_removal_order_puts_unassigned_first() -> None:
    w = _world(3, nodes=1)
    w.reconcile()
    tasks = {t.slot: [t] for t in w.runnable("svc-web")}
    tasks[1] = [replace(tasks[1][0], node_id="n1")]
    assert removal_order(tasks)[:2] == [3, 2]


def test_scale_3_to_6_to_2_and_reap() -> None:
    w = _world(3)
    w.settle()
    _scale(w, 6)
    w.settle()
    _scale(w, 2)
    w.settle()
    assert len(w.runnable("svc-web")) == 2
    assert all(t.desired_state <= TaskState.RUNNING for t in w.of("svc-web"))


def test_scale_to_zero() -> None:
    w = _world(2)
    w.settle()
    _scale(w, 0)
    w.settle()
    assert w.of("svc-web") == []
