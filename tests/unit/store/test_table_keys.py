"""A schema's ``keys`` gives every index's key at once (Table.put's hot path): the same
values, in the same order, as the indices' own key functions; a table kept by it answers
lookups as the indices describe them."""

from __future__ import annotations

from dataclasses import replace

from actors.store.memory import SCHEMAS
from actors.store.table import Table, TableSchema
from api.objects import Service
from api.specs import EndpointSpec, PortConfig
from api.task_state import TaskState
from tests.unit.store.helpers import node, service, task


def _tasks() -> list:
    s = service()
    plain = task(s.id, slot=3)
    return [
        plain,
        task(s.id, slot=1, node_id="n1"),
        replace(plain, service_id="", node_id="n2"),  # a global or orphaned task
        replace(plain, desired_state=TaskState.SHUTDOWN, node_id="n1"),
    ]


def test_each_schemas_keys_agree_with_its_indices() -> None:
    samples = {"task": _tasks(), "service": [service()], "node": [node()]}
    for schema in SCHEMAS:
        if schema.keys is None:
            continue
        for obj in samples[schema.kind.value]:
            assert schema.keys(obj) == tuple(ix.key(obj) for ix in schema.indexes)


def test_a_moved_task_changes_only_the_buckets_of_the_keys_it_changed() -> None:
    schema = next(s for s in SCHEMAS if s.kind.value == "task")
    table = Table(schema)
    a, b, orphan, stopped = _tasks()
    for t in (a, b):
        table.put(t)
    table.put(replace(a, node_id="n1"))  # moves to b's node; its service keeps its bucket
    assert sorted(table.ids_by("node", "n1")) == sorted([a.id, b.id])
    assert sorted(table.ids_by("service", a.service_id)) == sorted([a.id, b.id])
    table.put(replace(a, node_id="n1", status=replace(a.status, message="x")))  # same keys
    assert sorted(table.ids_by("node", "n1")) == sorted([a.id, b.id])
    table.put(stopped)  # a's id again: shut down, on n1
    assert table.ids_by("desired_state", int(TaskState.SHUTDOWN)) == [a.id]
    assert table.ids_by("desired_state", int(TaskState.RUNNING)) == [b.id]
    table.put(orphan)  # no service any more, on n2
    assert table.ids_by("service", a.service_id) == [b.id]
    assert table.ids_by("slot", (a.service_id, a.slot)) == []
    assert table.ids_by("node", "n2") == [a.id] and table.ids_by("node", "n1") == [b.id]
    table.remove(a.id)
    assert table.ids_by("node", "n2") == [] and table.ids_by("desired_state", 0) == []


def _ported(name: str, *ports: int) -> Service:
    s = service(name)
    published = tuple(PortConfig(target_port=80, published_port=p) for p in ports)
    spec = replace(s.spec, endpoint=EndpointSpec(ports=published))
    return replace(s, spec=spec)


def _filled_by_puts(schema: TableSchema, objs: list) -> Table:
    table = Table(schema)
    for obj in objs:
        table.put(obj)
    return table


def test_load_fills_a_table_as_puts_of_each_object_in_turn() -> None:
    s = service()
    tasks = [*_tasks()[:2], *(task(s.id, slot=i, node_id=f"n{i % 3}") for i in range(20))]
    tasks.append(replace(tasks[5], id=tasks[6].id))  # an id twice: the last one wins
    samples = {
        "task": tasks,
        "service": [_ported("a", 8080, 8081), _ported("b"), _ported("c", 9000), service("d")],
        "node": [node("x"), node("y"), node("X2")],
    }
    for schema in SCHEMAS:
        objs = samples.get(schema.kind.value, [])
        loaded = Table(schema)
        loaded.load(objs)
        put = _filled_by_puts(schema, objs)
        assert list(loaded.objects.items()) == list(put.objects.items())
        assert loaded._entries == put._entries
        for ix in schema.indexes:  # the buckets' order too
            for key, bucket in put._entries[ix.name].items():
                assert loaded.ids_by(ix.name, key) == put.ids_by(ix.name, key)
                assert type(loaded._entries[ix.name][key]) is type(bucket)
