"""The secret table: a unique, case-insensitive index of names."""

from __future__ import annotations

from typing import cast

from actors.store.table import Index, TableSchema
from actors.store.tx import ReadTx
from api.objects import ObjectKind, Secret

__all__ = ["SCHEMA", "by_name", "get", "list_all", "lookup"]

KIND = ObjectKind.SECRET

SCHEMA = TableSchema(
    kind=KIND,
    cls=Secret,
    indexes=(Index("name", lambda s: s.spec.name.lower() or None, unique=True),),
    name_index="name",
)


def get(tx: ReadTx, id: str) -> Secret | None:
    return cast(Secret | None, tx.get(KIND, id))


def list_all(tx: ReadTx) -> list[Secret]:
    return cast(list[Secret], tx.list_objects(KIND))


def by_name(tx: ReadTx, name: str) -> Secret | None:
    found = tx.find(KIND, "name", name.lower())
    return cast(Secret, found[0]) if found else None


def lookup(tx: ReadTx, ref: str) -> Secret:
    """An id, a name or a unique id prefix."""
    return cast(Secret, tx.lookup(KIND, ref))
