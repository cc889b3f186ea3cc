"""The store's snapshot bytes: format 2 written, formats 1 and 2 read.

Format 1 (before issue 14) is one msgpack map ``{"v": 1, "version": N, "objects": {kind:
[object, ...]}}``. Format 2 is a stream of msgpack values, so a snapshot is packed and
unpacked a chunk at a time (other threads run between chunks; no second whole copy of
the decoded tree is held) and a task's spec, which every task of a service repeats, is
written once:

    {"v": 2, "version": N, "rows": {class name: [field name, ...]}}
    ["task-specs", [spec, ...]]          # before the tasks that refer to them
    [kind, [object, ...]]                # at most CHUNK objects; a kind in many chunks

A task is a row (api/codec_rows.py: its fields' values in the order the header's
``rows`` gives, and so its meta and status), and its ``spec`` field holds the position of
its spec among all the ``task-specs`` written before it. Objects are sorted by id within
a kind and specs numbered in the order tasks first use them, keyed by content: two
stores with the same content give the same bytes. Decoding checks what the object codec
checks (a bad object raises StoreError naming its field) and, as for all the cluster's
data, skips the fields a newer writer added (a row layout naming more fields, a spec or
object with more keys): a manager of the older version restores its snapshot during a
rolling upgrade, without them (api/codec_objects.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import msgpack

from actors.store.errors import StoreError
from actors.store.gc_pause import gc_paused
from actors.store.sharing import RestoredTasks
from actors.store.task_rows import TASK_ROWS, BadRow, SpecTable, decode_restored_rows, decode_spec
from api.codec_objects import ObjectDecodeError, decode_object, encode_object
from api.objects import Object, ObjectKind, Task
from api.specs import TaskSpec

__all__ = ["CHUNK", "SNAPSHOT_FORMAT", "StoreView", "decode_snapshot", "encode_snapshot"]

SNAPSHOT_FORMAT = 2
CHUNK = 2000
_SPECS = "task-specs"


@dataclass(frozen=True, slots=True)
class StoreView:
    """The store at one version: a copy of each table's map (the objects are immutable,
    so the copy is consistent and can be encoded on another thread)."""

    version: int
    tables: Mapping[ObjectKind, Mapping[str, Object]]


def encode_snapshot(view: StoreView) -> bytes:
    with gc_paused():
        return b"".join(_encode_chunks(view))


def _encode_chunks(view: StoreView) -> Iterator[bytes]:
    packer = msgpack.Packer(use_bin_type=True)
    pack = packer.pack
    yield pack({"v": SNAPSHOT_FORMAT, "version": view.version, "rows": TASK_ROWS.layout})
    specs = SpecTable()
    encode_task = TASK_ROWS.encode
    for kind, objects in view.tables.items():
        ids = sorted(objects)
        for start in range(0, len(ids), CHUNK):
            chunk = [objects[id] for id in ids[start : start + CHUNK]]
            if kind is not ObjectKind.TASK:
                yield pack([kind.value, [encode_object(obj) for obj in chunk]])
                continue
            first_new = len(specs)
            ref = specs.ref
            # each row packed as soon as it is built: its lists are freed at once and the
            # next row's reuse their memory (a chunk's 2,000 rows built before they were
            # packed were a fifth more of a snapshot's time, their memory cold by then)
            rows = [pack(encode_task(t, ref(t.spec))) for t in cast("list[Task]", chunk)]
            if len(specs) > first_new:  # [_SPECS, [spec, ...]], each spec packed once
                new = specs.packed[first_new:]
                yield packer.pack_array_header(2) + pack(_SPECS)
                yield packer.pack_array_header(len(new)) + b"".join(new)
            # [kind, [row, ...]]: msgpack values concatenate, so the same bytes
            yield packer.pack_array_header(2) + pack(kind.value)
            yield packer.pack_array_header(len(rows)) + b"".join(rows)


def decode_snapshot(data: bytes) -> tuple[int, dict[ObjectKind, list[Object]]]:
    """The version and the objects of a snapshot; its tasks share what they repeat with
    its services and nodes (sharing.py), as the store holds them."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(data), 1 << 20))
    unpacker.feed(data)
    try:
        header = next(unpacker)
    except StopIteration:
        raise StoreError("store snapshot is empty") from None
    except Exception as exc:
        raise StoreError(f"store snapshot is not msgpack: {exc}") from None
    if not isinstance(header, dict) or header.get("v") not in (1, SNAPSHOT_FORMAT):
        raise StoreError(f"not a store snapshot of format 1 or {SNAPSHOT_FORMAT}")
    version = header.get("version")
    if type(version) is not int:
        raise StoreError("store snapshot lacks its version")
    try:
        if header["v"] == 1:
            return version, _decode_format_1(header)
        layout = header.get("rows")
        if not isinstance(layout, dict):
            raise StoreError("store snapshot lacks the layout of its rows")
        return version, _decode_format_2(unpacker, layout)
    except ObjectDecodeError as exc:
        raise StoreError(f"store snapshot: {exc}") from None


