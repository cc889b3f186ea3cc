"""The Raft batch encoding across versions (actors/raft_node/wire.py): positions a newer
version appends to a message or a snapshot are skipped, anything short or mistyped is a
`WireError`."""

from __future__ import annotations

import msgpack
import pytest

from actors.raft_node.types import (
    ConfState,
    Entry,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
)
from actors.raft_node.wire import WireError, decode_batch, encode_batch

APPEND = Message(MessageType.APPEND, 1, 2, 3, index=7, entries=(Entry(8, 3, b"x"),), commit=6)
SNAP = Message(
    MessageType.SNAPSHOT,
    1,
    2,
    3,
    snapshot=Snapshot(SnapshotMetadata(40, 3, ConfState((1, 2, 3))), b"state"),
)


def newer(messages: list[Message]) -> bytes:
    """What a newer version with one more position in each message and snapshot sends."""
    raw = msgpack.unpackb(encode_batch(messages), raw=False)
    for m in raw:
        if m[11] is not None:
            m[11].append({"future": 1})
        m.append("a newer field")
    return msgpack.packb(raw, use_bin_type=True)


def test_a_newer_versions_appended_positions_are_skipped() -> None:
    assert decode_batch(newer([APPEND, SNAP])) == [APPEND, SNAP]


@pytest.mark.parametrize(
    "raw",
    [
        [[1, 2, 3]],  # too short
        ["not a message"],
        [[int(MessageType.SNAPSHOT), 1, 2, 3, 0, 0, 0, False, 0, b"", [], [40, 3, [1]]]],
        [[int(MessageType.SNAPSHOT), 1, 2, 3, 0, 0, 0, False, 0, b"", [], "snapshot"]],
    ],
)
def test_short_or_mistyped_messages_are_refused(raw: list[object]) -> None:
    with pytest.raises(WireError):
        decode_batch(msgpack.packb(raw, use_bin_type=True))
