"""Snapshot format 2 (actors/store/snapshot_codec.py) and the sharing of task parts
(actors/store/sharing.py): specs written once, old format-1 snapshots still restore, a
restored or replicated task shares its service's spec and ids."""

from __future__ import annotations

import sys
import tracemalloc
from dataclasses import replace
from typing import Any

import msgpack
import pytest

from actors.store import Action, MemoryStore, StoreError, services, tasks
from actors.store.entry import Entry, Op, encode_entry
from actors.store.snapshot_codec import CHUNK, StoreView, decode_snapshot, encode_snapshot
from actors.store.task_rows import TASK_ROWS
from api.codec_objects import encode_object
from api.objects import ObjectKind, Task
from api.specs import ContainerSpec, TaskSpec
from tests.unit.store.helpers import FakeClock, make_store, node, service, task


def _store_with(count: int) -> tuple[MemoryStore, str]:
    store = make_store()
    s, n = service(), node("h1")
    store.update(lambda tx: (tx.create(s), tx.create(n)))
    created = [replace(task(s.id, slot), spec=s.spec.task, node_id=n.id) for slot in range(count)]
    for start in range(0, count, 400):
        store.update(lambda tx, start=start: [tx.create(t) for t in created[start : start + 400]])
    return store, s.id


def _specs_in(blob: bytes) -> int:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(blob)
    next(unpacker)
    return sum(len(items) for name, items in unpacker if name == "task-specs")


def test_a_spec_many_tasks_share_is_written_once_and_shared_after_restore() -> None:
    store, sid = _store_with(CHUNK + 10)  # tasks in two chunks
    blob = store.snapshot()
    assert _specs_in(blob) == 1
    restored = MemoryStore(clock=FakeClock())
    restored.restore(blob)
    with restored.read() as tx:
        svc = services.get(tx, sid)
        all_tasks = tasks.list_all(tx)
    assert svc is not None and len(all_tasks) == CHUNK + 10
    assert all(t.spec is svc.spec.task and t.service_id is svc.id for t in all_tasks)
    assert restored.snapshot() == blob


def test_equal_specs_held_apart_are_written_once() -> None:
    s = service()
    copies = [replace(task(s.id, slot), spec=replace(s.spec.task)) for slot in range(3)]
    assert copies[0].spec is not copies[1].spec and copies[0].spec == copies[1].spec
    view = StoreView(9, {ObjectKind.TASK: {t.id: t for t in copies}})
    assert _specs_in(encode_snapshot(view)) == 1


def test_a_format_1_snapshot_still_restores() -> None:
    store, _ = _store_with(5)
    with store.read() as tx:
        objects = {k.value: [encode_object(o) for o in tx.list_objects(k)] for k in ObjectKind}
    old = msgpack.packb({"v": 1, "version": store.version, "objects": objects})
    restored = MemoryStore(clock=FakeClock())
    restored.restore(old)
    assert restored.version == store.version
    with store.read() as a, restored.read() as b:
        assert tasks.list_all(a) == tasks.list_all(b)
    assert restored.snapshot() == store.snapshot()


def _values(store: MemoryStore) -> list[Any]:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(store.snapshot())
    return list(unpacker)


def _packed(values: list[Any]) -> bytes:
    return b"".join(msgpack.packb(v) for v in values)


def test_a_bad_task_names_its_field_and_a_bad_reference_is_refused() -> None:
    store, _ = _store_with(1)
    values = _values(store)
    row = next(c for c in values[1:] if c[0] == "task")[1][0]
    slot = values[0]["rows"]["Task"].index("slot")
    row[slot] = "one"
    with pytest.raises(StoreError, match=r"task\.slot"):
        decode_snapshot(_packed(values))
    row[slot] = 1
    row[values[0]["rows"]["Task"].index("spec")] = 7
    with pytest.raises(StoreError, match="names no spec"):
        decode_snapshot(_packed(values))
    row.append(0)
    fields = len(values[0]["rows"]["Task"])
    with pytest.raises(StoreError, match=f"not a list of {fields} values"):
        decode_snapshot(_packed(values))


