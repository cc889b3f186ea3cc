from __future__ import annotations

import functools
import gc
import threading
from dataclasses import replace

from actors.store import (
    AlreadyExists,
    Batch,
    ConflictError,
    MemoryStore,
    StoreError,
    TooLarge,
    WriteTx,
    tasks,
)
from actors.store.budget import Budgets
from api.objects import Service, Task
from tests.unit.store.helpers import make_store, service, task


def test_batch_splits_into_proposals_and_reports_each_outcome() -> None:
    store = make_store(max_ops_per_proposal=10)
    s = service()
    store.update(lambda tx: tx.create(s))

    def fn(batch: Batch) -> None:
        for slot in range(1, 26):
            batch.update(lambda tx, slot=slot: tx.create(task(s.id, slot)))

    result = store.batch(fn)
    assert result.proposals == 3
    assert result.applied == 25
    assert store.view(lambda tx: len(tasks.by_service(tx, s.id))) == 25
    assert store.version == 4


def test_sub_transactions_see_earlier_ones_and_chain_versions() -> None:
    store = make_store()
    s = service()
    store.update(lambda tx: tx.create(s))
    t = task(s.id)

    def fn(batch: Batch) -> None:
        batch.update(lambda tx: tx.create(t))

        def assign(tx: WriteTx) -> None:
            current = tasks.get(tx, t.id)
            assert current is not None
            tx.update(replace(current, node_id="n1"))

        batch.update(assign)

    result = store.batch(fn)
    assert result.outcomes == (None, None)
    stored = store.view(lambda tx: tasks.get(tx, t.id))
    assert stored is not None and stored.node_id == "n1"


def test_one_conflicting_sub_transaction_does_not_sink_the_others() -> None:
    store = make_store()
    s = service()
    created = store.update(lambda tx: [tx.create(task(s.id, i)) for i in (1, 2)])
    objs: list[Task] = [o for o in created.objects if isinstance(o, Task)]
    stale = objs[0]
    # someone else moves task 0 on
    store.update(lambda tx: tx.update(replace(stale, node_id="other")))

    # a batch built from a stale read: forge the op as if its early check had passed
    from actors.store.entry import Action, Entry, Op, encode_entry
    from api.objects import ObjectKind

    groups = (
        (
            Op(
                Action.UPDATE,
                ObjectKind.TASK,
                stale.id,
                stale.meta.version,
                replace(stale, node_id="x"),
            ),
        ),
        (
            Op(
                Action.UPDATE,
                ObjectKind.TASK,
                objs[1].id,
                objs[1].meta.version,
                replace(objs[1], node_id="x"),
            ),
        ),
    )
    result = store.apply(store.version + 1, encode_entry(Entry("p", 1.0, groups)))
    assert (result.groups_applied, result.groups_rejected) == (1, 1)
    with store.read() as tx:
        assert tasks.get(tx, stale.id).node_id == "other"  # type: ignore[union-attr]
        assert tasks.get(tx, objs[1].id).node_id == "x"  # type: ignore[union-attr]


def test_stale_object_in_batch_raises_early() -> None:
    store = make_store()
    t = task("s1")
    (stored,) = store.update(lambda tx: tx.create(t)).objects
    store.update(lambda tx: tx.update(replace(stored, node_id="a")))
    raised: list[Exception] = []

    def fn(batch: Batch) -> None:
        try:
            batch.update(lambda tx: tx.update(replace(stored, node_id="b")))
        except ConflictError as exc:
            raised.append(exc)

    assert store.batch(fn).outcomes == ()
    assert len(raised) == 1


def test_readers_never_see_half_a_batch() -> None:
    store = make_store()
    s = service()
    store.update(lambda tx: tx.create(s))
    stop = threading.Event()
    seen: set[int] = set()

    def reader() -> None:
        while not stop.is_set():
            seen.add(store.view(lambda tx: len(tasks.by_service(tx, s.id))))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(50):

            def add_ten(tx: WriteTx) -> None:
                start = len(tasks.by_service(tx, s.id))
                for slot in range(start + 1, start + 11):
                    tx.create(task(s.id, slot))

            store.update(add_ten)
    finally:
        stop.set()
        t.join()
    assert all(n % 10 == 0 for n in seen)
    assert store.view(lambda tx: len(tasks.by_service(tx, s.id))) == 500


