"""The encoding of one store proposal (one Raft entry): format 3 written, 1 to 3 read.

An entry is one msgpack map::

    {"v": 3, "p": proposal id, "t": proposer's clock (float seconds),
     "r": {class name: [field name, ...]},  # with "s", when the entry writes tasks
     "s": [task spec, ...],
     "g": [group, ...]}
    group = [op, ...]                      # applied atomically, or not at all
    op    = [action, kind, id, expected, object | None]

``action`` is ``"create" | "update" | "delete" | "patch"``; ``kind`` an ``ObjectKind`` value;
``expected`` the version the writer read (``None`` for creates and unchecked deletes;
``CHAINED`` (-1) when an earlier group of the same entry wrote the object, so the
object must carry this entry's index); ``object`` the encoded object (``None`` for
deletes). Groups are independent: one group's conflict does not undo another's.
A ``patch`` (format 3) is an update written as the fields it changes, ``{field: value}``,
applied to the object at the ``expected`` version (patch.py): a follower decodes a task
whole once, when it is created, not at each of its later writes.

A task is a row whose ``spec`` is its position in ``s`` and whose fields ``r`` names
(task_rows.py): the spec every task of a service carries is written once per entry, not
once per task, so an entry of 500 task writes is a quarter of its format-1 size, in the
log kept in memory, the WAL, the replication and a follower's decoding. Format 1 (before
issue 14's round 3) wrote every object as a map, format 2 (before round 4) every update
whole; entries of a log written then are read.

A newer version's entry of this format applies here: the fields its objects, specs,
rows and patches have and these classes do not are skipped (api/codec_objects.py's rule
for the cluster's data), so an older follower keeps applying a newer leader's writes
during a rolling upgrade; an unknown format, action or kind is refused.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import msgpack

from actors.store.errors import EntryDecodeError
from actors.store.patch import changed_fields, decode_changes
from actors.store.task_rows import TASK_ROWS, BadRow, SpecTable, decode_spec, decode_task_row
from api.codec_build import build_lines
from api.codec_objects import ObjectDecodeError, decode_object, encode_object
from api.objects import Object, ObjectKind, Task
from api.objects_init import fast_init
from api.specs import TaskSpec

__all__ = [
    "CHAINED",
    "ENTRY_OVERHEAD",
    "Action",
    "Entry",
    "Op",
    "assemble_entry",
    "decode_entry",
    "encode_entry",
    "encode_op",
    "entry_proposal_id",
    "has_rows",
    "object_bytes",
    "writes_patch",
]

ENTRY_FORMAT = 3
_READ_FORMATS = (1, 2, 3)
_PATCH = "patch"  # the action of an update written as its changed fields (format 3)
CHAINED = -1
_LAYOUT = msgpack.packb(TASK_ROWS.layout, use_bin_type=True)
_PACKERS = threading.local()  # a Packer is not to be shared between threads


def _pack(value: Any) -> bytes:
    """``msgpack.packb``, without building a Packer for each call: a write of a task
    packs one or two small operations, and the Packer's construction cost more than
    its packing."""
    try:
        packer = _PACKERS.packer
    except AttributeError:
        packer = _PACKERS.packer = msgpack.Packer(use_bin_type=True)
    data: bytes = packer.pack(value)
    return data


# an entry's bytes besides its ops and specs: the map, format, proposal id, timestamp,
# the layout of its rows and the array headers of its specs and groups
ENTRY_OVERHEAD = len(_LAYOUT) + 128


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@fast_init  # built for every write (api/objects_init.py)
@dataclass(frozen=True, slots=True)
class Op:
    """One write. An update built by a transaction carries its ``base``, the object it
    read (at the ``expected`` version), and is written as the fields it changes; an
    update decoded from a patch has no ``obj`` but those ``changes`` (field values).
    ``handed_over``: the writer built ``obj`` for this write alone and keeps no other use
    of it, so the store that proposed it stores it as it is (WriteTx.create/update)."""

    action: Action
    kind: ObjectKind
    id: str
    expected: int | None = None
    obj: Object | None = None
    base: Object | None = field(default=None, compare=False, repr=False)
    changes: dict[str, Any] | None = None
    handed_over: bool = field(default=False, compare=False, repr=False)


def _decoded_op_builder() -> Callable[..., Op]:
    """``decoded_op(action, kind, id, expected, obj, changes)``: an Op as decoding builds
    it, without a base and not handed over, built as codec_fast builds the object model
    (0.4 us against 0.8 us for Op's ``__init__``: a follower decodes every write)."""
    env: dict[str, Any] = {}
    by_field = {"action": "action", "kind": "kind", "id": "id_", "expected": "expected"}
    by_field |= {"obj": "obj", "base": "None", "changes": "changes", "handed_over": "False"}
    lines = build_lines(Op, env, [by_field[f.name] for f in fields(Op)], "    ")
    source = "def decoded_op(action, kind, id_, expected, obj, changes):\n"
    exec(source + "\n".join(lines) + "\n    return out\n", env)  # Op's own field names
    built: Callable[..., Op] = env["decoded_op"]
    return built


_decoded_op = _decoded_op_builder()


def writes_patch(op: Op) -> bool:
    """Whether ``op`` is written as the fields it changes: an update checked against the
    version of the object it was built from."""
    base, obj = op.base, op.obj
    return (
        op.action is Action.UPDATE
        and base is not None
        and obj is not None
        and op.expected is not None
        and type(base) is type(obj)
        and base.id == obj.id
    )


@dataclass(frozen=True, slots=True)
class Entry:
    proposal_id: str
    timestamp: float
    groups: tuple[tuple[Op, ...], ...]


def encode_op(op: Op, specs: SpecTable, patch: bool | None = None) -> bytes:
    """One operation, packed on its own: its length is what the op costs in an entry
    (a task's besides its spec, which ``specs`` numbers and the entry holds once).
    ``patch``: ``writes_patch(op)``, when the caller knows it already."""
    obj = op.obj
    body: Any
    if writes_patch(op) if patch is None else patch:
        assert op.base is not None and obj is not None
        return _pack([_PATCH, op.kind._value_, op.id, op.expected, changed_fields(op.base, obj)])
    if obj is None:
        body = None
    elif type(obj) is Task:
        body = TASK_ROWS.encode(obj, specs.ref(obj.spec))
    else:
        body = encode_object(obj)
    return _pack([op.action._value_, op.kind._value_, op.id, op.expected, body])


def object_bytes(obj: Object, specs: SpecTable) -> int:
    """What ``obj`` takes written whole (a task with its spec): the size a patch's object
    has, checked against the object budget like that of an object written whole."""
    if type(obj) is Task:
        row = msgpack.packb(TASK_ROWS.encode(obj, 0), use_bin_type=True)
        return len(row) + specs.size_of(obj.spec)
    return len(msgpack.packb(encode_object(obj), use_bin_type=True))


def assemble_entry(
    proposal_id: str,
    timestamp: float,
    groups: Sequence[Sequence[bytes]],
    specs: Sequence[bytes] = (),
    *,
    rows: bool = False,
) -> bytes:
    """The entry whose groups hold these packed ops and whose spec table holds ``specs``
    (packed: ``SpecTable.packed``); ``rows``: its ops hold rows (task patches) besides
    those of the tasks with specs, so it names their layout. msgpack values concatenate,
    so each op and spec is packed once, when its size is checked, and never again."""
    packer = msgpack.Packer(use_bin_type=True)  # one per call: a Packer is not thread-safe
    pack = packer.pack
    parts = [
        packer.pack_map_header(6 if specs else 5 if rows else 4),
        pack("v"),
        pack(ENTRY_FORMAT),
        pack("p"),
        pack(proposal_id),
        pack("t"),
        pack(timestamp),
    ]
    if specs:
        parts += [pack("r"), _LAYOUT, pack("s"), packer.pack_array_header(len(specs)), *specs]
    elif rows:
        parts += [pack("r"), _LAYOUT]
    parts += [pack("g"), packer.pack_array_header(len(groups))]
    for group in groups:
        parts.append(packer.pack_array_header(len(group)))
        parts.extend(group)
    return b"".join(parts)


def encode_entry(entry: Entry) -> bytes:
    specs = SpecTable()
    groups = [[encode_op(op, specs) for op in group] for group in entry.groups]
    rows = has_rows(op for group in entry.groups for op in group)
    return assemble_entry(entry.proposal_id, entry.timestamp, groups, specs.packed, rows=rows)


def has_rows(ops: Iterable[Op]) -> bool:
    """Whether ops written in an entry hold task rows (its layout must be named)."""
    return any(op.kind is ObjectKind.TASK for op in ops)


# enough bytes for the map header, "v", the format, "p" and a proposal id (25 characters)
_HEAD_BYTES = 64
_ENTRY_MAPS = (b"\x84", b"\x85", b"\x86")  # the map headers assemble_entry writes first


# the bytes assemble_entry writes after the map header: "v", the format (a fixint), "p";
# then the proposal id as a fixstr
_HEAD_V = b"\xa1v"
_HEAD_P = b"\xa1p"
_FORMAT_BYTES = frozenset(_READ_FORMATS)
_FIXSTR, _FIXSTR_END = 0xA0, 0xBF


def entry_proposal_id(data: bytes) -> str | None:
    """The proposal id of an entry, read from its first bytes without decoding the rest;
    None when they are not an entry's (decode_entry then says why)."""
    if data[:1] not in _ENTRY_MAPS:  # not an entry
        return None
    # the head as assemble_entry writes it, read in place (an Unpacker's set-up cost more
    # than the rest of a small entry's apply on the leader); any other through msgpack
    if len(data) > 7 and data[1:3] == _HEAD_V and data[3] in _FORMAT_BYTES and data[4:6] == _HEAD_P:
        size = data[6] - _FIXSTR
        if 0 <= size <= _FIXSTR_END - _FIXSTR and len(data) >= 7 + size:
            try:
                return data[7 : 7 + size].decode()
            except UnicodeDecodeError:
                return None
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data[:_HEAD_BYTES])
    try:
        if unpacker.read_map_header() < 2:
            return None
        if unpacker.unpack() != "v" or unpacker.unpack() not in _READ_FORMATS:
            return None
        if unpacker.unpack() != "p":
            return None
        proposal_id = unpacker.unpack()
    except Exception:  # OutOfData, not a map, bad bytes: whatever it is, not ours
        return None
    return proposal_id if isinstance(proposal_id, str) else None


