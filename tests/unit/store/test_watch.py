from __future__ import annotations

from dataclasses import replace

import pytest

from actors.store import Action, AlreadyExists, WatchClosed, WatchHistoryTooOld, services
from actors.store.tx import ReadTx
from api.objects import ObjectKind, Service
from tests.unit.store.helpers import make_store, node, service, task


def test_events_after_commit_with_old_object() -> None:
    store = make_store()
    w = store.watch()
    s = service()
    (stored,) = store.update(lambda tx: tx.create(s)).objects
    store.update(lambda tx: tx.update(replace(stored, spec_version=1)))
    store.update(lambda tx: tx.delete_id(ObjectKind.SERVICE, s.id))
    events = w.poll()
    assert [(e.action, e.version) for e in events] == [
        (Action.CREATE, 1),
        (Action.UPDATE, 2),
        (Action.DELETE, 3),
    ]
    assert events[0].old is None
    assert events[1].old == stored
    assert isinstance(events[1].object, Service) and events[1].object.spec_version == 1


def test_filters() -> None:
    store = make_store()
    by_kind = store.watch(kinds={ObjectKind.TASK})
    by_action = store.watch(actions={Action.DELETE})
    by_pred = store.watch(
        predicate=lambda e: e.kind is ObjectKind.NODE and e.object.id.startswith("n")
    )
    s = service()
    store.update(
        lambda tx: (tx.create(s), tx.create(task(s.id)), tx.create(node("h", id="n" * 25)))
    )
    store.update(lambda tx: tx.delete_id(ObjectKind.SERVICE, s.id))
    assert [e.kind for e in by_kind.poll()] == [ObjectKind.TASK]
    assert [e.object.id for e in by_action.poll()] == [s.id]
    assert [e.object.id for e in by_pred.poll()] == ["n" * 25]


def test_rejected_writes_emit_nothing() -> None:
    store = make_store()
    s = service()
    store.update(lambda tx: tx.create(s))
    w = store.watch()
    with pytest.raises(AlreadyExists):
        store.update(lambda tx: tx.create(s))
    assert w.poll() == []


def test_resume_from_version() -> None:
    store = make_store()
    for i in range(5):
        store.update(lambda tx, i=i: tx.create(service(f"s{i}")))
    w = store.watch(since=2)
    assert [e.version for e in w.poll()] == [3, 4, 5]
    store.update(lambda tx: tx.create(service("s9")))
    assert [e.version for e in w.poll()] == [6]


def test_resume_older_than_history_is_refused() -> None:
    store = make_store(history_size=3)
    for i in range(6):
        store.update(lambda tx, i=i: tx.create(service(f"s{i}")))
    with pytest.raises(WatchHistoryTooOld, match="re-read the store"):
        store.watch(since=1)
    assert [e.version for e in store.watch(since=3).poll()] == [4, 5, 6]


def test_history_dropping_part_of_an_entry_refuses_resuming_before_it() -> None:
    store = make_store(history_size=4)
    for entry in range(3):  # three entries of three events each: the ring drops five

        def fill(b: object, entry: int = entry) -> None:
            for i in range(3):
                b.update(lambda tx, i=i: tx.create(service(f"s{entry}-{i}")))  # type: ignore[attr-defined]

        store.batch(fill)  # type: ignore[arg-type]
    with pytest.raises(WatchHistoryTooOld):
        store.watch(since=1)  # the second entry's first two events are gone
    assert [e.version for e in store.watch(since=2).poll()] == [3, 3, 3]


def test_an_entry_larger_than_history_keeps_only_its_last_events() -> None:
    store = make_store(history_size=2)
    store.update(lambda tx: tx.create(service("first")))

    def fill(b: object) -> None:
        for i in range(5):
            b.update(lambda tx, i=i: tx.create(service(f"s{i}")))  # type: ignore[attr-defined]

    store.batch(fill)  # type: ignore[arg-type]
    with pytest.raises(WatchHistoryTooOld):
        store.watch(since=1)  # the entry's first three events are gone
    assert store.watch(since=2).poll() == []
    store.update(lambda tx: tx.create(service("last")))
    assert [e.version for e in store.watch(since=2).poll()] == [3]