def test_update_together_is_one_write_and_a_refusal_stays_its_own() -> None:
    store, s, existing, fresh = a_task_and_three_fresh()
    fns = [
        lambda tx: tx.create(fresh[0]),
        lambda tx: tx.create(existing),  # AlreadyExists, before it writes
        lambda tx: None,  # writes nothing
        lambda tx: tx.create(fresh[1]),
        lambda tx: tx.create(fresh[2]),
    ]
    results: list[int | StoreError | None] = []

    def fn(batch: Batch) -> None:
        results.extend(batch.update_together(fns))

    outcome = store.batch(fn)
    assert outcome.outcomes == (None,)  # one sub-transaction
    assert results[0] == results[3] == results[4] == 0
    assert isinstance(results[1], AlreadyExists) and results[2] is None
    assert store.view(lambda tx: len(tasks.by_service(tx, s.id))) == 4


def test_update_together_over_the_write_budget_writes_each_alone() -> None:
    store = make_store(budgets=Budgets(object=4096, write=4096, entry=1 << 20))
    s = service()
    store.update(lambda tx: tx.create(s))
    fresh = [task(s.id, slot) for slot in range(1, 41)]
    results: list[int | StoreError | None] = []

    def fn(batch: Batch) -> None:
        results.extend(batch.update_together([functools.partial(create, t) for t in fresh]))

    outcome = store.batch(fn)
    assert isinstance(outcome.outcomes[0], TooLarge)  # the group's refusal, then each alone
    assert results == list(range(1, 41))
    assert all(outcome.outcomes[i] is None for i in results)
    assert store.view(lambda tx: len(tasks.by_service(tx, s.id))) == 40


def test_update_groups_sorts_each_item_by_what_its_writer_did() -> None:
    store, s, existing, fresh = a_task_and_three_fresh()
    items = ["a", "taken", "nothing", "b", "c"]
    writers = {
        "a": functools.partial(create, fresh[0]),
        "taken": functools.partial(create, existing),  # AlreadyExists, before it writes
        "nothing": lambda tx: None,
        "b": functools.partial(create, fresh[1]),
        "c": functools.partial(create, fresh[2]),
    }
    sorted_out: list[tuple[list[tuple[str, int]], list[str], list[str]]] = []

    def fn(batch: Batch) -> None:
        groups = [items[:3], items[3:]]
        sorted_out.append(batch.update_groups(groups, writers.__getitem__))

    outcome = store.batch(fn)
    written, refused, unwritten = sorted_out[0]
    assert outcome.outcomes == (None, None)  # a sub-transaction per group
    assert written == [("a", 0), ("b", 1), ("c", 1)]
    assert refused == ["taken"] and unwritten == ["nothing"]
    assert store.view(lambda tx: len(tasks.by_service(tx, s.id))) == 4


def a_task_and_three_fresh() -> tuple[MemoryStore, Service, Task, list[Task]]:
    """A store holding a service and one of its tasks, and three tasks not stored yet."""
    store = make_store()
    s = service()
    store.update(lambda tx: tx.create(s))
    existing = task(s.id, 9)
    store.update(lambda tx: tx.create(existing))
    return store, s, existing, [task(s.id, slot) for slot in (1, 2, 3)]


def create(obj: Task, tx: WriteTx) -> None:
    tx.create(obj)


def test_a_refused_write_of_update_together_leaves_no_garbage_cycle_behind() -> None:
    # its error's traceback held the frame holding the results, and so the error: the
    # batch stayed until a full collection, which the node's thresholds make rare
    store, _s, existing, fresh = a_task_and_three_fresh()
    results: list[int | StoreError | None] = []

    def fn(batch: Batch) -> None:
        results.extend(
            batch.update_together([lambda tx: tx.create(existing), lambda tx: tx.create(fresh[0])])
        )

    gc.collect()
    gc.disable()
    try:
        store.batch(fn)
        results.clear()
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert unreachable == 0
