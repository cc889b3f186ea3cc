"""A schema's ``keys`` gives every index's key at once (Table.put's hot path): the same
values, in the same order, as the indices' own key functions; a table kept by it answers
lookups as the indices describe them."""

from __future__ import annotations

from dataclasses import replace

from actors.store.memory import SCHEMAS
from actors.store.table import Table
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
