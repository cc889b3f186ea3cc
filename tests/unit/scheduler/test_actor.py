"""SchedulerActor with a real MemoryStore.local: batches, pending reasons, retries after a
node update, conflicts that lose nothing else, watch resets."""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from actors.scheduler import ASSIGNED_MESSAGE, SchedulerActor, TickReport
from actors.scheduler import actor as scheduler_actor
from actors.store import Batch, BatchResult, LocalProposer, MemoryStore, WriteTx, tasks
from actors.store.errors import NotLeader
from api.objects import Node, Task
from api.task_state import TaskState
from tests.support.clocks import ManualClock, ManualTimer  # never fired: the tests tick
from tests.support.waiting import wait_for
from tests.unit.scheduler.helpers import node, task


def make_store() -> MemoryStore:
    return MemoryStore.local(clock=time.time, rng=random.Random(5))


def create(store: MemoryStore, *objs: Node | Task) -> None:
    def fn(tx: WriteTx) -> None:
        for o in objs:
            tx.create(o)

    store.update(fn)


def all_tasks(store: MemoryStore) -> list[Task]:
    return store.view(tasks.list_all)


@pytest.fixture
def started() -> Iterator[Callable[..., pykka.ActorProxy[Any]]]:
    refs: list[pykka.ActorRef[Any]] = []

    def start(store: MemoryStore, **kwargs: Any) -> pykka.ActorProxy[Any]:
        kwargs.setdefault("rng", random.Random(1))
        ref = SchedulerActor.start(None, store, **kwargs)
        refs.append(ref)
        return ref.proxy()

    yield start
    for ref in refs:
        ref.stop(block=True, timeout=5)


def test_assigns_pending_tasks_spread_over_nodes(started: Any) -> None:
    store = make_store()
    create(store, node("a"), node("b"), node("c"))
    started(store, tick_interval=0.01)
    create(store, *[task("web", slot=i) for i in range(1, 10)])

    def done() -> list[Task]:
        ts = all_tasks(store)
        return ts if all(t.status.state == TaskState.ASSIGNED for t in ts) else []

    ts = wait_for(done)
    assert Counter(t.node_id for t in ts) == {"a": 3, "b": 3, "c": 3}
    assert {t.status.message for t in ts} == {ASSIGNED_MESSAGE}


def test_one_tick_assigns_a_whole_batch(started: Any) -> None:
    store = make_store()
    create(store, *[node(f"n{i}") for i in range(10)])
    create(store, *[task("web", slot=i) for i in range(1, 101)])
    proxy = started(store, timer=ManualTimer())
    report: TickReport = proxy.tick().get(timeout=10)
    assert report.assigned == 100 and report.pending == 0
    assert Counter(t.node_id for t in all_tasks(store)) == {f"n{i}": 10 for i in range(10)}
    assert proxy.tick().get(timeout=10).assigned == 0  # the echoes make no new work


def test_unsatisfiable_constraint_waits_with_reason_until_a_label_satisfies_it(
    started: Any,
) -> None:
    store = make_store()
    create(store, node("a"), node("b"))
    started(store, tick_interval=0.01)
    create(store, *[task("db", slot=i, constraints=("node.labels.zone==a",)) for i in (1, 2)])
    reason = "no suitable node (constraint node.labels.zone==a not satisfied on 2 nodes)"
    wait_for(lambda: all(t.status.message == reason for t in all_tasks(store)))
    assert all(t.status.state == TaskState.PENDING and not t.node_id for t in all_tasks(store))

    def label(tx: WriteTx) -> None:
        n = tx.get_as(Node, "b")
        assert n is not None
        tx.update(dataclasses.replace(n, spec=dataclasses.replace(n.spec, labels={"zone": "a"})))

    store.update(label)
    wait_for(lambda: all(t.status.state == TaskState.ASSIGNED for t in all_tasks(store)))
    assert {t.node_id for t in all_tasks(store)} == {"b"}


