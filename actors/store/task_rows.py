"""Tasks as rows beside a table of their specs: the bulk encoding of snapshots and entries.

A task's spec is most of its bytes (585 of a running task's 1,073 as a map), and every
task of a service carries the same one. Where many tasks are written together (a
snapshot, a Raft entry of a batch) each distinct spec is written once, in a table, and a
task is a row (api/codec_rows.py: its fields' values in a fixed order, and so its meta,
status and container status) whose ``spec`` field holds its spec's position in the
table. The writer names the rows' fields once (``TASK_ROWS.layout``); a reader whose
classes have other fields (an older or newer writer: a rolling upgrade) reorders each
row into its own layout (``TASK_ROWS.translator``) or, failing that, reads it as a map.

``SpecTable`` numbers the specs: by identity (the store's tasks share their spec with
their service: sharing.py), then by content (equal copies get one number), in the order
tasks first use them, so the same tasks give the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgpack

from actors.store.sharing import NO_LABELS, RestoredTasks
from api.codec_fast import Invalid, fast_decoder_for
from api.codec_objects import decode, decode_object, encode
from api.codec_rows import RowCodec
from api.objects import ContainerStatus, Meta, ObjectKind, Task, TaskStatus
from api.specs import TaskSpec

__all__ = [
    "TASK_ROWS",
    "BadRow",
    "SpecTable",
    "decode_restored_rows",
    "decode_spec",
    "decode_task_row",
]

TASK_ROWS = RowCodec(
    Task,
    frozenset({Meta, TaskStatus, ContainerStatus}),
    "spec",
    # what share_task_parts points at one copy (sharing.py)
    share={
        Task: frozenset({"service_id", "service_name", "service_labels", "node_id", "labels"}),
        TaskStatus: frozenset({"message"}),
    },
    empty=NO_LABELS,
)
_SERVICE_ID = TASK_ROWS.layout["Task"].index("service_id")
_SPEC = TASK_ROWS.layout["Task"].index("spec")


class BadRow(ValueError):
    """A task row that cannot be read (its shape, or its spec reference); the caller
    names where it was. An invalid field raises ObjectDecodeError, naming the field."""


class SpecTable:
    """The distinct specs of the tasks written so far, each packed once (``packed``)."""

    def __init__(self) -> None:
        self._by_identity: dict[int, int] = {}
        self._by_content: dict[bytes, int] = {}
        self._held: list[TaskSpec] = []  # keeps each id() valid while it is a key
        self.packed: list[bytes] = []  # spec number -> its msgpack bytes
        # the sizes of specs measured but not numbered (a patched task's), by identity
        self._sizes: dict[int, tuple[TaskSpec, int]] = {}

    def __len__(self) -> int:
        return len(self.packed)

    def ref(self, spec: TaskSpec) -> int:
        """The number of ``spec`` (a new one when no equal spec has one yet)."""
        ref = self._by_identity.get(id(spec))
        if ref is None:
            content: bytes = msgpack.packb(encode(spec), use_bin_type=True)
            ref = self._by_content.get(content)
            if ref is None:
                ref = self._by_content[content] = len(self.packed)
                self.packed.append(content)
            self._by_identity[id(spec)] = ref
            self._held.append(spec)
        return ref

    def size(self, ref: int) -> int:
        return len(self.packed[ref])

    def size_of(self, spec: TaskSpec) -> int:
        """The packed size of ``spec``, without numbering it (it need not be written)."""
        ref = self._by_identity.get(id(spec))
        if ref is not None:
            return len(self.packed[ref])
        known = self._sizes.get(id(spec))
        if known is None:
            packed = msgpack.packb(encode(spec), use_bin_type=True)
            known = self._sizes[id(spec)] = (spec, len(packed))
        return known[1]

    def mark(self) -> tuple[int, int]:
        return len(self.packed), len(self._held)

    def bytes_since(self, mark: tuple[int, int]) -> int:
        if len(self.packed) == mark[0]:  # most writes add no spec
            return 0
        return sum(len(p) for p in self.packed[mark[0] :])

    def rollback(self, mark: tuple[int, int]) -> None:
        """Forget the specs numbered since ``mark`` (their writes were not kept)."""
        specs, held = mark
        for spec in self._held[held:]:
            del self._by_identity[id(spec)]
        for content in self.packed[specs:]:
            del self._by_content[content]
        del self._held[held:], self.packed[specs:]


def decode_spec(item: Any, where: str) -> TaskSpec:
    """One spec of a table; ObjectDecodeError names the bad field under ``where``."""
    try:
        spec: TaskSpec = fast_decoder_for(TaskSpec, strict=False)(item)
        return spec
    except Invalid:
        return decode(TaskSpec, item, where, strict=False)


def decode_restored_rows(
    items: Sequence[Any],
    specs: Sequence[TaskSpec],
    raw_specs: Sequence[Any],
    layout: Any,
    sharing: RestoredTasks,
) -> list[Task]:
    """The tasks of ``items`` (rows written with ``layout``) for a restore, each holding
    its spec of ``specs`` (decoded from ``raw_specs``) and sharing its parts (``sharing``)
    as it is built."""
    own = layout == TASK_ROWS.layout
    translate = None if own else TASK_ROWS.translator(layout)
    decode, strings, chosen = TASK_ROWS.decode_shared, sharing.strings, sharing.chosen
    count = len(specs)
    out: list[Task] = []
    for item in items:
        task: Task | None = None
        row = item if own else _translated(translate, item)
        if row is not None:
            try:
                ref = row[_SPEC]
                if type(ref) is int and 0 <= ref < count:
                    pick = chosen.get(ref)
                    if pick is not None and pick[0] is strings[row[_SERVICE_ID]]:
                        task = decode(row, pick[1], strings)
                    else:
                        task = decode(row, specs[ref], strings)
                        sharing.choose_spec(task, ref, specs[ref])
                    if task is not None and task.service_labels:
                        sharing.share_labels(task)
            except (Invalid, IndexError, KeyError, TypeError):
                task = None  # decoded as a map below: the message names the field
        if task is None:
            task = decode_task_row(item, specs, raw_specs, layout, False)
            sharing.share(task)
        out.append(task)
    return out


def _translated(translate: Callable[[Any], list[Any]] | None, item: Any) -> list[Any] | None:
    """``item`` in this reader's layout; None when it cannot be (read it as a map)."""
    if translate is None:
        return None
    try:
        return translate(item)
    except (Invalid, IndexError, TypeError):
        return None