def test_view_and_watch_is_atomic() -> None:
    store = make_store()
    store.update(lambda tx: tx.create(service("a")))
    names, w = store.view_and_watch(lambda tx: [s.name for s in services.list_all(tx)])
    assert names == ["a"]
    store.update(lambda tx: tx.create(service("b")))
    assert [e.object.id for e in w.poll()] != [] and len(w.poll()) == 0


def test_slow_watcher_is_closed_without_blocking_apply() -> None:
    store = make_store()
    slow = store.watch(queue_size=3)
    fast = store.watch()
    for i in range(5):
        store.update(lambda tx, i=i: tx.create(service(f"s{i}")))
    assert slow.closed
    with pytest.raises(WatchClosed, match="fell behind"):
        slow.poll()
    assert len(fast.poll()) == 5


def test_a_growing_watcher_holds_as_many_events_as_the_store_holds_objects() -> None:
    """The leader's consumers re-read the whole store when they fall behind: their queue
    grows with the store instead of closing at a fixed size (at 100,000 tasks the
    scheduler overflowed 10,000 events, re-read, and overflowed again)."""
    store = make_store()
    fixed = store.watch(queue_size=3)
    growing = store.watch(queue_size=3, grows=True)
    store.batch(lambda b: [b.update(lambda tx, i=i: tx.create(service(f"s{i}"))) for i in range(8)])
    assert fixed.closed and not growing.closed
    assert len(growing.poll()) == 8  # the 8 services; never more queued than stored
    for i in range(3):
        store.update(lambda tx, i=i: tx.delete_id(ObjectKind.SERVICE, by_name(tx, f"s{i}").id))
    for v in range(1, 4):  # 5 objects stored now: the 6th event queued is one too many
        store.update(lambda tx, v=v: tx.update(replace(by_name(tx, "s3"), spec_version=v)))
    with pytest.raises(WatchClosed, match="fell behind: 5 events"):
        growing.poll()


def by_name(tx: ReadTx, name: str) -> Service:
    found = services.by_name(tx, name)
    assert found is not None
    return found


def test_blocking_get_and_notify() -> None:
    store = make_store()
    woken: list[int] = []
    w = store.watch(notify=lambda: woken.append(1))
    assert w.get(timeout=0.01) is None
    store.update(lambda tx: tx.create(service()))
    assert woken == [1]
    event = w.get(timeout=1)
    assert event is not None and event.action is Action.CREATE


def test_closed_by_owner() -> None:
    store = make_store()
    w = store.watch()
    w.close()
    store.update(lambda tx: tx.create(service()))
    with pytest.raises(WatchClosed):
        w.poll()


def test_an_entry_s_events_reach_a_watcher_at_once() -> None:
    """A consumer polling while an entry is published sees all of its events or none:
    they are queued together (one lock and one wake-up per watcher, not per event).
    Fails before: each event was queued, and its waiters woken, after the previous one's
    filter ran, so the predicate saw the watcher's queue grow within the entry."""
    store = make_store()
    seen: list[int] = []
    w = store.watch(predicate=lambda e: seen.append(w.pending()) is None)
    s = service()
    store.update(lambda tx: [tx.create(s)] + [tx.create(task(s.id, i)) for i in range(1, 4)])
    assert seen == [0, 0, 0, 0]
    assert len(w.poll()) == 4


def test_a_watcher_overflows_at_the_same_count_when_events_come_together() -> None:
    store = make_store()
    w = store.watch(queue_size=5)
    s = service()
    store.update(lambda tx: [tx.create(s)] + [tx.create(task(s.id, i)) for i in range(1, 5)])
    assert not w.closed and w.pending() == 5  # exactly the bound
    store.update(lambda tx: tx.create(task(s.id, 9)))
    assert w.closed
    with pytest.raises(WatchClosed, match="5 events not consumed"):
        w.poll()