def test_message_is_written_only_when_it_changes(started: Any) -> None:
    store = make_store()
    create(store, node("a"))
    proxy = started(store, timer=ManualTimer())
    create(store, task("db", constraints=("node.labels.zone==a",)))
    assert proxy.tick().get(timeout=10).messages_written == 1
    version = store.version
    create(store, node("b"))  # a change, but the verdict's text changes too
    assert proxy.tick().get(timeout=10).messages_written == 1
    create(store, node("c", labels={"zone": "b"}))
    assert proxy.tick().get(timeout=10).messages_written == 1
    assert store.version > version

    def touch(tx: WriteTx) -> None:  # a node update that does not change the verdict
        n = tx.get_as(Node, "c")
        assert n is not None
        tx.update(dataclasses.replace(n, spec=dataclasses.replace(n.spec, name="renamed")))

    store.update(touch)
    version = store.version
    report = proxy.tick().get(timeout=10)
    assert report.messages_written == 0 and report.pending == 1
    assert store.version == version


class ConflictingStore(MemoryStore):
    """Bumps one task's version just before the scheduler's batch, once."""

    victim: str = ""

    def batch(self, fn: Callable[[Batch], None], *, timeout: float | None = None) -> BatchResult:
        if self.victim:
            victim, self.victim = self.victim, ""

            def bump(tx: WriteTx) -> None:
                t = tasks.get(tx, victim)
                assert t is not None
                tx.update(dataclasses.replace(t, labels={"touched": "yes"}))

            self.update(bump)
        return super().batch(fn, timeout=timeout)


def test_a_conflict_on_one_task_does_not_lose_the_others(started: Any) -> None:
    store = ConflictingStore.local(clock=time.time, rng=random.Random(5))
    assert isinstance(store, ConflictingStore)
    create(store, node("a"), node("b"))
    ts = [task("web", slot=i) for i in range(1, 5)]
    create(store, *ts)
    store.victim = ts[0].id
    timer = ManualTimer()
    proxy = started(store, timer=timer)
    first: TickReport = proxy.tick().get(timeout=10)
    assert first.assigned == 3 and first.failed_writes == 1
    second: TickReport = proxy.tick().get(timeout=10)
    assert second.assigned == 1
    stored = {t.id: t for t in all_tasks(store)}
    assert stored[ts[0].id].labels == {"touched": "yes"}
    assert all(t.status.state == TaskState.ASSIGNED for t in stored.values())
    assert Counter(t.node_id for t in stored.values()) == {"a": 2, "b": 2}


class LateErrorStore(MemoryStore):
    """Its batch's second update raises after its write joined the batch, as an earlier
    proposal's failure can surface there (actors/store/batch.py); the write itself stands."""

    def batch(self, fn: Callable[[Batch], None], *, timeout: float | None = None) -> BatchResult:
        def wrapped(batch: Batch) -> None:
            real, calls = batch.update, [0]

            def update(cb: Callable[[WriteTx], Any]) -> Any:
                value = real(cb)
                calls[0] += 1
                if calls[0] == 2:
                    raise NotLeader("an earlier proposal failed")
                return value

            batch.update = update  # type: ignore[method-assign]
            fn(batch)

        return super().batch(wrapped, timeout=timeout)


def test_a_write_in_the_batch_is_counted_even_when_its_update_raised_late(
    started: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler_actor, "WRITES_TOGETHER", 2)  # two groups: the second raises
    store = LateErrorStore.local(clock=time.time, rng=random.Random(5))
    create(store, node("a"), node("b"))
    create(store, *[task("web", slot=i) for i in range(1, 5)])
    first: TickReport = started(store, timer=ManualTimer()).tick().get(timeout=10)
    assert (first.assigned, first.failed_writes) == (4, 0)
    assert all(t.status.state == TaskState.ASSIGNED for t in all_tasks(store))


