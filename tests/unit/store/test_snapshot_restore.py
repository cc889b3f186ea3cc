"""A restore (MemoryStore.restore: snapshot_codec.decode_snapshot, sharing.RestoredTasks,
Table.load) gives the store that was saved: every object equal, every index answering
the same, and each task holding the one copy of what it shares with its service and
node, as a store that wrote them holds it."""

from __future__ import annotations

import sys
from dataclasses import replace
from types import FrameType

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.store import MemoryStore, nodes, services, tasks
from actors.store.memory import SCHEMAS
from actors.store.sharing import NO_LABELS
from actors.store.snapshot_codec import decode_snapshot
from api.codec_objects import encode_object
from api.objects import ContainerStatus, Object, ObjectKind, Service, Task, TaskStatus
from api.specs import ContainerSpec, TaskSpec
from api.task_state import TaskState
from tests.unit.store.helpers import FakeClock, make_store, node, service, task

_LONG = "no suitable node (scheduling constraints not met on 3 nodes, 2 busy)"


def _status(i: int) -> TaskStatus:
    container = ContainerStatus(f"{i:064x}", 100 + i, 0) if i % 3 else None
    message = _LONG if i % 7 == 0 else ("started" if i % 2 else "assigned")
    return TaskStatus(float(i), TaskState.RUNNING, message, "", container, (), float(i) + 0.5)


