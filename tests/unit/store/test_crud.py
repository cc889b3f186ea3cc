from __future__ import annotations

import gc
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import pytest

from actors.store import (
    AlreadyExists,
    AmbiguousReference,
    ConflictError,
    MemoryStore,
    NameConflict,
    NoProposer,
    NotFound,
    NotLeader,
    WriteTx,
    clusters,
    nodes,
    services,
    tasks,
)
from actors.store.entry import Action, Entry, Op, encode_entry
from api.enums import NodeRole
from api.objects import ObjectKind, Service
from api.specs import ServiceSpec
from api.task_state import TaskState
from tests.unit.store.helpers import FakeClock, cluster, make_store, node, service, task


def test_create_sets_meta_from_index_and_clock() -> None:
    store = make_store()
    s = service()
    result = store.update(lambda tx: tx.create(s))
    assert result.version == 1 == store.version
    (stored,) = result.objects
    assert stored.meta.version == 1
    assert stored.meta.created_at == stored.meta.updated_at > 0
    assert store.view(lambda tx: services.get(tx, s.id)) == stored


def test_update_bumps_version_keeps_created_at() -> None:
    store = make_store()
    s = service()
    store.update(lambda tx: tx.create(s))

    def scale(tx: WriteTx) -> None:
        current = services.get(tx, s.id)
        assert current is not None
        tx.update(replace(current, spec=replace(current.spec, labels={"a": "b"})))

    result = store.update(scale)
    (stored,) = result.objects
    assert stored.meta.version == 2
    assert stored.meta.created_at < stored.meta.updated_at
    assert stored.spec.labels == {"a": "b"}


def test_stale_update_is_a_conflict() -> None:
    store = make_store()
    s = service()
    (stored,) = store.update(lambda tx: tx.create(s)).objects
    store.update(lambda tx: tx.update(replace(stored, pending_delete=True)))
    with pytest.raises(ConflictError) as info:
        store.update(lambda tx: tx.update(replace(stored, spec_version=9)))
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert "re-read and retry" in str(info.value)


def test_conflict_detected_at_apply_time() -> None:
    """Two writers read the same version; the second entry to commit loses on every
    manager, even though both passed the early check."""
    store = make_store()
    s = service()
    (stored,) = store.update(lambda tx: tx.create(s)).objects
    first = encode_entry(
        Entry(
            "p1",
            5.0,
            ((Op(Action.UPDATE, ObjectKind.SERVICE, s.id, 1, replace(stored, spec_version=1)),),),
        )
    )
    second = encode_entry(
        Entry(
            "p2",
            6.0,
            ((Op(Action.UPDATE, ObjectKind.SERVICE, s.id, 1, replace(stored, spec_version=2)),),),
        )
    )
    assert store.apply(2, first).groups_applied == 1
    assert store.apply(3, second).groups_rejected == 1
    assert store.view(lambda tx: services.get(tx, s.id)).spec_version == 1  # type: ignore[union-attr]
    assert store.version == 3


def test_create_existing_id_and_duplicate_name() -> None:
    store = make_store()
    s = service("web")
    store.update(lambda tx: tx.create(s))
    with pytest.raises(AlreadyExists):
        store.update(lambda tx: tx.create(s))
    with pytest.raises(NameConflict, match="'web'"):
        store.update(lambda tx: tx.create(service("WEB")))


def test_rename_onto_existing_name_is_refused() -> None:
    store = make_store()
    a, b = service("a"), service("b")
    store.update(lambda tx: (tx.create(a), tx.create(b)))
    b2 = store.view(lambda tx: services.get(tx, b.id))
    assert b2 is not None
    with pytest.raises(NameConflict):
        store.update(lambda tx: tx.update(replace(b2, spec=ServiceSpec(name="a"))))


def test_delete() -> None:
    store = make_store()
    s = service()
    (stored,) = store.update(lambda tx: tx.create(s)).objects
    store.update(lambda tx: tx.delete(stored))
    assert store.view(lambda tx: services.get(tx, s.id)) is None
    with pytest.raises(NotFound):
        store.update(lambda tx: tx.delete_id(ObjectKind.SERVICE, s.id))


def test_transaction_sees_its_own_writes() -> None:
    store = make_store()
    s = service()

    def fn(tx: WriteTx) -> int:
        tx.create(s)
        tx.create(task(s.id, 1))
        tx.create(task(s.id, 2))
        assert services.by_name(tx, "web") is not None
        return len(tasks.by_service(tx, s.id))

    assert store.update(fn).value == 2


def test_create_then_delete_in_one_transaction_writes_nothing() -> None:
    store = make_store()
    s = service()

    def fn(tx: WriteTx) -> None:
        tx.create(s)
        tx.delete_id(ObjectKind.SERVICE, s.id)

    assert store.update(fn).version == 0
    assert store.version == 0


def test_group_is_atomic() -> None:
    store = make_store()
    s = service("web")
    store.update(lambda tx: tx.create(s))
    t = task(s.id)
    # the second op of the group conflicts at apply time: the first must be undone
    entry = Entry(
        "p",
        1.0,
        (
            (
                Op(Action.CREATE, ObjectKind.TASK, t.id, None, t),
                Op(
                    Action.CREATE,
                    ObjectKind.SERVICE,
                    "other",
                    None,
                    replace(service("web"), id="other"),
                ),
            ),
        ),
    )
    result = store.apply(2, encode_entry(entry))
    assert result.groups_rejected == 1
    assert store.view(lambda tx: tasks.get(tx, t.id)) is None
    assert store.view(lambda tx: tasks.by_service(tx, s.id)) == []


