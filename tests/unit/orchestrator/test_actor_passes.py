"""Which committed changes make the orchestrator's and reaper's ticks pass over a service
(triggers.py, settled.py): the actors ticked by hand against a real MemoryStore."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from actors.orchestrator import OrchestratorActor, TaskReaperActor
from actors.store import MemoryStore, WriteTx, nodes, tasks
from api.enums import NodeAvailability, NodeState
from api.objects import Cluster, Task, TaskStatus
from api.specs import ClusterSpec
from api.task_state import TaskState
from tests.support.clocks import ManualTimer  # never fired: the tests tick the actors
from tests.unit.orchestrator.helpers import make_node, make_service

SVC = make_service("web", replicas=3)


@pytest.fixture
def world() -> Iterator[tuple[MemoryStore, Any, Any]]:
    store = MemoryStore.local(clock=time.time, rng=random.Random(3))

    def setup(tx: WriteTx) -> None:
        tx.create(Cluster(id="c" * 25, spec=ClusterSpec()))
        tx.create(make_node("n1"))
        tx.create(make_node("n2", availability=NodeAvailability.DRAIN))
        tx.create(SVC)

    store.update(setup)
    refs = [
        cls.start(None, store, timer=ManualTimer()) for cls in (OrchestratorActor, TaskReaperActor)
    ]
    yield store, refs[0].proxy(), refs[1].proxy()
    for ref in refs:
        ref.stop(timeout=5)


def set_tasks(store: MemoryStore, change: Callable[[Task], Task | None]) -> None:
    def write(tx: WriteTx) -> None:
        for t in tasks.by_service(tx, SVC.id):
            new = change(t)
            if new is not None:
                tx.update(new)

    store.update(write)


def to(state: TaskState, node: str | None = None) -> Callable[[Task], Task | None]:
    def change(t: Task) -> Task | None:
        if t.desired_state > TaskState.RUNNING:
            return None
        status = TaskStatus(timestamp=time.time(), state=state)
        return replace(t, node_id=node if node is not None else t.node_id, status=status)

    return change


def test_own_creates_and_a_settled_service_s_progress_make_no_pass(world: Any) -> None:
    store, orchestrator, reaper = world
    assert orchestrator.tick().get(timeout=10).written == 3  # the start-up pass creates
    reaper.tick().get(timeout=10)
    assert orchestrator.tick().get(timeout=10).services == 0  # its own creates' echoes
    set_tasks(store, to(TaskState.ASSIGNED, "n1"))  # the scheduler places them
    placed = orchestrator.tick().get(timeout=10)
    assert (placed.services, placed.written) == (1, 0)  # one pass finds it settled
    assert reaper.tick().get(timeout=10).services == 0  # runnable tasks placed: no history
    set_tasks(store, to(TaskState.RUNNING))
    assert orchestrator.tick().get(timeout=10).services == 0
    assert reaper.tick().get(timeout=10).services == 0
    set_tasks(store, lambda t: to(TaskState.FAILED)(t) if t.slot == 1 else None)
    failed = orchestrator.tick().get(timeout=10)
    assert (failed.services, failed.slots, failed.written) == (0, 1, 2)  # shut down, replaced
    assert orchestrator.tick().get(timeout=10).slots == 1  # the echo: that slot again
    reaped = reaper.tick().get(timeout=10)
    assert (reaped.services, reaped.slots) == (0, 1)


def test_a_task_placed_on_a_drained_node_is_still_shut_down(world: Any) -> None:
    store, orchestrator, _ = world
    orchestrator.tick().get(timeout=10)
    set_tasks(store, lambda t: to(TaskState.ASSIGNED, "n1")(t) if t.slot < 3 else None)
    assert orchestrator.tick().get(timeout=10).services == 1  # settled, slot 3 pending
    # a placement racing the node's drain: slot 3 lands on drained n2
    set_tasks(store, lambda t: to(TaskState.ASSIGNED, "n2")(t) if t.slot == 3 else None)
    placed = orchestrator.tick().get(timeout=10)
    assert (placed.services, placed.slots, placed.written) == (0, 1, 2)  # shut down, replaced
    slot3 = [t for t in store.view(lambda tx: tasks.by_service(tx, SVC.id)) if t.slot == 3]
    assert sorted(t.desired_state for t in slot3) == [TaskState.RUNNING, TaskState.SHUTDOWN]


def test_a_drain_passes_over_the_slots_on_the_node_only(world: Any) -> None:
    store, orchestrator, reaper = world
    other = make_service("db", replicas=2)
    store.update(lambda tx: tx.create(other))
    orchestrator.tick().get(timeout=10)
    set_tasks(store, to(TaskState.RUNNING, "n1"))  # web on n1

    def place_db(tx: WriteTx) -> None:
        for t in tasks.by_service(tx, other.id):
            status = TaskStatus(timestamp=time.time(), state=TaskState.RUNNING)
            tx.update(replace(t, node_id="n3", status=status))

    store.update(lambda tx: tx.create(make_node("n3")))
    store.update(place_db)
    assert orchestrator.tick().get(timeout=10).services == 2  # both settle
    reaper.tick().get(timeout=10)

    store.update(drain_n3)
    drained = orchestrator.tick().get(timeout=10)
    assert not drained.full and (drained.services, drained.slots, drained.written) == (0, 2, 4)
    reaped = reaper.tick().get(timeout=10)
    assert (reaped.services, reaped.slots) == (0, 2)  # db's tasks shut down: their slots


def test_a_drained_task_s_report_that_it_stopped_makes_no_pass(world: Any) -> None:
    # fails before: each of a drain's 10,000 stopped tasks' reports was a pass over its slot
    store, orchestrator, reaper = world
    orchestrator.tick().get(timeout=10)
    store.update(lambda tx: tx.create(make_node("n3")))
    set_tasks(store, lambda t: to(TaskState.RUNNING, "n3" if t.slot == 3 else "n1")(t))
    assert orchestrator.tick().get(timeout=10).services == 1  # settles
    store.update(drain_n3)
    assert orchestrator.tick().get(timeout=10).written == 2  # slot 3: shut down, replaced
    assert orchestrator.tick().get(timeout=10).slots == 1  # the echo
    reaper.tick().get(timeout=10)

    def stopped(t: Task) -> Task | None:
        if t.desired_state != TaskState.SHUTDOWN:
            return None
        return replace(t, status=TaskStatus(timestamp=time.time(), state=TaskState.SHUTDOWN))

    set_tasks(store, stopped)
    report = orchestrator.tick().get(timeout=10)
    assert (report.services, report.slots, report.written) == (0, 0, 0)
    assert reaper.tick().get(timeout=10).slots == 1  # history is the reaper's


def test_a_node_going_unknown_and_ready_again_passes_over_no_slot_of_a_settled_service(
    world: Any,
) -> None:
    # fails before: each step (every node's, after a leader change) was a pass over the
    # slots of every task on the node
    store, orchestrator, _ = world
    orchestrator.tick().get(timeout=10)
    set_tasks(store, to(TaskState.RUNNING, "n1"))
    assert orchestrator.tick().get(timeout=10).services == 1  # settles
    for state in (NodeState.UNKNOWN, NodeState.READY):
        store.update(lambda tx, s=state: set_node_state(tx, "n1", s))
        report = orchestrator.tick().get(timeout=10)
        assert (report.services, report.slots, report.written) == (0, 0, 0)
    store.update(lambda tx: set_node_state(tx, "n1", NodeState.DOWN))
    down = orchestrator.tick().get(timeout=10)
    assert (down.services, down.slots, down.written) == (0, 3, 6)  # shut down, replaced


def set_node_state(tx: WriteTx, node_id: str, state: NodeState) -> None:
    node = nodes.get(tx, node_id)
    assert node is not None
    tx.update(replace(node, status=replace(node.status, state=state)))


def test_a_drain_reads_the_slots_on_the_node_through_the_slot_index(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not every task of a settled service: at 100,000 tasks each tick of a drain read
    (and sorted) every task of every service with a task on the drained nodes."""
    store, orchestrator, _ = world
    orchestrator.tick().get(timeout=10)
    store.update(lambda tx: tx.create(make_node("n3")))
    set_tasks(store, lambda t: to(TaskState.RUNNING, "n3" if t.slot == 3 else "n1")(t))
    assert orchestrator.tick().get(timeout=10).services == 1  # settles
    read_whole: list[str] = []
    by_service = tasks.by_service

    def counted(tx: Any, service_id: str) -> list[Task]:
        read_whole.append(service_id)
        return by_service(tx, service_id)

    monkeypatch.setattr(tasks, "by_service", counted)

    store.update(drain_n3)
    drained = orchestrator.tick().get(timeout=10)
    assert (drained.services, drained.slots, drained.written) == (0, 1, 2)  # slot 3 moves
    assert read_whole == []
    monkeypatch.undo()
    slot3 = store.view(lambda tx: tasks.by_slot(tx, SVC.id, 3))
    assert sorted(t.desired_state for t in slot3) == [TaskState.RUNNING, TaskState.SHUTDOWN]