def test_watch_reset_rereads_the_store(started: Any) -> None:
    store = make_store()
    create(store, node("a"))
    proxy = started(store, timer=ManualTimer())
    assert proxy.tick().get(timeout=10).assigned == 0

    other = make_store()
    create(other, node("a"))
    create(other, task("web", id="t" * 25))
    store.restore(other.snapshot())  # as when Raft installs a snapshot
    store.attach_proposer(LocalProposer(store.apply, start_index=store.version))
    report: TickReport = proxy.tick().get(timeout=10)
    assert report.resynced and report.assigned == 1
    [t] = all_tasks(store)
    assert t.node_id == "a" and t.status.state == TaskState.ASSIGNED


def test_terminal_task_frees_resources_for_a_waiting_one(started: Any) -> None:
    from tests.unit.scheduler.helpers import GB

    store = make_store()
    create(store, node("a", memory=2 * GB))
    running = task("big", id="r" * 25, node_id="a", state=TaskState.RUNNING, memory=2 * GB)
    create(store, running)
    started(store, tick_interval=0.01)
    create(store, task("small", id="w" * 25, memory=GB))
    wait_for(lambda: "insufficient memory" in all_tasks(store)[1].status.message)

    def finish(tx: WriteTx) -> None:
        t = tasks.get(tx, "r" * 25)
        assert t is not None
        tx.update(
            dataclasses.replace(t, status=dataclasses.replace(t.status, state=TaskState.COMPLETE))
        )

    store.update(finish)
    wait_for(lambda: all_tasks(store)[1].status.state == TaskState.ASSIGNED)


def test_runs_under_a_supervisor() -> None:
    from actors.supervisor import ChildSpec, Supervisor, start_actor

    store = make_store()
    create(store, node("a"))
    spec = ChildSpec("scheduler", start_actor(SchedulerActor, store, tick_interval=0.01))
    sup = Supervisor.start(None, [spec], name="leader", watch_interval=None)
    try:
        create(store, task("web"))
        wait_for(lambda: all_tasks(store)[0].status.state == TaskState.ASSIGNED)
    finally:
        sup.stop(block=True, timeout=5)


def test_a_tick_with_nothing_waiting_does_not_hold_back_the_next(started: Any) -> None:
    """A service created before its tasks ticks the scheduler at once for nothing: its
    tasks, a moment later, are not held back for a window by that tick."""
    store = make_store()
    create(store, node("a"))
    clock = ManualClock()
    timer = ManualTimer(clock)
    proxy = started(store, timer=timer, clock=clock, tick_interval=0.05)
    create(store, node("b"))  # a change that makes no work (as a new service, say)
    assert timer.delays[-1] == 0.0
    assert proxy.tick().get(timeout=10).assigned == 0
    armed = len(timer.delays)
    create(store, task("web", slot=1))
    assert timer.delays[armed:] == [0.0]
    assert proxy.tick().get(timeout=10).assigned == 1


def test_an_assignment_keeps_every_other_field_of_the_tasks_status() -> None:
    # the writer builds the ASSIGNED status field by field (not dataclasses.replace): a
    # field added to TaskStatus must be added there too, which this list makes noticed
    from actors.scheduler.actor import _writer
    from actors.scheduler.scheduler import Assignment
    from api.objects import ContainerStatus, Meta, TaskStatus
    from api.specs import PortConfig

    fields = [f.name for f in dataclasses.fields(TaskStatus)]
    assert fields == [
        "timestamp", "state", "message", "err", "container_status", "port_status", "started_at"
    ]  # fmt: skip
    old = TaskStatus(
        1.0, TaskState.PENDING, "m", "e", ContainerStatus("c", 2, 3), (PortConfig(),), 4.0
    )
    t = dataclasses.replace(task("t1"), meta=Meta(5, 1.0, 1.0), status=old)
    written: list[Task] = []

    class Tx:
        def update(self, obj: Task, handed_over: bool = False) -> None:
            written.append(obj)

    _writer(Assignment(t, "n1"), 9.0)(Tx())  # type: ignore[arg-type]
    (new,) = written
    assert new.node_id == "n1" and new.meta == t.meta
    assert new.status == dataclasses.replace(
        old, timestamp=9.0, state=TaskState.ASSIGNED, message=ASSIGNED_MESSAGE
    )