def test_indices() -> None:
    store = make_store()
    s1, s2 = service("a"), service("b")
    n1, n2 = node("alpha"), node("beta")

    def fill(tx: WriteTx) -> None:
        for obj in (s1, s2, n1, n2):
            tx.create(obj)
        tx.create(task(s1.id, 1, n1.id))
        tx.create(task(s1.id, 2, n2.id))
        tx.create(replace(task(s2.id, 1, n1.id), desired_state=TaskState.SHUTDOWN))

    store.update(fill)
    with store.read() as tx:
        assert len(tasks.by_service(tx, s1.id)) == 2
        assert len(tasks.by_node(tx, n1.id)) == 2
        assert len(tasks.by_desired_state(tx, TaskState.RUNNING)) == 2
        assert [t.slot for t in tasks.by_slot(tx, s1.id, 2)] == [2]
        assert nodes.by_hostname(tx, "ALPHA") == [nodes.get(tx, n1.id)]
        assert len(nodes.by_role(tx, NodeRole.WORKER)) == 2
        assert services.by_name(tx, "b") == services.get(tx, s2.id)
        assert [t.id for t in tasks.list_all(tx)] == sorted(t.id for t in tasks.list_all(tx))

    # index entries follow updates
    def move(tx: WriteTx) -> None:
        for t in tasks.by_node(tx, n1.id):
            tx.update(replace(t, node_id=n2.id))

    store.update(move)
    with store.read() as tx:
        assert tasks.by_node(tx, n1.id) == []
        assert len(tasks.by_node(tx, n2.id)) == 3


def test_lookup_by_id_name_and_prefix() -> None:
    store = make_store()
    a = service("alpha", id="abc00000000000000000000000"[:25])
    b = service("beta", id="abd00000000000000000000000"[:25])
    store.update(lambda tx: (tx.create(a), tx.create(b)))
    with store.read() as tx:
        assert services.lookup(tx, a.id).id == a.id
        assert services.lookup(tx, "beta").id == b.id
        assert services.lookup(tx, "abc").id == a.id
        with pytest.raises(AmbiguousReference, match="ambiguous"):
            services.lookup(tx, "ab")
        with pytest.raises(NotFound):
            services.lookup(tx, "zzz")
        with pytest.raises(NotFound):
            services.lookup(tx, "")


def test_duplicate_hostnames_are_ambiguous() -> None:
    store = make_store()
    store.update(
        lambda tx: (tx.create(node("same", id="n" * 25)), tx.create(node("same", id="m" * 25)))
    )
    with store.read() as tx, pytest.raises(AmbiguousReference):
        nodes.lookup(tx, "same")


def test_cluster_default() -> None:
    store = make_store()
    c = cluster()
    store.update(lambda tx: tx.create(c))
    assert store.view(clusters.get_default) is not None
    with pytest.raises(NameConflict):
        store.update(lambda tx: tx.create(cluster()))


def test_transaction_unusable_after_view() -> None:
    store = make_store()
    tx = store.view(lambda tx: tx)
    with pytest.raises(Exception, match="used after"):
        services.list_all(tx)


def test_no_proposer_is_read_only() -> None:
    store = MemoryStore(clock=FakeClock())
    with pytest.raises(NoProposer):
        store.update(lambda tx: tx.create(service()))


class RefusingProposer:
    def propose(self, data: bytes) -> Future[Any]:
        f: Future[Any] = Future()
        f.set_exception(NotLeader(2))
        return f


def test_proposer_errors_reach_the_writer() -> None:
    store = MemoryStore(RefusingProposer(), clock=FakeClock())
    with pytest.raises(NotLeader, match="the leader is 2"):
        store.update(lambda tx: tx.create(service()))
    assert store._pending == {}


def test_verdict_arrives_even_if_proposer_future_completes_first() -> None:
    class DeferredProposer:
        def __init__(self) -> None:
            self.entries: list[bytes] = []

        def propose(self, data: bytes) -> Future[Any]:
            self.entries.append(data)
            f: Future[Any] = Future()
            f.set_result(None)  # "committed", not yet applied
            return f

    proposer = DeferredProposer()
    store = MemoryStore(proposer, clock=FakeClock())
    s = service()
    future = store.update_async(lambda tx: tx.create(s))
    assert not future.done()
    store.apply(7, proposer.entries[0])
    assert future.result(0).version == 7


def test_apply_ignores_old_empty_and_garbage_entries() -> None:
    store = make_store()
    store.update(lambda tx: tx.create(service()))
    assert store.apply(1, b"x").skipped == "already applied"
    assert store.apply(2, b"").skipped == "empty entry"
    assert "not" in store.apply(3, b"\xc1garbage").skipped
    assert store.version == 3
    stored: Service | None = store.view(lambda tx: services.by_name(tx, "web"))
    assert stored is not None


def test_a_rejected_group_leaves_no_garbage_cycle_behind() -> None:
    # its error's traceback held the applying frames, and through them the error itself:
    # each routine conflict kept the Raft batch it came in until a full collection
    store = make_store()
    s = service()
    store.update(lambda tx: tx.create(s))
    missing = replace(service("gone"), id="gone")
    entry = Entry("p", 1.0, ((Op(Action.UPDATE, ObjectKind.SERVICE, "gone", 1, missing),),))
    data = encode_entry(entry)
    gc.collect()
    gc.disable()
    try:
        result = store.apply(store.version + 1, data)
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert result.groups_rejected == 1
    assert unreachable == 0
