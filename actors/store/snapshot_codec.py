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
stores with the same content give the same bytes. Decoding is as strict as the object
codec: a bad object raises StoreError naming its field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import msgpack

from actors.store.errors import StoreError
from actors.store.gc_pause import gc_paused
from api.codec_fast import Invalid, fast_decoder_for
from api.codec_objects import (
    ObjectDecodeError,
    decode,
    decode_object,
    encode,
    encode_object,
)
from api.codec_rows import RowCodec
from api.objects import ContainerStatus, Meta, Object, ObjectKind, Task, TaskStatus
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
    pack = msgpack.Packer(use_bin_type=True).pack
    yield pack({"v": SNAPSHOT_FORMAT, "version": view.version, "rows": _ROWS.layout})
    specs = _SpecTable()
    encode_task = _ROWS.encode
    for kind, objects in view.tables.items():
        ids = sorted(objects)
        for start in range(0, len(ids), CHUNK):
            chunk = [objects[id] for id in ids[start : start + CHUNK]]
            if kind is not ObjectKind.TASK:
                yield pack([kind.value, [encode_object(obj) for obj in chunk]])
                continue
            ref = specs.ref
            encoded = [encode_task(t, ref(cast(Task, t).spec)) for t in chunk]
            if specs.new:
                yield pack([_SPECS, specs.new])
                specs.new = []
            yield pack([kind.value, encoded])


class _SpecTable:
    """Numbers the distinct specs: by identity (tasks share their spec: sharing.py), then
    by content (equal copies get one number)."""

    def __init__(self) -> None:
        self.by_identity: dict[int, int] = {}
        self.by_content: dict[bytes, int] = {}
        self.new: list[Any] = []
        self.held: list[TaskSpec] = []  # keeps each id() valid while it is a key
        self.count = 0

    def ref(self, spec: TaskSpec) -> int:
        ref = self.by_identity.get(id(spec))
        if ref is None:
            encoded = encode(spec)
            content = msgpack.packb(encoded, use_bin_type=True)
            ref = self.by_content.get(content)
            if ref is None:
                ref = self.by_content[content] = self.count
                self.count += 1
                self.new.append(encoded)
            self.by_identity[id(spec)] = ref
            self.held.append(spec)
        return ref


def decode_snapshot(data: bytes) -> tuple[int, dict[ObjectKind, list[Object]]]:
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
    return out


def _decode_format_2(unpacker: Any, layout: dict[str, Any]) -> dict[ObjectKind, list[Object]]:
    out: dict[ObjectKind, list[Object]] = {}
    raw_specs: list[Any] = []
    specs: list[TaskSpec] = []
    try:
        for chunk in unpacker:
            if not isinstance(chunk, list) or len(chunk) != 2 or not isinstance(chunk[1], list):
                raise StoreError("store snapshot: a chunk is not [kind, [objects]]")
            name, items = chunk
            if name == _SPECS:
                raw_specs.extend(items)
                specs.extend(_decode_spec(item, len(specs) + i) for i, item in enumerate(items))
                continue
            kind = _kind(name)
            into = out.setdefault(kind, [])
            if kind is ObjectKind.TASK:
                into.extend(_decode_task_rows(items, specs, raw_specs, layout))
            else:
                into.extend(decode_object(kind, item) for item in items)
    except (msgpack.UnpackException, ValueError) as exc:
        if isinstance(exc, ObjectDecodeError):
            raise
        raise StoreError(f"store snapshot is not msgpack: {exc}") from None
    return out


def _decode_spec(item: Any, position: int) -> TaskSpec:
    try:
        spec: TaskSpec = fast_decoder_for(TaskSpec)(item)
        return spec
    except Invalid:
        return decode(TaskSpec, item, f"{_SPECS}[{position}]")


_ROWS = RowCodec(Task, frozenset({Meta, TaskStatus, ContainerStatus}), "spec")


def _decode_task_rows(
    items: list[Any], specs: list[TaskSpec], raw_specs: list[Any], layout: Any
) -> Iterator[Task]:
    decode = _ROWS.decode
    fast = layout == _ROWS.layout
    n = len(specs)
    for item in items:
        if fast:
            try:
                ref = item[2]
                if type(ref) is int and 0 <= ref < n:
                    yield decode(item, specs[ref])
                    continue
            except (Invalid, IndexError, KeyError, TypeError):
                pass  # decoded as a map below: the message names the field
        try:
            as_map = _ROWS.as_map(item, layout)
        except ValueError as exc:
            raise StoreError(f"store snapshot: {exc}") from None
        yield _decode_task(as_map, specs, raw_specs)


def _decode_task(item: Any, specs: list[TaskSpec], raw_specs: list[Any]) -> Task:
    """A task as a map (another writer's layout, or a row the fast path refused): decoded
    whole, with its spec's map, for the defaults and the message naming a bad field."""
    ref = item.get("spec") if type(item) is dict else None
    if type(ref) is not int or not 0 <= ref < len(specs):
        raise StoreError(f"store snapshot: a task's spec reference {ref!r} names no spec")
    whole = decode_object(ObjectKind.TASK, {**item, "spec": raw_specs[ref]})
    assert isinstance(whole, Task)
    object.__setattr__(whole, "spec", specs[ref])  # fresh: nobody else holds it yet
    return whole
