"""A follower that holds its task writes (backlog.py) reaches the verdicts and the content
of one that stores each write as it comes, for any order of writes and reads."""

from __future__ import annotations

import random
from dataclasses import replace

import msgpack
import pytest

from actors.store import MemoryStore, WatchHistoryTooOld, tasks
from actors.store.backlog import held_entry
from actors.store.entry import CHAINED, Action, Op, assemble_entry, encode_op
from actors.store.task_rows import TASK_ROWS, SpecTable
from api.objects import ObjectKind, Service, Task, TaskStatus
from api.specs import ContainerSpec, TaskSpec
from api.task_state import TaskState
from tests.unit.store.helpers import FakeClock, node, service, task

IDS = [f"t{i:024d}" for i in range(8)]
SPECS = [TaskSpec(container=ContainerSpec(image=image)) for image in ("busybox", "alpine")]
STATES = [TaskState.NEW, TaskState.ASSIGNED, TaskState.RUNNING, TaskState.FAILED]


def _store(held_task_writes: int) -> MemoryStore:
    return MemoryStore(clock=FakeClock(), rng=random.Random(1), held_task_writes=held_task_writes)


def _version_of(rng: random.Random, current: Task | None, chained: bool) -> int | None:
    right = current.meta.version if current is not None else None
    roll = rng.random()
    if chained and roll < 0.3:
        return CHAINED
    if roll < 0.75:
        return right
    if roll < 0.9:
        return (right or 1) - 1  # stale, or no such version
    return None  # unchecked


def _a_version(rng: random.Random, t: Task, service_id: str) -> Task:
    status = TaskStatus(
        timestamp=float(rng.randint(1, 99)),
        state=rng.choice(STATES),
        message=rng.choice(["", "started", "pulling"]),
    )
    return replace(
        t,
        service_id=service_id,
        node_id=rng.choice(["", "n1", "n2"]),
        desired_state=rng.choice([TaskState.RUNNING, TaskState.SHUTDOWN]),
        status=status,
        spec=rng.choice(SPECS),
        slot=rng.randint(1, 3),
        labels=rng.choice([{}, {"a": "1"}]),
    )


def _random_entry(rng: random.Random, truth: MemoryStore, index: int, service_id: str) -> bytes:
    specs = SpecTable()
    groups: list[list[bytes]] = []
    written: set[str] = set()
    for _ in range(rng.randint(1, 4)):
        group: list[bytes] = []
        for _ in range(rng.randint(1, 3)):
            id_ = rng.choice(IDS)
            current = truth.view(lambda tx, i=id_: tasks.get(tx, i))
            expected = _version_of(rng, current, id_ in written)
            base = current or task(service_id, id=id_)
            roll = rng.random()
            if roll < 0.3:
                op = Op(
                    Action.CREATE, ObjectKind.TASK, id_, None, _a_version(rng, base, service_id)
                )
                group.append(encode_op(op, specs))
            elif roll < 0.5:
                new = _a_version(rng, base, service_id)
                op = Op(Action.UPDATE, ObjectKind.TASK, id_, expected, new)
                group.append(encode_op(op, specs, patch=False))
            elif roll < 0.9:
                new = _a_version(rng, base, service_id)
                checked = expected if expected is not None else 0  # a patch names its base
                op = Op(Action.UPDATE, ObjectKind.TASK, id_, checked, new, base=base)
                group.append(encode_op(op, specs, patch=True))
            else:
                group.append(encode_op(Op(Action.DELETE, ObjectKind.TASK, id_, expected), specs))
            written.add(id_)
        groups.append(group)
    if rng.random() < 0.05:  # an entry another kind shares: stored the usual way
        other = Op(Action.CREATE, ObjectKind.SERVICE, f"s{index:024d}", None)
        other = replace(other, obj=service(f"web{index}", id=other.id))
        groups.append([encode_op(other, specs)])
    return assemble_entry(f"p{index:024d}", 1_000.0 + index, groups, specs.packed, rows=True)