class AssigningStore(MemoryStore):
    """After each batch its new tasks are assigned, as the scheduler would meanwhile."""

    def batch(self, fn: Any, *, timeout: float | None = None) -> Any:
        result = super().batch(fn, timeout=timeout)

        def assign(tx: WriteTx) -> None:
            for t in tasks.list_all(tx):
                if t.status.state < TaskState.ASSIGNED and not t.node_id:
                    status = TaskStatus(timestamp=time.time(), state=TaskState.ASSIGNED)
                    tx.update(replace(t, node_id="n1", status=status))

        self.update(assign)
        return result


def test_a_tick_creating_many_tasks_keeps_its_watch_open() -> None:
    """Its own creates' echoes and their updates outnumber the store's objects (the watch
    queue's bound): written in slices, with the queue taken in between, the next tick is
    no full pass (at 100,000 tasks a tick creating 90,000 overflowed)."""
    store = AssigningStore.local(clock=time.time, rng=random.Random(3), watch_queue_size=30)
    store.update(
        lambda tx: (tx.create(make_node("n1")), tx.create(make_service("big", replicas=100)))
    )
    ref = OrchestratorActor.start(None, store, timer=ManualTimer(), write_slice=10)
    try:
        orchestrator = ref.proxy()
        assert orchestrator.tick().get(timeout=10).written == 100
        after = orchestrator.tick().get(timeout=10)
        assert not after.full and after.written == 0
    finally:
        ref.stop(timeout=5)


def drain_n3(tx: WriteTx) -> None:
    node = nodes.get(tx, "n3")
    assert node is not None
    tx.update(replace(node, spec=replace(node.spec, availability=NodeAvailability.DRAIN)))
