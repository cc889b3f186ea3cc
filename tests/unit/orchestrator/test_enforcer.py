"""The constraint enforcer (issue 10 item 7): pure decisions, then the loop with the
replicated orchestrator replacing what it shut down."""

from __future__ import annotations

from dataclasses import replace

from actors.node.tree.host_info import describe_executor
from actors.orchestrator.enforcer import enforce_constraints
from actors.orchestrator.state import SetDesiredState
from api.enums import NodeAvailability, NodeRole
from api.objects import Meta, Node, NodeDescription, Task, TaskStatus
from api.specs import (
    ContainerSpec,
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


def _shut_in_order(node: Node, tasks: list[Task]) -> dict[str, str]:
    """The rule as written (module docstring), oldest first: the reference."""
    from actors.orchestrator.enforcer import unfit_reason

    free = node.description.resources.memory_bytes if node.description is not None else 0
    out: dict[str, str] = {}
    for t in sorted(tasks, key=lambda t: (t.meta.created_at, t.meta.version, t.id)):
        reason = unfit_reason(t, node)
        memory = t.spec.resources.reservations.memory_bytes
        if reason is None and memory > 0 and memory > free:
            reason = "insufficient memory on the node for the task's reservation"
        elif reason is None:
            free -= memory
        if reason is not None:
            out[t.id] = reason
    return out


def test_a_node_whose_tasks_all_fit_is_passed_over_and_the_verdicts_are_the_same() -> None:
    """600 random nodes: the pass that skips a node whose tasks all fit together shuts
    down exactly what the oldest-first walk of every node does."""
    import random

    for seed in range(600):
        rng = random.Random(seed)
        labels = {"zone": "a"} if rng.random() < 0.5 else {}
        node = with_memory(make_node("n1", labels=labels), rng.choice([0, 2, 4, 8]) * GIB)
        tasks = [
            task(
                f"t{i}",
                "n1",
                constraints=rng.choice([(), (), ("node.labels.zone==a",)]),
                memory=rng.choice([0, 0, 1, 2, 3]) * GIB,
                created=float(rng.randrange(4)),
            )
            for i in range(rng.randrange(8))
        ]
        got = shut(enforce_constraints({"n1": node}, tasks))
        assert got == _shut_in_order(node, tasks), seed


def test_a_task_its_nodes_new_executor_cannot_honour_is_shut_down() -> None:
    """A node restarted with another ``--executor`` reports it at its next session: its
    tasks that need what that executor lacks go (their orchestrator places them again
    where they can run), with the scheduler's words; the others stay."""
    node = make_node("n1")

    def on(executor: str) -> Node:
        return replace(
            node, description=NodeDescription(hostname="n1", executor=describe_executor(executor))
        )

    plain = task("plain", "n1", created=1.0)
    pids = replace(
        plain,
        id="pids",
        spec=replace(plain.spec, container=ContainerSpec(command=("sleep",), pids_limit=64)),
    )
    plain = replace(plain, spec=replace(plain.spec, container=ContainerSpec(command=("sleep",))))
    assert shut(enforce_constraints({"n1": on("docker")}, [plain, pids])) == {}
    assert shut(enforce_constraints({"n1": node}, [plain, pids])) == {}  # not reported: docker
    assert shut(enforce_constraints({"n1": on("process")}, [plain, pids])) == {
        "pids": "node's process executor cannot honour --limit-pids"
    }