@pytest.mark.parametrize("seed", range(40))
def test_held_writes_reach_the_verdicts_and_content_of_writes_stored_at_once(seed: int) -> None:
    rng = random.Random(seed)
    eager, held, small = _store(0), _store(1_000_000), _store(5)
    first = service("web", id="s" + "0" * 24)
    data = assemble_entry(
        "p" * 25,
        1_000.0,
        [[encode_op(Op(Action.CREATE, ObjectKind.SERVICE, first.id, None, first), SpecTable())]],
    )
    for store in (eager, held, small):
        store.apply(1, data)
    for index in range(2, 120):
        data = _random_entry(rng, eager, index, first.id)
        outcomes = {
            (r.groups_applied, r.groups_rejected, r.skipped)
            for r in (store.apply(index, data) for store in (eager, held, small))
        }
        assert len(outcomes) == 1, f"seed {seed}, entry {index}: {outcomes}"
        backlog = small._backlog  # past its bound, the oldest held are stored
        assert backlog.writes <= 5
        assert backlog.writes == sum(t.writes for t in backlog.tasks.values())
        roll = rng.random()
        if roll < 0.1:  # a read of the tasks stores what is held
            assert held.view(tasks.list_all) == eager.view(tasks.list_all), f"seed {seed}"
        elif roll < 0.2:
            assert held.snapshot() == eager.snapshot(), f"seed {seed}, entry {index}"
        elif roll < 0.3:  # a read of the others does not
            assert held.view(lambda tx: tx.count(ObjectKind.SERVICE)) >= 1
    for store in (held, small):
        assert store.snapshot() == eager.snapshot(), f"seed {seed}"
        assert store.version == eager.version


def _create_entry(index: int, *objects: Task | Service) -> bytes:
    specs = SpecTable()
    ops = [
        encode_op(
            Op(
                Action.CREATE,
                ObjectKind.TASK if type(o) is Task else ObjectKind.SERVICE,
                o.id,
                None,
                o,
            ),
            specs,
        )
        for o in objects
    ]
    return assemble_entry(f"p{index:024d}", 1_000.0 + index, [ops], specs.packed, rows=True)


def test_held_writes_leave_no_history_to_resume_from_and_other_watchers_see_theirs() -> None:
    store = _store(1_000)
    s = service()
    services_seen = store.watch(kinds={ObjectKind.SERVICE})
    store.apply(1, _create_entry(1, s))
    store.apply(2, _create_entry(2, task(s.id, id=IDS[0])))
    assert store._backlog.writes == 1  # a service watcher does not keep the task held
    held = store._backlog.tasks[IDS[0]]
    assert held.row is not None and held.entry is not None
    assert held.entry.groups == []  # a held task keeps its row, not its entry's other ops
    store.apply(3, _create_entry(3, task(s.id, id=IDS[1])))
    assert [e.object.id for e in services_seen.poll()] == [s.id]
    with pytest.raises(WatchHistoryTooOld):
        store.watch(since=1)  # the tasks of entries 2 and 3 left no events
    assert store.watch(since=3).poll() == []
    assert {t.id for t in store.view(tasks.list_all)} == {IDS[0], IDS[1]}


def test_a_task_watcher_gets_every_write_as_it_comes() -> None:
    store = _store(1_000)
    s = service()
    store.apply(1, _create_entry(1, s))
    watcher = store.watch(kinds={ObjectKind.TASK})
    store.apply(2, _create_entry(2, task(s.id, id=IDS[0])))
    assert store._backlog.writes == 0
    assert [(e.action, e.version) for e in watcher.poll()] == [(Action.CREATE, 2)]


def test_only_entries_of_task_writes_in_this_readers_layout_are_held() -> None:
    s = service()
    t = task(s.id, id=IDS[0])
    assert held_entry(_create_entry(2, t)) is not None
    assert held_entry(_create_entry(2, s)) is None
    assert held_entry(_create_entry(2, t, s)) is None
    assert held_entry(b"\xc1") is None
    specs = SpecTable()
    row = TASK_ROWS.encode(t, specs.ref(t.spec))
    for bad in (
        ["create", "task", IDS[1], None, row],  # the row is another task's
        ["create", "task", IDS[0], None, row[:-1]],  # a field short
        ["patch", "task", IDS[0], None, {"status": None}],  # a patch names its version
        ["patch", "task", IDS[0], 3, {"meta": None}],  # not a field a patch may change
        ["move", "task", IDS[0], 3, None],
    ):
        data = assemble_entry("p" * 25, 1.0, [[msgpack.packb(bad)]], specs.packed, rows=True)
        assert held_entry(data) is None, bad