def decode_entry(data: bytes) -> Entry:
    """Decode an entry; EntryDecodeError says what is wrong."""
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:
        raise EntryDecodeError(f"store entry is not msgpack: {exc}") from None
    if not isinstance(raw, dict) or raw.get("v") not in _READ_FORMATS:
        raise EntryDecodeError(f"not a store entry of format 1 or {ENTRY_FORMAT}")
    proposal_id, timestamp, groups = raw.get("p"), raw.get("t"), raw.get("g")
    if not isinstance(proposal_id, str) or not isinstance(timestamp, (int, float)):
        raise EntryDecodeError("store entry lacks its proposal id or timestamp")
    if not isinstance(groups, list):
        raise EntryDecodeError("store entry lacks its groups")
    version = raw["v"]
    rows = _Rows.of(raw) if version != 1 else None
    patches = version >= 3
    return Entry(
        proposal_id,
        float(timestamp),
        tuple(_decode_group(g, i, rows, patches) for i, g in enumerate(groups)),
    )


class _Rows:
    """A format-2 entry's spec table and row layout, to decode its task rows with."""

    def __init__(self, raw_specs: list[Any], layout: Any) -> None:
        self.raw_specs = raw_specs
        self.layout = layout
        self.fast = layout == TASK_ROWS.layout
        # a newer or older writer's rows, reordered into this reader's own layout
        self.translate = None if self.fast else TASK_ROWS.translator(layout)
        self.specs: list[TaskSpec] = []
        for i, item in enumerate(raw_specs):
            try:
                self.specs.append(decode_spec(item, f"s[{i}]"))
            except ObjectDecodeError as exc:
                raise EntryDecodeError(f"store entry's task spec {exc}") from None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> _Rows:
        raw_specs, layout = raw.get("s", []), raw.get("r", {})
        if not isinstance(raw_specs, list) or not isinstance(layout, dict):
            raise EntryDecodeError("store entry's task specs or row layout are malformed")
        return cls(raw_specs, layout)

    def task(self, row: Any) -> Task:
        return decode_task_row(
            row, self.specs, self.raw_specs, self.layout, self.fast, self.translate
        )


