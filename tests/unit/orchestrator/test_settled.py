"""Settled services and task progress (settled.py): pure, no store."""

from __future__ import annotations

from dataclasses import replace
from random import Random

import pytest

from actors.orchestrator.replicated import reconcile_replicated, reconcile_slots
from actors.orchestrator.restart import RestartHistory
from actors.orchestrator.settled import is_progress, is_settled, is_stopped_report, still_settled
from actors.orchestrator.state import CreateTask, Plan, SetDesiredState
from api.enums import NodeAvailability, NodeState, RebalanceMode, RestartCondition, UpdateState
from api.objects import Service, Task, TaskStatus, UpdateStatus
from api.specs import ContainerSpec, ReplicatedService, RestartPolicy, TaskSpec
from api.task_state import TaskState
from tests.unit.orchestrator.helpers import make_node, make_service

SVC = make_service(replicas=3)


def task(
    slot: int,
    *,
    state: TaskState = TaskState.RUNNING,
    node: str = "n1",
    desired: TaskState = TaskState.RUNNING,
) -> Task:
    return Task(
        id=f"t{slot}-{state.label}",
        spec=SVC.spec.task,
        service_id=SVC.id,
        slot=slot,
        node_id=node,
        desired_state=desired,
        status=TaskStatus(state=state),
    )


STEADY = [task(1), task(2), task(3, state=TaskState.PENDING, node="")]


def test_a_service_with_one_current_runnable_task_per_slot_is_settled() -> None:
    assert is_settled(SVC, STEADY)
    history = task(2, state=TaskState.FAILED, desired=TaskState.SHUTDOWN)
    assert is_settled(SVC, [*STEADY, history])  # finished tasks are history


def test_what_keeps_a_service_from_settling() -> None:
    stale = replace(STEADY[0], spec=TaskSpec(container=ContainerSpec(image="other")))
    held = replace(STEADY[0], desired_state=TaskState.READY)
    dead = replace(STEADY[0], status=TaskStatus(state=TaskState.FAILED))
    unsettled = {
        "a slot empty": STEADY[:2],
        "a slot twice": [*STEADY, task(1, state=TaskState.STARTING)],
        "a slot past the replicas": [*STEADY, task(4)],
        "a stale task": [stale, *STEADY[1:]],
        "a restart held back": [held, *STEADY[1:]],
        "a task ended, not shut down yet": [dead, *STEADY[1:]],
    }
    for why, tasks in unsettled.items():
        assert not is_settled(SVC, tasks), why
    updating = replace(SVC, update_status=UpdateStatus(state=UpdateState.UPDATING))
    auto = replace(SVC, spec=replace(SVC.spec, rebalance=RebalanceMode.AUTO))
    asked = replace(SVC, spec=replace(SVC.spec, rebalance_requests=1))
    removed = replace(SVC, pending_delete=True)
    for service in (updating, auto, asked, removed):
        assert not is_settled(service, STEADY)
    done = replace(SVC, update_status=UpdateStatus(state=UpdateState.COMPLETED))
    assert is_settled(done, STEADY)


def test_progress_is_moving_forward_in_place_or_onto_a_usable_node() -> None:
    pending = task(1, state=TaskState.PENDING, node="")
    assigned = replace(pending, node_id="n1", status=TaskStatus(state=TaskState.ASSIGNED))
    running = replace(assigned, status=TaskStatus(state=TaskState.RUNNING))
    assert is_progress(assigned, pending, {"n1"})
    assert is_progress(running, assigned, set())
    assert not is_progress(assigned, pending, {"n2"}), "placed on a node not usable"
    assert not is_progress(pending, None, {"n1"}), "a new task"
    failed = replace(running, status=TaskStatus(state=TaskState.FAILED))
    assert not is_progress(failed, running, {"n1"})
    stop = replace(running, desired_state=TaskState.SHUTDOWN)
    assert not is_progress(stop, running, {"n1"})
    moved = replace(running, node_id="n2")
    assert not is_progress(moved, running, {"n1", "n2"}), "tasks never move"


def test_a_stopped_report_is_a_task_already_stopped_reporting_in_place() -> None:
    running = task(1, state=TaskState.RUNNING, node="n1")
    stop = replace(running, desired_state=TaskState.SHUTDOWN)
    stopped = replace(stop, status=TaskStatus(state=TaskState.SHUTDOWN))
    assert is_stopped_report(stopped, stop)
    assert is_stopped_report(replace(stop, status=TaskStatus(state=TaskState.FAILED)), stop)
    assert not is_stopped_report(stop, running), "the stop itself"
    assert not is_stopped_report(replace(running, status=stopped.status), running), "runnable"
    assert not is_stopped_report(replace(stopped, desired_state=TaskState.REMOVE), stopped)
    assert not is_stopped_report(replace(stopped, node_id="n2"), stop)
    assert not is_stopped_report(stopped, None)