def test_a_held_row_that_does_not_decode_leaves_the_task_as_it_was_and_stores_the_rest() -> None:
    store = _store(1_000)
    s = service()
    store.apply(1, _create_entry(1, s))
    specs = SpecTable()
    good = task(s.id, id=IDS[0])
    bad_row = TASK_ROWS.encode(task(s.id, id=IDS[1]), specs.ref(good.spec))
    bad_row[TASK_ROWS.layout["Task"].index("slot")] = "not a number"
    ops = [
        encode_op(Op(Action.CREATE, ObjectKind.TASK, good.id, None, good), specs),
        msgpack.packb(["create", "task", IDS[1], None, bad_row]),
    ]
    store.apply(2, assemble_entry("p" * 25, 2.0, [ops], specs.packed, rows=True))
    assert [t.id for t in store.view(tasks.list_all)] == [IDS[0]]
    assert store.version == 2


def test_the_bytes_held_are_bounded_and_refused_writes_hold_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("actors.store.backlog.HELD_BYTES", 2_000)
    store = _store(1_000)
    s = service()
    store.apply(1, _create_entry(1, s))
    store.apply(2, _create_entry(2, task(s.id, id=IDS[0])))
    held = store._backlog.bytes
    assert 0 < held < 2_000
    for index in range(3, 10):  # each create refused: the task exists
        store.apply(index, _create_entry(index, task(s.id, id=IDS[0])))
        assert store._backlog.bytes == held
    for index in range(10, 40):  # new tasks: the first held are stored as others come
        store.apply(index, _create_entry(index, task(s.id, id=f"t{index:024d}")))
        assert store._backlog.bytes <= 2_000
    stored_first = store._tasks.objects
    assert IDS[0] in stored_first and "t000000000000000000000039" not in stored_first
    assert len(store.view(tasks.list_all)) == 31


def test_a_read_of_other_kinds_leaves_the_task_writes_held() -> None:
    store = _store(1_000)
    s = service()
    store.apply(1, _create_entry(1, s))
    store.apply(2, _create_entry(2, task(s.id, id=IDS[0])))
    assert store.view(lambda tx: [o.id for o in tx.list_objects(ObjectKind.SERVICE)]) == [s.id]
    assert store.view(lambda tx: tx.version) == 2
    assert store._backlog.writes == 1  # the Raft loop reads the cluster after every entry
    assert store.view(lambda tx: tasks.get(tx, IDS[0])) is not None
    assert store._backlog.writes == 0


def test_a_batch_reads_the_held_task_writes() -> None:
    store = _store(1_000)
    s = service()
    store.apply(1, _create_entry(1, s))
    store.apply(2, _create_entry(2, task(s.id, id=IDS[0])))
    found: list[Task | None] = []
    store.batch(lambda b: b.update(lambda tx: found.append(tasks.get(tx, IDS[0]))))
    assert found and found[0] is not None and found[0].meta.version == 2


def test_other_kinds_entries_and_snapshots_leave_the_tasks_held() -> None:
    store, eager = _store(1_000), _store(0)
    s = service()
    n = node("box")
    entries = [_create_entry(1, s), _create_entry(2, task(s.id, id=IDS[0]))]
    specs = SpecTable()
    node_op = encode_op(Op(Action.CREATE, ObjectKind.NODE, n.id, None, n), specs)
    entries.append(assemble_entry("p" * 25, 3.0, [[node_op]]))
    for index, data in enumerate(entries, start=1):
        store.apply(index, data)
        eager.apply(index, data)
    assert store._backlog.writes == 1  # a node's entry did not store the task
    assert store.snapshot() == eager.snapshot()  # built into the snapshot's copy alone
    assert store._backlog.writes == 1
    with pytest.raises(WatchHistoryTooOld):
        store.watch(since=1)  # the task's entry left no event
    assert [e.object.id for e in store.watch(since=2).poll()] == [n.id]
