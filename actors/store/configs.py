"""The config table: a unique, case-insensitive index of names."""

from __future__ import annotations

from typing import cast

from actors.store.table import Index, TableSchema
from actors.store.tx import ReadTx
from api.objects import Config, ObjectKind

__all__ = ["SCHEMA", "by_name", "get", "list_all", "lookup"]

KIND = ObjectKind.CONFIG

SCHEMA = TableSchema(
    kind=KIND,
    cls=Config,
    indexes=(Index("name", lambda s: s.spec.name.lower() or None, unique=True),),
    name_index="name",
)


def get(tx: ReadTx, id: str) -> Config | None:
    return cast(Config | None, tx.get(KIND, id))


def list_all(tx: ReadTx) -> list[Config]:
    return cast(list[Config], tx.list_objects(KIND))


def by_name(tx: ReadTx, name: str) -> Config | None:
    found = tx.find(KIND, "name", name.lower())
    return cast(Config, found[0]) if found else None


def lookup(tx: ReadTx, ref: str) -> Config:
    """An id, a name or a unique id prefix."""
    return cast(Config, tx.lookup(KIND, ref))