def test_rows_of_an_older_writer_take_the_defaults_of_the_fields_it_lacked() -> None:
    store, _ = _store_with(1)
    values = _values(store)
    names = values[0]["rows"]["Task"]
    gone = names.index("job_iteration")
    del names[gone]
    row = next(c for c in values[1:] if c[0] == "task")[1][0]
    del row[gone]
    _, objects = decode_snapshot(_packed(values))
    (t,) = objects[ObjectKind.TASK]
    with store.read() as tx:
        assert isinstance(t, Task) and t == tasks.list_all(tx)[0]


def test_a_newer_writers_snapshot_restores_without_the_fields_it_added(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rolling upgrade: a manager of this version restores the snapshot a newer one
    wrote, whose rows, specs and objects have fields this version lacks; they are
    skipped, and the restored store is the one without them (its snapshot the same bytes
    this version writes). Refused before: ``task.status.health: unknown field``. The
    rows are reordered into this version's layout, not read as maps (36 s of CPU for
    100,000 tasks, against 0.9 s)."""
    store, _ = _store_with(3)
    monkeypatch.setattr(TASK_ROWS, "as_map", _not_as_maps)
    values = _values(store)
    layout = values[0]["rows"]
    layout["TaskStatus"].append("health")
    layout["Task"].append("restart_budget")
    status = layout["Task"].index("status")
    for name, items in values[1:]:
        for item in items:
            if name == "task":
                item[status].append("healthy")
                item.append(3)
            elif name == "task-specs":
                item["container"]["newer_option"] = 500
            else:
                item["observed_by"] = "newer"
                if name == "service":
                    item["spec"]["task"]["container"]["newer_option"] = 500
    restored = MemoryStore(clock=FakeClock())
    restored.restore(_packed(values))
    assert restored.snapshot() == store.snapshot()
    with store.read() as tx, restored.read() as rtx:
        assert tasks.list_all(rtx) == tasks.list_all(tx)


def _not_as_maps(*args: object) -> None:
    raise AssertionError("a row of a newer layout was read as a map")


def test_a_newer_writers_unknown_kind_or_task_state_is_refused() -> None:
    """What a newer version adds that is not a field is a real incompatibility."""
    store, _ = _store_with(1)
    values = _values(store)
    values.append(["volume", [{"id": "v" * 25}]])
    with pytest.raises(StoreError, match="unknown kind 'volume'"):
        decode_snapshot(_packed(values))
    values = _values(store)
    row = next(c for c in values[1:] if c[0] == "task")[1][0]
    row[values[0]["rows"]["Task"].index("status")][1] = 65
    with pytest.raises(StoreError, match=r"task\.status\.state: unknown value 65"):
        decode_snapshot(_packed(values))


def test_a_replicated_task_shares_its_services_spec_and_its_stored_versions() -> None:
    """A follower decodes every entry: its tasks still share one spec."""
    s, n = service(), node("h1")
    t = replace(task(s.id), spec=s.spec.task, node_id=n.id)
    entries = [
        encode_entry(Entry("p1", 1.0, ((Op(Action.CREATE, ObjectKind.SERVICE, s.id, None, s),),))),
        encode_entry(Entry("p2", 2.0, ((Op(Action.CREATE, ObjectKind.NODE, n.id, None, n),),))),
        encode_entry(Entry("p3", 3.0, ((Op(Action.CREATE, ObjectKind.TASK, t.id, None, t),),))),
    ]
    follower = MemoryStore(clock=FakeClock())
    for index, data in enumerate(entries, start=1):
        follower.apply(index, data)
    moved = replace(t, slot=2)
    follower.apply(
        4, encode_entry(Entry("p4", 4.0, ((Op(Action.UPDATE, ObjectKind.TASK, t.id, 3, moved),),)))
    )
    with follower.read() as tx:
        svc, stored = services.get(tx, s.id), tasks.get(tx, t.id)
    assert svc is not None and stored is not None and stored.slot == 2
    assert stored.spec is svc.spec.task
    assert (stored.service_id is svc.id and stored.node_id is n.id) or stored.node_id == n.id


def test_a_task_with_its_own_spec_keeps_it() -> None:
    store, sid = _store_with(0)
    own = TaskSpec(container=ContainerSpec(image="other"))
    t = replace(task(sid), spec=own)
    store.update(lambda tx: tx.create(t))
    with store.read() as tx:
        stored = tasks.get(tx, t.id)
    assert stored is not None and stored.spec == own


def test_tasks_without_labels_share_one_read_only_empty_map() -> None:
    from actors.store.sharing import NO_LABELS

    store, _ = _store_with(3)
    restored = MemoryStore(clock=FakeClock())
    restored.restore(store.snapshot())
    for held in (store, restored):
        all_tasks = held.view(tasks.list_all)
        assert all(t.labels is NO_LABELS for t in all_tasks) and len(all_tasks) == 3
    with pytest.raises(TypeError):
        NO_LABELS["x"] = "y"  # type: ignore[index]
    labelled = replace(task("s" * 25), labels={"a": "b"})
    store.update(lambda tx: tx.create(labelled))
    assert store.view(lambda tx: tasks.get(tx, labelled.id)).labels == {"a": "b"}  # type: ignore[union-attr]


def test_encoding_holds_no_chunk_of_rows_before_packing_them() -> None:
    # a chunk's rows were all built (five lists a task) before any was packed: 100,000
    # tasks' encoding then ran on cold memory; packed at once, a row's lists are reused
    store, _ = _store_with(2 * CHUNK)
    view = store.snapshot_view()
    encode_snapshot(view)  # the codecs built before measuring
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        blob = encode_snapshot(view)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    # the chunks' bytes and their join, and beside them a chunk's packed rows (~200
    # bytes a task here), not its rows as lists as well (~800)
    assert peak - 2 * len(blob) < CHUNK * 400


def _unshared(value: str) -> str:
    copy = "".join(list(value))
    assert copy == value and copy is not value
    return copy


def test_the_leaders_own_writes_of_a_task_share_what_they_changed() -> None:
    # an update built from the stored task (the scheduler's, the dispatcher's) shares the
    # node id and status message it sets; one that sets an equal copy of the spec (or the
    # service's id) has it shared as a task written whole has
    store, sid = _store_with(1)
    n = node("h2")
    store.update(lambda tx: tx.create(n))
    (stored,) = store.view(tasks.list_all)
    status = replace(stored.status, message=_unshared("assigned to a node"))
    moved = replace(stored, node_id=_unshared(n.id), status=status)
    store.update(lambda tx: tx.update(moved, handed_over=True))
    (after,) = store.view(tasks.list_all)
    assert after.node_id is n.id and after.status.message is sys.intern("assigned to a node")
    assert after.spec is stored.spec
    again = replace(after, spec=replace(after.spec), service_id=_unshared(sid))
    store.update(lambda tx: tx.update(again))
    (last,) = store.view(tasks.list_all)
    svc = store.view(lambda tx: services.get(tx, sid))
    assert svc is not None and last.spec is svc.spec.task and last.service_id is svc.id


_CONTAINER_OPTIONS = (
    "read_only",
    "init",
    "tty",
    "groups",
    "cap_add",
    "cap_drop",
    "ulimits",
    "sysctls",
    "dns_config",
    "hosts",
)


def _without_container_options(value: Any) -> int:
    """Drop the container options from every container spec map in ``value``, as a
    store written before they existed has them; how many maps had them."""
    found = 0
    if isinstance(value, dict):
        if "image" in value and "read_only" in value:
            for key in _CONTAINER_OPTIONS:
                del value[key]
            found += 1
        for item in value.values():
            found += _without_container_options(item)
    elif isinstance(value, list):
        for item in value:
            found += _without_container_options(item)
    return found


def test_a_snapshot_from_before_the_container_options_loads_with_their_defaults() -> None:
    store, _ = _store_with(3)
    values = _values(store)
    assert _without_container_options(values) >= 2  # the service's spec and the tasks'
    _, objects = decode_snapshot(_packed(values))
    with store.read() as tx:
        assert objects[ObjectKind.SERVICE] == services.list_all(tx)
        assert objects[ObjectKind.TASK] == tasks.list_all(tx)
    (svc,) = objects[ObjectKind.SERVICE]
    assert svc.spec.task.container == ContainerSpec(image=svc.spec.task.container.image)
