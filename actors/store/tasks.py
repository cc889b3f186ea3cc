"""The task table: indices by service, node, desired state and (service, slot)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import cast

from actors.store.table import Index, TableSchema
from actors.store.tx import ReadTx
from api.objects import ObjectKind, Task
from api.task_state import TaskState

__all__ = [
    "SCHEMA",
    "by_desired_state",
    "by_node",
    "by_service",
    "by_slot",
    "get",
    "list_all",
    "lookup",
]

KIND = ObjectKind.TASK


def _keys(t: Task) -> tuple[Hashable | None, ...]:
    """The four indices' keys at once (TableSchema.keys: every write of a task)."""
    service_id = t.service_id
    if service_id:
        return service_id, t.node_id or None, t.desired_state._value_, (service_id, t.slot)
    return None, t.node_id or None, t.desired_state._value_, None


SCHEMA = TableSchema(
    kind=KIND,
    cls=Task,
    indexes=(
        Index("service", lambda t: t.service_id or None),
        Index("node", lambda t: t.node_id or None),
        Index("desired_state", lambda t: int(t.desired_state)),
        Index("slot", lambda t: (t.service_id, t.slot) if t.service_id else None),
    ),
    keys=_keys,
)


def get(tx: ReadTx, id: str) -> Task | None:
    return cast(Task | None, tx.get(KIND, id))


def list_all(tx: ReadTx) -> list[Task]:
    return cast(list[Task], tx.list_objects(KIND))


def by_service(tx: ReadTx, service_id: str) -> list[Task]:
    return cast(list[Task], tx.find(KIND, "service", service_id))


def by_node(tx: ReadTx, node_id: str) -> list[Task]:
    return cast(list[Task], tx.find(KIND, "node", node_id))


def by_desired_state(tx: ReadTx, state: TaskState) -> list[Task]:
    return cast(list[Task], tx.find(KIND, "desired_state", int(state)))


def by_slot(tx: ReadTx, service_id: str, slot: int) -> list[Task]:
    """Every task of a replicated service's slot, current and historic."""
    return cast(list[Task], tx.find(KIND, "slot", (service_id, slot)))


def lookup(tx: ReadTx, ref: str) -> Task:
    """An id or a unique id prefix."""
    return cast(Task, tx.lookup(KIND, ref))
