"""Global services follow the nodes (pure)."""

from __future__ import annotations

from dataclasses import replace

from api.enums import NodeAvailability, NodeState
from api.specs import RestartPolicy
from api.task_state import TaskState
from tests.unit.orchestrator.helpers import World, make_global, make_node


def _world(*nodes: str, constraints: tuple[str, ...] = ()) -> World:
    w = World()
    w.add(make_global(constraints=constraints), *(make_node(n) for n in nodes))
    return w


def _nodes(w: World) -> list[str]:
    return [t.node_id for t in w.runnable("svc-agent")]


def test_one_task_per_node_with_node_id_set() -> None:
    w = _world("n1", "n2")
    w.reconcile()
    tasks = w.runnable("svc-agent")
    assert [t.node_id for t in tasks] == ["n1", "n2"]
    assert all(t.slot == 0 and t.status.state == TaskState.PENDING for t in tasks)
    w.settle()
    assert w.reconcile().effects == []


def test_node_joins_gets_a_task() -> None:
    w = _world("n1")
    w.settle()
    w.add(make_node("n2"))
    w.settle()
    assert _nodes(w) == ["n1", "n2"]


def test_drain_shuts_down_without_replacement_and_activate_restores() -> None:
    w = _world("n1", "n2")
    w.settle()
    w.add(make_node("n1", availability=NodeAvailability.DRAIN))
    w.settle()
    assert _nodes(w) == ["n2"]
    w.add(make_node("n1"))
    w.settle()
    assert _nodes(w) == ["n1", "n2"]


def test_pause_keeps_tasks_but_adds_none() -> None:
    w = _world("n1")
    w.settle()
    w.add(make_node("n1", availability=NodeAvailability.PAUSE))
    w.add(make_node("n2", availability=NodeAvailability.PAUSE))
    w.settle()
    assert _nodes(w) == ["n1"]
    (t,) = w.runnable("svc-agent")
    w.set_status(t.id, TaskState.FAILED)  # dies on a paused node: not restarted
    w.settle()
    assert _nodes(w) == []


def test_down_and_removed_nodes_lose_their_tasks() -> None:
    w = _world("n1", "n2", "n3")
    w.settle()
    w.add(make_node("n1", state=NodeState.DOWN))
    del w.nodes["n2"]
    w.settle()
    assert _nodes(w) == ["n3"]


def test_constraints_follow_label_changes() -> None:
    w = _world("n1", "n2", constraints=("node.labels.zone==a",))
    w.add(make_node("n1", labels={"zone": "a"}))
    w.settle()
    assert _nodes(w) == ["n1"]
    w.add(make_node("n2", labels={"zone": "a"}))
    w.add(make_node("n1", labels={"zone": "b"}))
    w.settle()
    assert _nodes(w) == ["n2"]


def test_failed_task_restarts_on_the_same_node() -> None:
    w = _world("n1")
    s = w.services["svc-agent"]
    spec = replace(s.spec, task=replace(s.spec.task, restart_policy=RestartPolicy(delay=0)))
    w.services[s.id] = replace(s, spec=spec)
    w.settle()
    (t,) = w.runnable("svc-agent")
    w.set_status(t.id, TaskState.FAILED)
    w.reconcile()
    (new,) = w.runnable("svc-agent")
    assert new.id != t.id and new.node_id == "n1"


def test_malformed_constraint_places_nothing() -> None:
    w = _world("n1", constraints=("zone",))
    w.reconcile()
    assert _nodes(w) == []
