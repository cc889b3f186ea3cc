"""The network table: a unique, case-insensitive index of network names."""

from __future__ import annotations

from typing import cast

from actors.store.table import Index, TableSchema
from actors.store.tx import ReadTx
from api.objects import Network, ObjectKind

__all__ = ["SCHEMA", "by_name", "get", "list_all", "lookup"]

KIND = ObjectKind.NETWORK

SCHEMA = TableSchema(
    kind=KIND,
    cls=Network,
    indexes=(Index("name", lambda n: n.spec.name.lower() or None, unique=True),),
    name_index="name",
)


def get(tx: ReadTx, id: str) -> Network | None:
    return cast(Network | None, tx.get(KIND, id))


def list_all(tx: ReadTx) -> list[Network]:
    return cast(list[Network], tx.list_objects(KIND))


def by_name(tx: ReadTx, name: str) -> Network | None:
    found = tx.find(KIND, "name", name.lower())
    return cast(Network, found[0]) if found else None


def lookup(tx: ReadTx, ref: str) -> Network:
    """An id, a name or a unique id prefix."""
    return cast(Network, tx.lookup(KIND, ref))
