"""One in-memory table: objects of one kind by id, with secondary indices.

An ``Index`` maps each object to one key (or ``None``: not indexed). A unique index
refuses two objects with the same key (service names, cluster names). Lookups return
objects sorted by id, so every manager answers a query the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from api.objects import Object, ObjectKind

__all__ = ["Index", "Table", "TableSchema"]


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    key: Callable[[Any], Hashable | None]
    unique: bool = False


@dataclass(frozen=True, slots=True)
class TableSchema:
    kind: ObjectKind
    cls: type
    indexes: tuple[Index, ...] = ()
    name_index: str | None = None  # the index `lookup` searches by name
    name_key: Callable[[str], Hashable] = str.lower  # a name as that index keys it


class Table:
    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self.objects: dict[str, Object] = {}
        self._indexes = {ix.name: ix for ix in schema.indexes}
        self._entries: dict[str, dict[Hashable, dict[str, None]]] = {
            ix.name: {} for ix in schema.indexes
        }

    def __len__(self) -> int:
        return len(self.objects)

    def __iter__(self) -> Iterator[Object]:
        return iter(self.objects.values())

    def index(self, name: str) -> Index:
        try:
            return self._indexes[name]
        except KeyError:
            raise KeyError(f"{self.schema.kind} has no index {name!r}") from None

    def get(self, id: str) -> Object | None:
        return self.objects.get(id)

    def ids_by(self, index: str, key: Hashable) -> list[str]:
        self.index(index)
        return list(self._entries[index].get(key, ()))

    def unique_holder(self, obj: Object) -> tuple[str, Hashable] | None:
        """For the first unique index whose key ``obj`` shares with another object:
        (that object's id, the key); else None."""
        for ix in self.schema.indexes:
            if not ix.unique:
                continue
            key = ix.key(obj)
            if key is None:
                continue
            for holder in self._entries[ix.name].get(key, ()):
                if holder != obj.id:
                    return holder, key
        return None

    def put(self, obj: Object) -> Object | None:
        """Insert or replace; returns the previous object."""
        old = self.objects.get(obj.id)
        if old is not None:
            self._unindex(old)
        self.objects[obj.id] = obj
        for ix in self.schema.indexes:
            key = ix.key(obj)
            if key is not None:
                self._entries[ix.name].setdefault(key, {})[obj.id] = None
        return old

    def remove(self, id: str) -> Object | None:
        old = self.objects.pop(id, None)
        if old is not None:
            self._unindex(old)
        return old

    def clear(self) -> None:
        self.objects.clear()
        for entries in self._entries.values():
            entries.clear()

    def _unindex(self, obj: Object) -> None:
        for ix in self.schema.indexes:
            key = ix.key(obj)
            if key is None:
                continue
            bucket = self._entries[ix.name].get(key)
            if bucket is not None:
                bucket.pop(obj.id, None)
                if not bucket:
                    del self._entries[ix.name][key]