def _kind(name: Any) -> ObjectKind:
    try:
        return ObjectKind(name)
    except ValueError:
        raise StoreError(f"store snapshot has unknown kind {name!r}") from None


def _decode_format_1(raw: dict[str, Any]) -> dict[ObjectKind, list[Object]]:
    objects = raw.get("objects")
    if not isinstance(objects, dict):
        raise StoreError("store snapshot lacks its objects")
    out: dict[ObjectKind, list[Object]] = {}
    for kind_name, items in objects.items():
        kind = _kind(kind_name)
        if not isinstance(items, list):
            raise StoreError(f"store snapshot: {kind_name} is not a list")
        out[kind] = [decode_object(kind, item) for item in items]
    sharing = _sharing(out)
    for task in out.get(ObjectKind.TASK, ()):
        sharing.share(cast(Task, task))
    return out


def _sharing(out: dict[ObjectKind, list[Object]]) -> RestoredTasks:
    """What the tasks share: the services and nodes decoded so far (our writer writes them
    before the tasks; a task decoded earlier shares less, with the same values)."""
    return RestoredTasks(out.get(ObjectKind.SERVICE, ()), out.get(ObjectKind.NODE, ()))


def _decode_format_2(unpacker: Any, layout: dict[str, Any]) -> dict[ObjectKind, list[Object]]:
    out: dict[ObjectKind, list[Object]] = {}
    raw_specs: list[Any] = []
    specs: list[TaskSpec] = []
    sharing: RestoredTasks | None = None
    try:
        for chunk in unpacker:
            if not isinstance(chunk, list) or len(chunk) != 2 or not isinstance(chunk[1], list):
                raise StoreError("store snapshot: a chunk is not [kind, [objects]]")
            name, items = chunk
            if name == _SPECS:
                base = len(specs)
                raw_specs.extend(items)
                specs.extend(decode_spec(it, f"{_SPECS}[{base + i}]") for i, it in enumerate(items))
                continue
            kind = _kind(name)
            into = out.setdefault(kind, [])
            if kind is ObjectKind.TASK:
                sharing = sharing or _sharing(out)
                into.extend(_decode_task_rows(items, specs, raw_specs, layout, sharing))
            else:
                into.extend(decode_object(kind, item) for item in items)
    except (msgpack.UnpackException, ValueError) as exc:
        if isinstance(exc, ObjectDecodeError):
            raise
        raise StoreError(f"store snapshot is not msgpack: {exc}") from None
    return out


def _decode_task_rows(
    items: list[Any],
    specs: list[TaskSpec],
    raw_specs: list[Any],
    layout: Any,
    sharing: RestoredTasks,
) -> list[Task]:
    try:
        return decode_restored_rows(items, specs, raw_specs, layout, sharing)
    except BadRow as exc:
        raise StoreError(f"store snapshot: {exc}") from None
