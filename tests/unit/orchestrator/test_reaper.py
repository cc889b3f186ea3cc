"""Task reaper: history retention, service rm, deleted services (pure)."""

from __future__ import annotations

from dataclasses import replace

from api.enums import NodeState
from api.objects import Meta, Node, Task, TaskStatus
from api.task_state import TaskState
from tests.unit.orchestrator.helpers import World, make_node, make_service


def _world(replicas: int = 2, retention: int = 5) -> World:
    w = World(retention=retention)
    w.add(make_service(replicas=replicas), make_node("n1"))
    w.settle()
    return w


def _fail_slot1(w: World, times: int) -> None:
    for _ in range(times):
        (t,) = [t for t in w.runnable("svc-web") if t.slot == 1]
        w.set_status(t.id, TaskState.FAILED)
        w.now += 1
        w.settle()


def test_history_keeps_the_newest_terminal_tasks_per_slot() -> None:
    w = _world(retention=3)
    _fail_slot1(w, 6)
    slot1 = [t for t in w.of("svc-web") if t.slot == 1]
    history = [t for t in slot1 if t.desired_state > TaskState.RUNNING]
    # the limit is the slot's, its running task included, as SwarmKit's task reaper counts
    assert len(slot1) == 3
    assert len(history) == 2
    created = sorted(t.meta.created_at for t in history)
    assert created == sorted(created)[-2:]
    assert len([t for t in w.of("svc-web") if t.slot == 2]) == 1


def test_negative_retention_keeps_everything() -> None:
    w = _world(retention=-1)
    _fail_slot1(w, 7)
    assert len([t for t in w.of("svc-web") if t.slot == 1]) == 8


def test_zero_retention_keeps_a_finished_slots_last_task() -> None:
    from api.enums import RestartCondition
    from api.specs import RestartPolicy

    w = World(retention=0)
    w.add(make_service(replicas=1, restart=RestartPolicy(condition=RestartCondition.NONE)))
    w.add(make_node("n1"))
    w.settle()
    (t,) = w.runnable("svc-web")
    w.set_status(t.id, TaskState.FAILED)
    w.settle()
    assert [x.id for x in w.of("svc-web")] == [t.id]


def test_service_rm_removes_tasks_then_the_service() -> None:
    w = _world()
    s = w.services["svc-web"]
    w.services[s.id] = replace(s, pending_delete=True)
    w.reconcile()
    assert all(t.desired_state == TaskState.REMOVE for t in w.of(s.id))
    w.reap()
    assert len(w.of(s.id)) == 2  # still running: wait for the worker
    w.stop_shut_down()
    w.reap()
    assert w.of(s.id) == []
    w.reap()
    assert s.id not in w.services


def test_never_assigned_tasks_are_deleted_at_once() -> None:
    w = World()
    w.add(make_service(replicas=3))
    w.reconcile()
    s = w.services["svc-web"]
    w.services[s.id] = replace(s, pending_delete=True)
    w.reconcile()
    w.reap()
    w.reap()
    assert w.of(s.id) == [] and s.id not in w.services


def test_tasks_of_a_deleted_service() -> None:
    w = _world()
    del w.services["svc-web"]
    w.reap()
    assert all(t.desired_state == TaskState.REMOVE for t in w.of("svc-web"))
    w.stop_shut_down()
    w.reap()
    assert w.of("svc-web") == []


def _history_by_every_slot(tasks: list[Task], nodes: dict[str, Node], limit: int) -> list[str]:
    """The rule as written (module docstring), over every slot: the reference."""
    from actors.orchestrator.reaper import _by_age, is_finished

    slots: dict[tuple[int, str], list[Task]] = {}
    for t in tasks:
        if t.desired_state < TaskState.REMOVE:
            slots.setdefault((t.slot, t.node_id if t.slot == 0 else ""), []).append(t)
    deleted: list[str] = []
    for slot_tasks in slots.values():
        history = _by_age(
            t for t in slot_tasks if t.desired_state > TaskState.RUNNING and is_finished(t, nodes)
        )
        keep = max(0, limit - (len(slot_tasks) - len(history)))
        if not any(t.desired_state <= TaskState.RUNNING for t in slot_tasks):
            keep = max(keep, 1)
        deleted += [t.id for t in history[: max(0, len(history) - keep)]]
    return sorted(deleted)


def test_history_looks_only_at_slots_with_a_task_past_running_and_deletes_the_same() -> None:
    """600 random task sets: the pass that skips slots without a task past RUNNING
    deletes exactly what a look at every slot deletes."""
    import random

    from actors.orchestrator.reaper import _reap_history
    from actors.orchestrator.state import DeleteTask, Plan

    nodes = {"n1": make_node("n1"), "n2": make_node("n2", state=NodeState.DOWN)}
    desired = [TaskState.RUNNING, TaskState.SHUTDOWN, TaskState.REMOVE, TaskState.READY]
    observed = [TaskState.PENDING, TaskState.ASSIGNED, TaskState.RUNNING, TaskState.FAILED]
    for seed in range(600):
        rng = random.Random(seed)
        tasks = [
            Task(
                id=f"t{i}",
                service_id="svc",
                slot=rng.choice([0, 1, 2, 3]),
                node_id=rng.choice(["", "n1", "n2", "n3"]),
                desired_state=rng.choice(desired),
                status=TaskStatus(state=rng.choice(observed)),
                meta=Meta(created_at=float(rng.randrange(5)), version=i),
            )
            for i in range(rng.randrange(12))
        ]
        limit = rng.choice([-1, 0, 1, 2])
        plan = Plan()
        _reap_history(tasks, nodes, limit, plan)
        got = sorted(e.task.id for e in plan.effects if isinstance(e, DeleteTask))
        assert got == _history_by_every_slot(tasks, nodes, limit), seed
