"""One in-memory table: objects of one kind by id, with secondary indices.

An ``Index`` maps each object to one key (or ``None``: not indexed); a ``multi`` index to
a frozenset of keys (a service's ingress ports). A unique index refuses two objects with a
key in common (service names, cluster names, ingress ports), on the writer's transaction
and again when the entry is applied, so two managers' concurrent writes cannot both take
it. Lookups return objects sorted by id, so every manager answers a query the same way.

A key held by one object maps to that object's id itself, by more to a dict of their ids
(``_Bucket``): most keys of a unique index, or of the (service, slot) index of tasks, have
one object, and an empty-ish dict per task cost 180 bytes of a task's memory.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from api.objects import Object, ObjectKind

__all__ = ["Index", "Table", "TableSchema"]

_Bucket = str | dict[str, None]  # one id, or the ids (in insertion order) of several


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    key: Callable[[Any], Hashable | None]
    unique: bool = False
    multi: bool = False  # key gives a frozenset of keys (or None)
    what: str = "name"  # a key as a refusal names it: "service name 'web' is in use"

    def keys_of(self, obj: Any) -> frozenset[Hashable]:
        """Every key ``obj`` has in this index."""
        key = self.key(obj)
        if self.multi:
            return _key_set(key)
        return frozenset() if key is None else frozenset((key,))


@dataclass(frozen=True, slots=True)
class TableSchema:
    kind: ObjectKind
    cls: type
    indexes: tuple[Index, ...] = ()
    name_index: str | None = None  # the index `lookup` searches by name
    name_key: Callable[[str], Hashable] = str.lower  # a name as that index keys it
    # every index's key of an object at once, in the order of ``indexes`` (the same
    # values): a write that keeps them all (most of a task's) compares two tuples instead
    # of calling each index's key twice. None: a tuple of each index's key.
    keys: Callable[[Any], tuple[Hashable | None, ...]] | None = None


def _each_key(indexes: tuple[Index, ...]) -> Callable[[Any], tuple[Hashable | None, ...]]:
    keyfns = tuple(ix.key for ix in indexes)
    return lambda obj: tuple(key(obj) for key in keyfns)


class Table:
    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self.objects: dict[str, Object] = {}
        self._indexes = {ix.name: ix for ix in schema.indexes}
        self._entries: dict[str, dict[Hashable, _Bucket]] = {ix.name: {} for ix in schema.indexes}
        self._keys = schema.keys or _each_key(schema.indexes)
        # per index, in order: its entries (the map put changes)
        self._index_entries = tuple(self._entries[ix.name] for ix in schema.indexes)
        self.unique = tuple(ix for ix in schema.indexes if ix.unique)  # tasks: none
        self._multi = tuple(ix.multi for ix in schema.indexes)

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
        bucket = self._entries[index].get(key)
        if bucket is None:
            return []
        return [bucket] if isinstance(bucket, str) else list(bucket)

    def unique_holder(self, obj: Object) -> tuple[str, Hashable, Index] | None:
        """For the first unique index with a key ``obj`` shares with another object:
        (that object's id, the key, the index); else None."""
        for ix in self.unique:
            entries = self._entries[ix.name]
            for key in ix.keys_of(obj):
                bucket = entries.get(key)
                if bucket is None:
                    continue
                for holder in (bucket,) if isinstance(bucket, str) else bucket:
                    if holder != obj.id:
                        return holder, key, ix
        return None

    def put(self, obj: Object) -> Object | None:
        """Insert or replace; returns the previous object. A replaced object leaves the
        buckets of its keys that did not change as they are (most writes of a task change
        its node or its status: its service, slot and desired state keep their buckets)."""
        id = obj.id
        objects = self.objects
        old = objects.get(id)
        objects[id] = obj
        if not self._index_entries:
            return old
        keys = self._keys(obj)
        old_keys = self._keys(old) if old is not None else None
        if keys == old_keys:
            return old
        for i, entries in enumerate(self._index_entries):
            key = keys[i]
            if self._multi[i]:
                old_set = old_keys[i] if old_keys is not None else None
                _reindex_keys(entries, _key_set(old_set), _key_set(key), id)
                continue
            if old_keys is not None:
                old_key = old_keys[i]
                if old_key == key:
                    continue
                if old_key is not None:
                    _unindex_key(entries, old_key, id)
            if key is not None:
                _index_key(entries, key, id)
        return old

    def load(self, objs: list[Object]) -> None:
        """Fill this empty table with ``objs`` (a restore): what ``put`` of each in turn
        gives, one index at a time, without ``put``'s search for a replaced object and its
        keys (100,000 tasks: four calls each per task). Objects with an id in common (not
        from our writer) are put one by one: the last one wins, as with ``put``."""
        assert not self.objects, "load fills an empty table"
        objects = self.objects
        for obj in objs:
            objects[obj.id] = obj
        if len(objects) != len(objs):
            self.clear()
            for obj in objs:
                self.put(obj)
            return
        if not self._index_entries:
            return
        keys = [self._keys(obj) for obj in objs]
        for i, entries in enumerate(self._index_entries):
            multi = self._multi[i]
            for obj, each in zip(objs, keys, strict=True):
                key = each[i]
                if multi:
                    for one in _key_set(key):
                        _index_key(entries, one, obj.id)
                elif key is not None:
                    _index_key(entries, key, obj.id)

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
        for entries, key, multi in zip(
            self._index_entries, self._keys(obj), self._multi, strict=True
        ):
            if key is None:
                continue
            for one in _key_set(key) if multi else (key,):
                _unindex_key(entries, one, obj.id)


def _key_set(key: Hashable | None) -> frozenset[Hashable]:
    """A multi index's keys (its key function gives a frozenset, or None)."""
    return key if isinstance(key, frozenset) else frozenset()


def _index_key(entries: dict[Hashable, _Bucket], key: Hashable, id: str) -> None:
    bucket = entries.get(key)
    if bucket is None:
        entries[key] = id
    elif isinstance(bucket, str):
        if bucket != id:
            entries[key] = {bucket: None, id: None}
    else:
        bucket[id] = None


def _reindex_keys(
    entries: dict[Hashable, _Bucket], old: frozenset[Hashable], new: frozenset[Hashable], id: str
) -> None:
    for key in old - new:
        _unindex_key(entries, key, id)
    for key in new - old:
        _index_key(entries, key, id)


def _unindex_key(entries: dict[Hashable, _Bucket], key: Hashable, id: str) -> None:
    bucket = entries.get(key)
    if bucket is None:
        return
    if isinstance(bucket, str):
        if bucket == id:
            del entries[key]
        return
    bucket.pop(id, None)
    if len(bucket) == 1:
        (entries[key],) = bucket
    elif not bucket:
        del entries[key]