def _shape(plan: Plan) -> list[tuple[str, int | str, str]]:
    out: list[tuple[str, int | str, str]] = []
    for e in plan.effects:
        if isinstance(e, CreateTask):
            out.append(("create", e.task.slot, e.task.desired_state.label))
        elif isinstance(e, SetDesiredState):
            out.append(("desired", e.task_id, e.state.label))
        else:
            out.append((type(e).__name__, "", ""))
    return sorted(out)


@pytest.mark.parametrize("condition", list(RestartCondition))
def test_a_pass_over_some_slots_writes_what_a_whole_pass_writes(
    condition: RestartCondition,
) -> None:
    service = make_service(replicas=6, restart=RestartPolicy(condition=condition, delay=0.0))
    nodes = {"n1": make_node("n1"), "n2": make_node("n2", availability=NodeAvailability.DRAIN)}
    live = [
        replace(task(s, node=f"n{1 + s % 2}"), spec=service.spec.task, service_id=service.id)
        for s in range(1, 7)
    ]
    failed = replace(live[2], status=TaskStatus(state=TaskState.FAILED))  # slot 3, on n2
    history = replace(live[0], id="old", desired_state=TaskState.SHUTDOWN)  # slot 1
    tasks = [*live[:2], failed, *live[3:], history]
    changed = {t.slot for t in tasks if t.node_id == "n2"} | {3}
    slots = {s: [t for t in tasks if t.slot == s] for s in changed}
    whole = reconcile_replicated(service, tasks, nodes, 5.0, Random(1), RestartHistory())
    part = reconcile_slots(service, slots, nodes, 5.0, Random(1), RestartHistory())
    assert _shape(part) == _shape(whole)
    assert is_settled(service, live)
    # each slot keeps one runnable task, unless the failed one is not restarted
    assert still_settled(service, slots, part) == (condition != RestartCondition.NONE)


_PLACEMENTS = ["up", "unknown", "down", "drained", "gone", ""]
_STATES = [TaskState.PENDING, TaskState.ASSIGNED, TaskState.RUNNING, TaskState.FAILED]
_STALE = TaskSpec(container=ContainerSpec(image="other"))


def _random_task(rng: Random, service: Service, i: int, slot: int, desired: TaskState) -> Task:
    return Task(
        id=f"t{i}",
        spec=_STALE if rng.random() < 0.05 else service.spec.task,
        service_id=service.id,
        slot=slot,
        node_id=rng.choice(_PLACEMENTS),
        desired_state=desired,
        status=TaskStatus(state=rng.choice(_STATES)),
    )


def test_a_whole_pass_over_a_settled_service_on_usable_nodes_writes_nothing() -> None:
    """What lets reconcile_services skip such a service: over random task sets (slots
    filled, doubled, missing or ended, stale specs, held restarts, nodes down, drained or
    gone), whenever ``is_settled(service, tasks, nodes)`` holds, the whole pass's plan
    is empty and wakes nobody."""
    nodes = {
        "up": make_node("up"),
        "unknown": make_node("unknown", state=NodeState.UNKNOWN),  # after a leader change
        "down": make_node("down", state=NodeState.DOWN),
        "drained": make_node("drained", availability=NodeAvailability.DRAIN),
    }
    settled_seen = 0
    for seed in range(600):
        rng = Random(seed)
        service = make_service(replicas=rng.randint(1, 4))

        # one task a slot (as a settled service has), then history and strays
        assert isinstance(service.spec.mode, ReplicatedService)
        replicas = service.spec.mode.replicas
        tasks = [_random_task(rng, service, i, i + 1, TaskState.RUNNING) for i in range(replicas)]
        for i in range(replicas, replicas + rng.randint(0, 3)):
            desired = rng.choice(
                [TaskState.RUNNING, TaskState.READY, TaskState.SHUTDOWN, TaskState.REMOVE]
            )
            tasks.append(_random_task(rng, service, i, rng.randint(1, 5), desired))
        if not is_settled(service, tasks, nodes):
            continue
        settled_seen += 1
        plan = reconcile_replicated(service, tasks, nodes, 5.0, Random(seed), RestartHistory())
        assert plan.effects == [] and plan.wake_at is None, (seed, tasks)
    assert settled_seen > 20  # the draws reach the case