def _decode_group(group: Any, gi: int, rows: _Rows | None, patches: bool) -> tuple[Op, ...]:
    if not isinstance(group, list):
        raise EntryDecodeError(f"group {gi}: expected a list of operations")
    return tuple(_decode_op(op, gi, oi, rows, patches) for oi, op in enumerate(group))


# decoding looks values up (an enumeration's call costs a lookup and more); a message
# names where the entry was wrong only when it is (formatted per operation, it was not free)
_ACTIONS: dict[Any, Action] = {a.value: a for a in Action}
_KINDS: dict[Any, ObjectKind] = {k.value: k for k in ObjectKind}


def _where(gi: int, oi: int) -> str:
    return f"group {gi} op {oi}"


def _decode_op(raw: Any, gi: int, oi: int, rows: _Rows | None, patches: bool) -> Op:
    if type(raw) is not list or len(raw) != 5:
        raise EntryDecodeError(f"{_where(gi, oi)}: expected [action, kind, id, expected, object]")
    action_raw, kind_raw, id_, expected, obj_raw = raw
    kind = _KINDS.get(kind_raw) if type(kind_raw) is str else None
    if kind is None:
        raise EntryDecodeError(f"{_where(gi, oi)}: {kind_raw!r} is not a valid ObjectKind")
    if patches and action_raw == _PATCH:
        assert rows is not None  # format 3 has its layout
        # None: this reader's own layout (decode_changes would compare the two maps again
        # for each patch; the entry's are compared once, in _Rows)
        layout = None if rows.fast else rows.layout
        return _decode_patch(kind, id_, expected, obj_raw, layout, gi, oi)
    action = _ACTIONS.get(action_raw) if type(action_raw) is str else None
    if action is None:
        raise EntryDecodeError(f"{_where(gi, oi)}: {action_raw!r} is not a valid Action")
    if type(id_) is not str or not (expected is None or type(expected) is int):
        raise EntryDecodeError(f"{_where(gi, oi)}: bad id or expected version")
    obj: Object | None = None
    if action is not Action.DELETE:
        try:
            if rows is not None and kind is ObjectKind.TASK:
                obj = rows.task(obj_raw)
            else:
                obj = decode_object(kind, obj_raw)
        except (ObjectDecodeError, BadRow) as exc:
            raise EntryDecodeError(f"{_where(gi, oi)}: {exc}") from None
        if obj.id != id_:
            raise EntryDecodeError(f"{_where(gi, oi)}: object id {obj.id!r} differs from {id_!r}")
    return _decoded_op(action, kind, id_, expected, obj, None)


def _decode_patch(
    kind: ObjectKind, id_: Any, expected: Any, raw: Any, layout: Any, gi: int, oi: int
) -> Op:
    if type(id_) is not str or type(expected) is not int:
        raise EntryDecodeError(
            f"{_where(gi, oi)}: a patch needs an id and the version it applies to"
        )
    try:
        changes = decode_changes(kind, raw, layout)
    except ObjectDecodeError as exc:
        raise EntryDecodeError(f"{_where(gi, oi)}: {exc}") from None
    return _decoded_op(Action.UPDATE, kind, id_, expected, None, changes)