def _mixed_store(count: int) -> MemoryStore:
    """Services whose tasks hold their spec, an equal copy, the previous spec or one of
    their own; tasks on nodes and on none, with and without labels, of a removed
    service; two services with equal task specs."""
    store = make_store()
    hosts = [node(f"h{i}") for i in range(3)]
    web, api, twin, gone = service("web"), service("api"), service("twin"), service("gone")
    twin = replace(twin, spec=replace(twin.spec, task=web.spec.task))
    old = replace(api.spec.task, container=ContainerSpec(image="api:1"))
    api = replace(api, previous_spec=replace(api.spec, task=old))
    own = TaskSpec(container=ContainerSpec(image="own"))
    store.update(lambda tx: [tx.create(o) for o in (*hosts, web, api, twin, gone)])
    made: list[Task] = []
    for i in range(count):
        svc = (web, api, twin, gone)[i % 4]
        spec = [svc.spec.task, replace(svc.spec.task), old, own][i % 5 % 4]
        made.append(
            replace(
                task(svc.id, slot=i // 4 + 1, node_id=hosts[i % 3].id if i % 5 else ""),
                spec=spec,
                service_name=svc.spec.name,
                status=_status(i),
                labels={"k": str(i)} if i % 6 == 0 else {},
                desired_state=TaskState.SHUTDOWN if i % 9 == 0 else TaskState.RUNNING,
            )
        )
    for start in range(0, count, 300):
        store.update(lambda tx, start=start: [tx.create(t) for t in made[start : start + 300]])
    store.update(lambda tx: tx.delete_id(ObjectKind.SERVICE, gone.id))
    return store


def _everything(store: MemoryStore) -> dict[ObjectKind, list[Object]]:
    with store.read() as tx:
        return {kind: tx.list_objects(kind) for kind in ObjectKind}


def _index_answers(store: MemoryStore) -> dict[tuple[str, str, object], list[str]]:
    answers = {}
    with store.read() as tx:
        for schema in SCHEMAS:
            table = tx._tables[schema.kind]  # type: ignore[attr-defined]
            for ix in schema.indexes:
                for key in table._entries[ix.name]:
                    answers[(schema.kind.value, ix.name, key)] = sorted(table.ids_by(ix.name, key))
    return answers


def _restored(blob: bytes) -> MemoryStore:
    restored = MemoryStore(clock=FakeClock())
    restored.restore(blob)
    return restored


def test_a_restored_store_is_the_saved_one() -> None:
    store = _mixed_store(2500)  # tasks in two chunks
    blob = store.snapshot()
    restored = _restored(blob)
    assert restored.version == store.version
    assert _everything(restored) == _everything(store)
    assert _index_answers(restored) == _index_answers(store)
    assert restored.snapshot() == blob


def test_a_restored_task_holds_the_one_copy_of_what_it_shares() -> None:
    restored = _restored(_mixed_store(400).snapshot())
    with restored.read() as tx:
        by_id = {s.id: s for s in services.list_all(tx)}
        node_ids = {n.id: n.id for n in nodes.list_all(tx)}
        all_tasks = tasks.list_all(tx)
    orphans = 0
    for t in all_tasks:
        svc = by_id.get(t.service_id)
        if svc is None:
            orphans += 1
        else:
            assert t.service_id is svc.id and t.service_name is svc.spec.name
            held = [svc.spec.task] + ([svc.previous_spec.task] if svc.previous_spec else [])
            equal = [s for s in held if s == t.spec]
            assert not equal or t.spec is equal[0]
        assert not t.node_id or t.node_id is node_ids[t.node_id]
        assert t.labels is NO_LABELS if not t.labels else t.labels
        if t.status.message in ("started", "assigned"):  # short: interned
            assert t.status.message is sys.intern(t.status.message)
    assert orphans == 100
    specs = {id(t.spec) for t in all_tasks}
    assert len(specs) <= 8  # each service's (and the previous one), the own spec per service


def test_a_format_1_snapshot_restores_the_same_store_sharing_the_same() -> None:
    store = _mixed_store(60)
    objects = {k.value: [encode_object(o) for o in v] for k, v in _everything(store).items()}
    old = msgpack.packb({"v": 1, "version": store.version, "objects": objects})
    restored = _restored(old)
    assert _everything(restored) == _everything(store)
    assert _index_answers(restored) == _index_answers(store)
    with restored.read() as tx:
        by_id = {s.id: s for s in services.list_all(tx)}
        shared = [t for t in tasks.list_all(tx) if t.service_id in by_id]
    assert shared and all(t.service_id is by_id[t.service_id].id for t in shared)


_TASK_FIELDS = st.fixed_dictionaries(
    {
        "service": st.integers(0, 3),  # 3: a service the snapshot lacks
        "node": st.integers(0, 3),  # 3: none
        "spec": st.integers(0, 2),  # the service's, an equal copy, its own
        "message": st.sampled_from(["", "started", "x" * 41, "é"]),
        "labels": st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
        "container": st.booleans(),
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_TASK_FIELDS, max_size=30))
def test_any_tasks_restore_equal_and_sharing(fields: list[dict[str, object]]) -> None:
    store = make_store()
    svcs = [service(f"s{i}") for i in range(3)]
    hosts = [node(f"n{i}") for i in range(3)]
    store.update(lambda tx: [tx.create(o) for o in (*svcs, *hosts)])
    made = []
    for i, f in enumerate(fields):
        svc: Service | None = svcs[f["service"]] if f["service"] < 3 else None  # type: ignore[index,operator]
        base = svc.spec.task if svc is not None else TaskSpec()
        spec = [base, replace(base), TaskSpec(container=ContainerSpec(image="x"))][f["spec"]]  # type: ignore[index]
        container = ContainerStatus("c", 1, 0) if f["container"] else None
        status = TaskStatus(1.0, TaskState.RUNNING, f["message"], "", container)  # type: ignore[arg-type]
        made.append(
            replace(
                task(svc.id if svc else "x" * 25, slot=i),
                spec=spec,
                node_id=hosts[f["node"]].id if f["node"] < 3 else "",  # type: ignore[index,operator]
                status=status,
                labels=f["labels"],
            )
        )
    if made:
        store.update(lambda tx: [tx.create(t) for t in made])
    restored = _restored(store.snapshot())
    assert _everything(restored) == _everything(store)
    assert _index_answers(restored) == _index_answers(store)
    with restored.read() as tx:
        by_id = {s.id: s for s in services.list_all(tx)}
        for t in tasks.list_all(tx):
            held = by_id.get(t.service_id)
            if held is not None:
                assert t.service_id is held.id
                assert (t.spec is held.spec.task) == (t.spec == held.spec.task)


def test_our_own_rows_are_read_by_the_shared_decoder_alone() -> None:
    # a row the shared decoder refuses is read again as a map (slow, and the tasks
    # would share through share_task_parts): none of ours may be
    blob = _mixed_store(50).snapshot()
    calls: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            calls.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        decode_snapshot(blob)
    finally:
        sys.setprofile(None)
    assert calls.count("decode_row") == 50
    assert "decode_task_row" not in calls and "share_task_parts" not in calls
