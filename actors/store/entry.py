"""The encoding of one store proposal (one Raft entry).

An entry is one msgpack map::

    {"v": 1, "p": proposal id, "t": proposer's clock (float seconds),
     "g": [group, ...]}
    group = [op, ...]                      # applied atomically, or not at all
    op    = [action, kind, id, expected, object | None]

``action`` is ``"create" | "update" | "delete"``; ``kind`` an ``ObjectKind`` value;
``expected`` the version the writer read (``None`` for creates and unchecked deletes;
``CHAINED`` (-1) when an earlier group of the same entry wrote the object, so the
object must carry this entry's index); ``object`` the encoded object (``None`` for
deletes). Groups are independent: one group's conflict does not undo another's.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from actors.store.errors import EntryDecodeError
from api.codec_objects import ObjectDecodeError, decode_object, encode_object
from api.objects import Object, ObjectKind

__all__ = [
    "CHAINED",
    "Action",
    "Entry",
    "Op",
    "assemble_entry",
    "decode_entry",
    "encode_entry",
    "encode_op",
    "entry_proposal_id",
]

ENTRY_FORMAT = 1
CHAINED = -1


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Op:
    action: Action
    kind: ObjectKind
    id: str
    expected: int | None = None
    obj: Object | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    proposal_id: str
    timestamp: float
    groups: tuple[tuple[Op, ...], ...]


def encode_op(op: Op) -> bytes:
    """One operation, packed on its own: its length is what the op costs in an entry."""
    data: bytes = msgpack.packb(
        [
            op.action.value,
            op.kind.value,
            op.id,
            op.expected,
            None if op.obj is None else encode_object(op.obj),
        ],
        use_bin_type=True,
    )
    return data


def assemble_entry(proposal_id: str, timestamp: float, groups: Sequence[Sequence[bytes]]) -> bytes:
    """The entry whose groups hold these packed ops (msgpack values concatenate, so each op
    is packed once, when its size is checked, and never again)."""
    packer = msgpack.Packer(use_bin_type=True)  # one per call: a Packer is not thread-safe
    pack = packer.pack
    parts = [
        packer.pack_map_header(4),
        pack("v"),
        pack(ENTRY_FORMAT),
        pack("p"),
        pack(proposal_id),
        pack("t"),
        pack(timestamp),
        pack("g"),
        packer.pack_array_header(len(groups)),
    ]
    for group in groups:
        parts.append(packer.pack_array_header(len(group)))
        parts.extend(group)
    return b"".join(parts)


def encode_entry(entry: Entry) -> bytes:
    return assemble_entry(
        entry.proposal_id,
        entry.timestamp,
        [[encode_op(op) for op in group] for group in entry.groups],
    )


# enough bytes for the map header, "v", the format, "p" and a proposal id (25 characters)
_HEAD_BYTES = 64
_MAP_OF_4 = b"\x84"


def entry_proposal_id(data: bytes) -> str | None:
    """The proposal id of an entry, read from its first bytes without decoding the rest;
    None when they are not an entry's (decode_entry then says why)."""
    if data[:1] != _MAP_OF_4:  # not an entry (assemble_entry writes a map of 4 first)
        return None
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data[:_HEAD_BYTES])
    try:
        if unpacker.read_map_header() < 2:
            return None
        if unpacker.unpack() != "v" or unpacker.unpack() != ENTRY_FORMAT:
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
    if not isinstance(raw, dict) or raw.get("v") != ENTRY_FORMAT:
        raise EntryDecodeError(f"not a store entry of format {ENTRY_FORMAT}")
    proposal_id, timestamp, groups = raw.get("p"), raw.get("t"), raw.get("g")
    if not isinstance(proposal_id, str) or not isinstance(timestamp, (int, float)):
        raise EntryDecodeError("store entry lacks its proposal id or timestamp")
    if not isinstance(groups, list):
        raise EntryDecodeError("store entry lacks its groups")
    return Entry(
        proposal_id, float(timestamp), tuple(_decode_group(g, i) for i, g in enumerate(groups))
    )


def _decode_group(group: Any, gi: int) -> tuple[Op, ...]:
    if not isinstance(group, list):
        raise EntryDecodeError(f"group {gi}: expected a list of operations")
    return tuple(_decode_op(op, gi, oi) for oi, op in enumerate(group))


def _decode_op(raw: Any, gi: int, oi: int) -> Op:
    where = f"group {gi} op {oi}"
    if not isinstance(raw, list) or len(raw) != 5:
        raise EntryDecodeError(f"{where}: expected [action, kind, id, expected, object]")
    action_raw, kind_raw, id_, expected, obj_raw = raw
    try:
        action = Action(action_raw)
        kind = ObjectKind(kind_raw)
    except ValueError as exc:
        raise EntryDecodeError(f"{where}: {exc}") from None
    if not isinstance(id_, str) or not (expected is None or type(expected) is int):
        raise EntryDecodeError(f"{where}: bad id or expected version")
    obj: Object | None = None
    if action is not Action.DELETE:
        try:
            obj = decode_object(kind, obj_raw)
        except ObjectDecodeError as exc:
            raise EntryDecodeError(f"{where}: {exc}") from None
        if obj.id != id_:
            raise EntryDecodeError(f"{where}: object id {obj.id!r} differs from {id_!r}")
    return Op(action, kind, id_, expected, obj)