def decode_task_row(
    item: Any,
    specs: Sequence[TaskSpec],
    raw_specs: Sequence[Any],
    layout: Any,
    fast: bool,
    translate: Callable[[Any], list[Any]] | None = None,
) -> Task:
    """One task row (``fast``: ``layout`` is ``TASK_ROWS.layout``, this reader's own; else
    ``translate``, ``TASK_ROWS.translator(layout)``, reorders it into that when it can)."""
    row = item if fast else _translated(translate, item)
    if row is not None:
        try:
            ref = row[_SPEC]
            if type(ref) is int and 0 <= ref < len(specs):
                task: Task = TASK_ROWS.decode(row, specs[ref])
                return task
        except (Invalid, IndexError, KeyError, TypeError):
            pass  # decoded as a map below: the message names the field
    try:
        as_map = TASK_ROWS.as_map(item, layout)
    except ValueError as exc:
        raise BadRow(str(exc)) from None
    return _decode_task(as_map, specs, raw_specs)


def _decode_task(item: Any, specs: Sequence[TaskSpec], raw_specs: Sequence[Any]) -> Task:
    """A task as a map (another writer's layout, or a row the fast path refused): decoded
    whole, with its spec's map, for the defaults and the message naming a bad field."""
    ref = item.get("spec") if type(item) is dict else None
    if type(ref) is not int or not 0 <= ref < len(specs):
        raise BadRow(f"a task's spec reference {ref!r} names no spec")
    whole = decode_object(ObjectKind.TASK, {**item, "spec": raw_specs[ref]})
    assert isinstance(whole, Task)
    object.__setattr__(whole, "spec", specs[ref])  # fresh: nobody else holds it yet
    return whole
