from __future__ import annotations

import random
from dataclasses import replace

import pytest

from actors.store import Action, MemoryStore, StoreError, WatchClosed, WriteTx, services, tasks
from actors.store.entry import Entry, Op, encode_entry
from api.objects import ObjectKind
from tests.unit.store.helpers import FakeClock, cluster, make_store, node, service, task


def _fill(store: MemoryStore) -> None:
    s = service()
    store.update(lambda tx: (tx.create(s), tx.create(cluster()), tx.create(node("h1"))))
    for slot in range(1, 4):
        store.update(lambda tx, slot=slot: tx.create(task(s.id, slot)))

    def bump(tx: WriteTx) -> None:
        for t in tasks.by_service(tx, s.id):
            tx.update(replace(t, node_id="n"))

    store.update(bump)


def test_snapshot_restore_round_trip() -> None:
    a = make_store()
    _fill(a)
    blob = a.snapshot()
    b = MemoryStore(clock=FakeClock())
    b.restore(blob)
    assert b.version == a.version
    assert b.snapshot() == blob
    with a.read() as ta, b.read() as tb:
        for kind in ObjectKind:
            assert ta.list_objects(kind) == tb.list_objects(kind)
        assert services.lookup(tb, "web").spec.name == "web"


def test_restore_closes_watchers_with_reset_and_skips_old_entries() -> None:
    a = make_store()
    _fill(a)
    b = make_store()
    w = b.watch()
    b.restore(a.snapshot())
    with pytest.raises(WatchClosed) as info:
        w.poll()
    assert info.value.reset
    assert b.apply(1, b"whatever").skipped == "already applied"
    # watching resumes from the snapshot's version
    assert b.watch(since=b.version).poll() == []


def test_bad_snapshot() -> None:
    with pytest.raises(StoreError, match="not a store snapshot"):
        make_store().restore(b"\x80")


def test_apply_is_deterministic() -> None:
    """Two stores fed the same committed entries end identical, whatever their clocks."""
    rng = random.Random(42)
    entries: list[bytes] = []
    ids = [f"t{i:024d}" for i in range(20)]
    versions: dict[str, int] = {}
    for index in range(1, 200):
        tid = rng.choice(ids)
        action = rng.choice(list(Action))
        # expected versions are sometimes wrong on purpose
        expected = versions.get(tid, 0) if rng.random() < 0.7 else rng.randint(0, index)
        obj = None if action is Action.DELETE else task("s", rng.randint(1, 3), id=tid)
        op = Op(action, ObjectKind.TASK, tid, None if action is Action.CREATE else expected, obj)
        entries.append(encode_entry(Entry(f"p{index}", float(index), ((op,),))))
        versions[tid] = index  # a guess; conflicts are fine
    stores = [MemoryStore(clock=FakeClock(float(k))) for k in range(2)]
    for store in stores:
        for index, data in enumerate(entries, start=1):
            store.apply(index, data)
    assert stores[0].snapshot() == stores[1].snapshot()
    assert stores[0].view(lambda tx: tasks.list_all(tx)) != []
