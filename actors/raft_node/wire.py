"""The Raft messages of one frame: many `Message`s packed into one msgpack blob.

A ``raft.messages`` frame (api/schema/raft.py) carries its Raft messages as one ``bytes``
field in this encoding, so the hot path packs and unpacks a whole batch with one C call
instead of validating one map per message (the transport codec still validates the
envelope). Like etcd's raftpb payload, it is opaque to the transport.

    batch    = [message, ...]
    message  = [type, src, dst, term, log_term, index, commit, reject, reject_hint,
                context, entries, snapshot]
    entries  = [index, term, type, data, index, term, type, data, ...]   # flat
    snapshot = nil | [index, term, voters, learners, data]

`decode_batch` raises `WireError` naming what is wrong; it never raises anything else.
Positions a newer version appends to a message or a snapshot are skipped (a rolling
upgrade: README, "Upgrading"); an entry's four are fixed, as the flat list needs them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgpack

from actors.raft_node.types import (
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
)

__all__ = ["WireError", "decode_batch", "encode_batch"]

_NORMAL = EntryType.NORMAL
_ENTRY_TYPES = {int(t): t for t in EntryType}
_MESSAGE_TYPES = {int(t): t for t in MessageType}


class WireError(ValueError):
    """A Raft batch that does not decode: the frame is dropped (Raft tolerates loss)."""


def _pack_message(m: Message) -> list[Any]:
    flat: list[Any] = []
    for e in m.entries:
        flat += (e.index, e.term, int(e.type), e.data)
    snap = m.snapshot
    packed_snap = None
    if snap is not None:
        md = snap.metadata
        packed_snap = [
            md.index,
            md.term,
            list(md.conf_state.voters),
            list(md.conf_state.learners),
            snap.data,
        ]
    return [
        int(m.type),
        m.src,
        m.dst,
        m.term,
        m.log_term,
        m.index,
        m.commit,
        m.reject,
        m.reject_hint,
        m.context,
        flat,
        packed_snap,
    ]


def encode_batch(messages: Iterable[Message]) -> bytes:
    data: bytes = msgpack.packb([_pack_message(m) for m in messages], use_bin_type=True)
    return data


def _entries(flat: list[Any]) -> tuple[Entry, ...]:
    if len(flat) % 4:
        raise WireError("entries: expected groups of [index, term, type, data]")
    out = []
    fours = iter(flat)
    for index, term, kind, data in zip(fours, fours, fours, fours, strict=False):  # len % 4 == 0
        if type(index) is not int or type(term) is not int or type(data) is not bytes:
            raise WireError("entries: bad index, term or data")
        out.append(Entry(index, term, data, _NORMAL if kind == 0 else _ENTRY_TYPES[kind]))
    return tuple(out)


def _snapshot(raw: Any) -> Snapshot | None:
    if raw is None:
        return None
    if type(raw) is not list:
        raise WireError("snapshot: not a list")
    index, term, voters, learners, data = raw[:5]
    if not all(type(v) is int for v in (index, term, *voters, *learners)):
        raise WireError("snapshot: bad metadata")
    if type(data) is not bytes:
        raise WireError("snapshot: data is not bytes")
    conf = ConfState(voters=tuple(voters), learners=tuple(learners))
    return Snapshot(SnapshotMetadata(index, term, conf), data)


def decode_batch(data: bytes) -> list[Message]:
    try:
        raw = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
        if type(raw) is not list:
            raise WireError("a Raft batch is a list of messages")
        out = []
        for m in raw:
            if type(m) is not list:
                raise WireError("a Raft message is a list")
            kind, src, dst, term, log_term, index, commit, reject, hint, ctx, ents, snap = m[:12]
            if not (  # no generator: this runs for every message received
                type(src) is int
                and type(dst) is int
                and type(term) is int
                and type(log_term) is int
                and type(index) is int
                and type(commit) is int
                and type(hint) is int
            ):
                raise WireError("message: bad numeric field")
            if type(reject) is not bool or type(ctx) is not bytes:
                raise WireError("message: bad reject or context field")
            out.append(
                Message(
                    type=_MESSAGE_TYPES[kind],
                    src=src,
                    dst=dst,
                    term=term,
                    log_term=log_term,
                    index=index,
                    entries=_entries(ents) if ents else (),
                    commit=commit,
                    reject=reject,
                    reject_hint=hint,
                    snapshot=_snapshot(snap),
                    context=ctx,
                )
            )
        return out
    except WireError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, msgpack.ExtraData) as exc:
        raise WireError(f"undecodable Raft batch: {exc!r}"[:200]) from None
    except Exception as exc:  # msgpack raises a few of its own (FormatError, StackError)
        raise WireError(f"undecodable Raft batch: {exc!r}"[:200]) from None
