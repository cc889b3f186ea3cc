"""The byte budgets a write must fit before the store proposes it (``api.limits``).

Each operation is packed once (`encode_op`), here, so its size is exact: one object may
take ``object`` bytes (a task with its spec), one write (a transaction: ``update``, or
one ``Batch.update``) ``write`` bytes (with the task specs it adds to its entry's
table), one proposal ``entry`` bytes. A batch starts a new proposal before a
write that might not fit (``Batch.room``), so the store never builds an entry over its
budget; the Raft node refuses one anyway (whoever else proposes).

An update written as the fields it changes (a patch: entry.py) is checked by the size
of the object it makes, measured whole, unless the patch is small: at most
``object / (2 * F)`` bytes for an object of F fields. The object then stays under 1.5
times its budget whatever small patches came before (the fields no small patch set since
it was last measured whole fit the budget; each of the F others holds a small patch's
bytes at most), well inside a frame, and the scheduler's and the workers' writes of a
task (its node, its status) are not encoded twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from actors.store.entry import Op, encode_op, object_bytes, writes_patch
from actors.store.errors import TooLarge
from actors.store.task_rows import SpecTable
from api.limits import MAX_ENTRY_BYTES, MAX_OBJECT_BYTES, MAX_WRITE_BYTES
from api.objects import Object, Task
from api.objects_copy import field_names
from api.objects_init import fast_init

__all__ = ["Budgets", "EncodedGroup", "encode_group"]


@dataclass(frozen=True, slots=True)
class Budgets:
    object: int = MAX_OBJECT_BYTES
    write: int = MAX_WRITE_BYTES
    entry: int = MAX_ENTRY_BYTES

    def __post_init__(self) -> None:
        if not 0 < self.object <= self.write <= self.entry // 2:
            raise ValueError(f"need 0 < object <= write <= entry / 2, got {self}")


@fast_init  # built for every write (api/objects_init.py)
@dataclass(frozen=True, slots=True)
class EncodedGroup:
    """One write's operations, packed; ``size`` is their total; ``source`` the operations
    themselves (the proposing store applies them as they are: MemoryStore.apply)."""

    ops: tuple[bytes, ...]
    size: int
    source: tuple[Op, ...] = ()


def encode_group(ops: tuple[Op, ...], budgets: Budgets, specs: SpecTable) -> EncodedGroup:
    """Pack ``ops`` for an entry whose task specs ``specs`` numbers; TooLarge names the
    first object over its budget, or the write (and ``specs`` is as it was before).
    One pass over the operations (every write of the store comes through here: a task's
    three writes, each of one operation, on the leader)."""
    mark = specs.mark()
    packed: list[bytes] = []
    size = 0
    try:
        for op in ops:
            obj = op.obj
            patch = writes_patch(op)
            data = encode_op(op, specs, patch)
            one = len(data)
            if patch:
                if one > budgets.object // (2 * len(field_names(type(obj)))):
                    one = object_bytes(cast(Object, obj), specs)  # the object it makes, whole
            elif type(obj) is Task:
                one += specs.size_of(obj.spec)  # numbered by encode_op
            if one > budgets.object:
                raise TooLarge(f"{op.kind.value} {op.id}", one, budgets.object, "one object")
            packed.append(data)
            size += len(data)
        size += specs.bytes_since(mark)
        if size > budgets.write:
            raise TooLarge(
                f"this write of {len(ops)} objects", size, budgets.write, "one write (transaction)"
            )
    except TooLarge:
        specs.rollback(mark)
        raise
    return EncodedGroup(tuple(packed), size, ops)
