"""The node table: indices by hostname (not unique), role and availability."""

from __future__ import annotations

from typing import cast

from actors.store.table import Index, TableSchema
from actors.store.tx import ReadTx
from api.enums import NodeAvailability, NodeRole
from api.objects import Node, ObjectKind

__all__ = ["SCHEMA", "by_availability", "by_hostname", "by_role", "get", "list_all", "lookup"]

KIND = ObjectKind.NODE


def _hostname(n: Node) -> str | None:
    return n.hostname.lower() or None


SCHEMA = TableSchema(
    kind=KIND,
    cls=Node,
    indexes=(
        Index("hostname", _hostname),
        Index("role", lambda n: n.role),
        Index("availability", lambda n: n.spec.availability),
    ),
    name_index="hostname",
)


def get(tx: ReadTx, id: str) -> Node | None:
    return cast(Node | None, tx.get(KIND, id))


def list_all(tx: ReadTx) -> list[Node]:
    return cast(list[Node], tx.list_objects(KIND))


def by_hostname(tx: ReadTx, hostname: str) -> list[Node]:
    return cast(list[Node], tx.find(KIND, "hostname", hostname.lower()))


def by_role(tx: ReadTx, role: NodeRole) -> list[Node]:
    return cast(list[Node], tx.find(KIND, "role", role))


def by_availability(tx: ReadTx, availability: NodeAvailability) -> list[Node]:
    return cast(list[Node], tx.find(KIND, "availability", availability))


def lookup(tx: ReadTx, ref: str) -> Node:
    """An id, a hostname or a unique id prefix."""
    return cast(Node, tx.lookup(KIND, ref))
