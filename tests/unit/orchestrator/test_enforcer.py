"""The constraint enforcer (issue 10 item 7): pure decisions, then the loop with the
replicated orchestrator replacing what it shut down."""

from __future__ import annotations

from dataclasses import replace

from actors.orchestrator.enforcer import enforce_constraints
from actors.orchestrator.state import SetDesiredState
from api.enums import NodeAvailability, NodeRole
from api.objects import Meta, Node, NodeDescription, Task, TaskStatus
from api.specs import (
    Placement,
    ResourceRequirements,
    Resources,
    TaskSpec,
)
from api.task_state import TaskState
from tests.unit.orchestrator.helpers import World, make_node, make_service

GIB = 1024**3


def task(
    id: str,
    node: str,
    *,
    constraints: tuple[str, ...] = (),
    memory: int = 0,
    created: float = 0.0,
    state: TaskState = TaskState.RUNNING,
    desired: TaskState = TaskState.RUNNING,
) -> Task:
    spec = TaskSpec(
        placement=Placement(constraints=constraints),
        resources=ResourceRequirements(reservations=Resources(memory_bytes=memory)),
    )
    return Task(
        id=id,
        meta=Meta(1, created, created),
        spec=spec,
        service_id="svc",
        slot=1,
        node_id=node,
        desired_state=desired,
        status=TaskStatus(state=state),
    )


def with_memory(node: Node, memory: int) -> Node:
    return replace(
        node,
        description=NodeDescription(hostname=node.id, resources=Resources(memory_bytes=memory)),
    )


def shut(plan: object) -> dict[str, str]:
    return {e.task_id: e.reason for e in plan.effects if isinstance(e, SetDesiredState)}  # type: ignore[attr-defined]


def test_a_label_taken_away_shuts_down_the_tasks_that_needed_it() -> None:
    n1 = make_node("n1", labels={"disk": "ssd"})
    tasks = [
        task("a", "n1", constraints=("node.labels.disk==ssd",)),
        task("b", "n1"),
        task("c", "n1", constraints=("node.labels.disk==ssd",), state=TaskState.COMPLETE),
    ]
    assert shut(enforce_constraints({"n1": n1}, tasks)) == {}
    relabelled = replace(n1, spec=replace(n1.spec, labels={"disk": "hdd"}))
    assert shut(enforce_constraints({"n1": relabelled}, tasks)) == {
        "a": "node no longer satisfies constraint node.labels.disk==ssd"
    }


def test_a_role_change_counts() -> None:
    manager = replace(make_node("m"), role=NodeRole.MANAGER)
    tasks = [task("a", "m", constraints=("node.role==manager",))]
    assert shut(enforce_constraints({"m": manager}, tasks)) == {}
    demoted = replace(manager, role=NodeRole.WORKER)
    assert list(shut(enforce_constraints({"m": demoted}, tasks))) == ["a"]


def test_reservations_oldest_keep_their_share_newest_go_first() -> None:
    node = with_memory(make_node("n1"), 4 * GIB)
    tasks = [
        task("old", "n1", memory=2 * GIB, created=1.0),
        task("mid", "n1", memory=GIB, created=2.0),
        task("new", "n1", memory=GIB, created=3.0),
        task("free", "n1", created=4.0),  # no reservation: always fits
    ]
    assert shut(enforce_constraints({"n1": node}, tasks)) == {}
    smaller = with_memory(node, 3 * GIB + 1)
    assert shut(enforce_constraints({"n1": smaller}, tasks)) == {
        "new": "insufficient memory on the node for the task's reservation"
    }
    tiny = with_memory(node, GIB)
    assert set(shut(enforce_constraints({"n1": tiny}, tasks))) == {"old", "new"}


def test_gone_down_or_drained_nodes_and_finished_tasks_are_left_alone() -> None:
    drained = make_node("n1", availability=NodeAvailability.DRAIN, labels={"x": "1"})
    paused = make_node("n2", availability=NodeAvailability.PAUSE)
    tasks = [
        task("a", "n1", constraints=("node.labels.x==2",)),
        task("b", "n2", constraints=("node.labels.x==2",)),
        task("c", "n2", constraints=("node.labels.x==2",), desired=TaskState.SHUTDOWN),
        task("d", "gone", constraints=("node.labels.x==2",)),
    ]
    assert shut(enforce_constraints({"n1": drained, "n2": paused}, tasks)) == {
        "b": "node no longer satisfies constraint node.labels.x==2"
    }


def test_the_orchestrator_replaces_an_evicted_task_where_it_fits() -> None:
    w = World()
    w.add(make_node("n1", labels={"zone": "a"}), make_node("n2", labels={"zone": "b"}))
    svc = make_service("web", replicas=1, constraints=("node.labels.zone==a",))
    w.add(svc)
    w.reconcile()
    w.schedule_and_run(["n1"])
    (first,) = w.runnable(svc.id)
    # the labels swap: zone a is now n2
    w.nodes["n1"] = make_node("n1", labels={"zone": "b"})
    w.nodes["n2"] = make_node("n2", labels={"zone": "a"})
    w.apply(enforce_constraints(w.nodes, w.tasks.values()))
    assert w.tasks[first.id].desired_state == TaskState.SHUTDOWN
    w.stop_shut_down()
    w.reconcile()
    (second,) = w.runnable(svc.id)
    assert second.slot == first.slot and second.id != first.id and not second.node_id
