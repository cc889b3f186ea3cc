"""The service table: a unique, case-insensitive index of spec names."""

from __future__ import annotations

from typing import cast

from actors.store.table import Index, TableSchema
from actors.store.tx import ReadTx
from api.objects import ObjectKind, Service

__all__ = ["SCHEMA", "by_name", "get", "list_all", "lookup"]

KIND = ObjectKind.SERVICE

SCHEMA = TableSchema(
    kind=KIND,
    cls=Service,
    indexes=(Index("name", lambda s: s.spec.name.lower() or None, unique=True),),
    name_index="name",
)


def get(tx: ReadTx, id: str) -> Service | None:
    return cast(Service | None, tx.get(KIND, id))


def list_all(tx: ReadTx) -> list[Service]:
    return cast(list[Service], tx.list_objects(KIND))


def by_name(tx: ReadTx, name: str) -> Service | None:
    found = tx.find(KIND, "name", name.lower())
    return cast(Service, found[0]) if found else None


def lookup(tx: ReadTx, ref: str) -> Service:
    """An id, a name or a unique id prefix."""
    return cast(Service, tx.lookup(KIND, ref))
