"""Transactions: ``ReadTx`` on a consistent view, ``WriteTx`` that collects changes.

A ``ReadTx`` is only valid inside the ``view`` (or ``update``) call that made it: the
store holds its lock meanwhile, so a reader never sees half of an applied batch. Objects
returned are frozen and may be kept after the transaction ends.

A ``WriteTx`` reads like a ``ReadTx`` but sees its own writes. ``create``, ``update`` and
``delete`` check, at once, the version each object was read at (``obj.meta.version``), so
a stale write fails early with ``ConflictError``; the same checks run again, on every
manager, when the entry is applied.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, TypeVar, cast

from actors.store.entry import CHAINED, Action, Op
from actors.store.errors import (
    AlreadyExists,
    AmbiguousReference,
    ConflictError,
    NameConflict,
    NotFound,
    StoreError,
)
from actors.store.table import Table
from api.objects import OBJECT_TYPES, Object, ObjectKind, kind_of

__all__ = ["ReadTx", "WriteTx"]

ObjT = TypeVar("ObjT", bound=Object)
_Key = tuple[ObjectKind, str]


class ReadTx:
    def __init__(self, tables: Mapping[ObjectKind, Table], version: int) -> None:
        self._tables = tables
        self._version = version
        self._open = True

    @property
    def version(self) -> int:
        """The Raft index of the last change applied to this view."""
        return self._version

    def _table(self, kind: ObjectKind) -> Table:
        if not self._open:
            raise StoreError("transaction used after its view or update ended")
        return self._tables[kind]

    def close(self) -> None:
        self._open = False

    # Reads. Subclasses overlay their pending writes through _visible / _overlay_ids.

    def _visible(self, kind: ObjectKind, id: str) -> Object | None:
        return self._table(kind).get(id)

    def _overlay_ids(self, kind: ObjectKind) -> set[str]:
        return set()

    def get(self, kind: ObjectKind, id: str) -> Object | None:
        return self._visible(kind, id)

    def get_as(self, cls: type[ObjT], id: str) -> ObjT | None:
        obj = self._visible(kind_of_type(cls), id)
        return cast(ObjT | None, obj)

    def list_objects(self, kind: ObjectKind) -> list[Object]:
        """Every object of a kind, sorted by id."""
        table = self._table(kind)
        extra = self._overlay_ids(kind)
        if not extra:  # the table alone (every view, most writes): no lookup per id
            objects = table.objects
            return [objects[id] for id in sorted(objects)]
        ids = set(table.objects) | extra
        out = []
        for id in sorted(ids):
            obj = self._visible(kind, id)
            if obj is not None:
                out.append(obj)
        return out

    def count(self, kind: ObjectKind) -> int:
        return len(self.list_objects(kind)) if self._overlay_ids(kind) else len(self._table(kind))

    def find(self, kind: ObjectKind, index: str, key: Hashable) -> list[Object]:
        """Objects whose ``index`` key equals ``key``, sorted by id."""
        table = self._table(kind)
        extra = self._overlay_ids(kind)
        ids = table.ids_by(index, key)
        if not extra:
            ids.sort()
            return [table.objects[id] for id in ids]
        ix = table.index(index)
        out = []
        for id in sorted(set(ids) | extra):
            obj = self._visible(kind, id)
            if obj is not None and key in ix.keys_of(obj):
                out.append(obj)
        return out

    def lookup(self, kind: ObjectKind, ref: str) -> Object:
        """Resolve what a user typed: an exact id, then a name, then a unique id prefix.
        NotFound or AmbiguousReference otherwise."""
        if not ref:
            raise NotFound(kind.value, ref)
        obj = self._visible(kind, ref)
        if obj is not None:
            return obj
        schema = self._table(kind).schema
        if schema.name_index is not None:
            named = self.find(kind, schema.name_index, schema.name_key(ref))
            if len(named) == 1:
                return named[0]
            if len(named) > 1:
                raise AmbiguousReference(kind.value, ref, [o.id for o in named])
        table = self._table(kind)
        ids = [id for id in set(table.objects) | self._overlay_ids(kind) if id.startswith(ref)]
        found = [o for o in (self._visible(kind, id) for id in sorted(ids)) if o is not None]
        if len(found) == 1:
            return found[0]
        if found:
            raise AmbiguousReference(kind.value, ref, [o.id for o in found])
        raise NotFound(kind.value, ref)


class WriteTx(ReadTx):
    """Collects one group of changes, applied atomically (all or nothing)."""

    def __init__(
        self,
        tables: Mapping[ObjectKind, Table],
        version: int,
        parent: Mapping[_Key, Object | None] | None = None,
    ) -> None:
        super().__init__(tables, version)
        # writes of earlier groups of the same proposal (batch); None marks a delete
        self._parent: Mapping[_Key, Object | None] = parent if parent is not None else {}
        self._own: dict[_Key, Object | None] = {}
        self._ops: dict[_Key, Op] = {}

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(self._ops.values())

    @property
    def op_count(self) -> int:
        return len(self._ops)

    @property
    def writes(self) -> dict[_Key, Object | None]:
        """This transaction's visible changes: object, or None when deleted."""
        return dict(self._own)

    def _visible(self, kind: ObjectKind, id: str) -> Object | None:
        key = (kind, id)
        if key in self._own:
            return self._own[key]
        if key in self._parent:
            return self._parent[key]
        return self._table(kind).get(id)

    def _overlay_ids(self, kind: ObjectKind) -> set[str]:
        if not self._own and not self._parent:
            return set()
        ids = {id for k, id in self._own if k is kind}
        ids.update(id for k, id in self._parent if k is kind)
        return ids

    def _check_unique(self, kind: ObjectKind, obj: Object) -> None:
        for ix in self._table(kind).unique:
            for key in ix.keys_of(obj):
                for other in self.find(kind, ix.name, key):
                    if other.id != obj.id:
                        raise NameConflict(kind.value, str(key), other.id, ix.what)

    def create(self, obj: Object, *, handed_over: bool = False) -> None:
        """Create ``obj``. ``handed_over``: the caller built ``obj`` for this write and
        neither keeps nor reuses it (nor writes it again): the proposing store then stores
        it as it is, its ``meta`` set in place when the write is applied, instead of a copy
        of it (the leader's apply copied every object it wrote)."""
        kind = kind_of(obj)
        key = (kind, obj.id)
        self._table(kind)
        if self._visible(kind, obj.id) is not None:
            raise AlreadyExists(kind.value, obj.id)
        self._check_unique(kind, obj)
        previous = self._ops.get(key)
        if previous is not None and previous.action is Action.DELETE:
            # deleted earlier in this transaction: the net change is a replacement
            op = Op(Action.UPDATE, kind, obj.id, previous.expected, obj, handed_over=handed_over)
        else:
            op = Op(Action.CREATE, kind, obj.id, None, obj, handed_over=handed_over)
        self._ops[key] = op
        self._own[key] = obj

    def update(self, obj: Object, *, handed_over: bool = False) -> None:
        """Replace the object ``obj.meta.version`` was read at; ``handed_over`` as for
        ``create``."""
        kind = kind_of(obj)
        key = (kind, obj.id)
        current = self._visible(kind, obj.id)
        if current is None:
            raise NotFound(kind.value, obj.id)
        if obj.meta.version != current.meta.version:
            raise ConflictError(kind.value, obj.id, obj.meta.version, current.meta.version)
        self._check_unique(kind, obj)
        # the base: what the update changes (entry.py writes only the fields that differ)
        previous = self._ops.get(key)
        action = Action.UPDATE
        expected: int | None = current.meta.version
        base: Object | None = current
        if previous is not None:
            action, expected, base = previous.action, previous.expected, previous.base
        elif key in self._parent:
            expected = CHAINED
        self._ops[key] = Op(action, kind, obj.id, expected, obj, base, handed_over=handed_over)
        self._own[key] = obj

    def delete(self, obj: Object) -> None:
        """Delete ``obj``, checking that it is still at the version it was read at."""
        self._delete(kind_of(obj), obj.id, obj.meta.version)

    def delete_id(self, kind: ObjectKind, id: str) -> None:
        """Delete by id, whatever its current version."""
        self._delete(kind, id, None)

    def _delete(self, kind: ObjectKind, id: str, version: int | None) -> None:
        key = (kind, id)
        current = self._visible(kind, id)
        if current is None:
            raise NotFound(kind.value, id)
        if version is not None and version != current.meta.version:
            raise ConflictError(kind.value, id, version, current.meta.version)
        previous = self._ops.get(key)
        if previous is not None and previous.action is Action.CREATE:
            del self._ops[key]
        elif previous is not None:
            self._ops[key] = Op(Action.DELETE, kind, id, previous.expected)
        elif key in self._parent:
            self._ops[key] = Op(Action.DELETE, kind, id, CHAINED)
        else:
            expected = current.meta.version if version is not None else None
            self._ops[key] = Op(Action.DELETE, kind, id, expected)
        self._own[key] = None


_TYPE_KINDS: dict[type, ObjectKind] = {cls: kind for kind, cls in OBJECT_TYPES.items()}


def kind_of_type(cls: type[Any]) -> ObjectKind:
    try:
        return _TYPE_KINDS[cls]
    except KeyError:
        raise TypeError(f"not a stored object type: {cls.__name__}") from None
