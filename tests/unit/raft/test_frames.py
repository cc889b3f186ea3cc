"""Raft traffic cut to fit frames and put back together (actors/raft_node/frames.py): a
peer's messages split into batches within a budget, a batch cut into chunks and assembled
whole, bounded, with offsets checked and a clean restart; the snapshot pacer."""

from __future__ import annotations

import pytest

from actors.raft_node.frames import (
    Chunk,
    ChunkAssembler,
    ChunkRejected,
    SnapshotPacer,
    cut,
    estimated_size,
    split_messages,
)
from actors.raft_node.types import (
    ConfState,
    Entry,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
)
from actors.raft_node.wire import decode_batch, encode_batch

MT = MessageType


def append(index: int, size: int) -> Message:
    return Message(MT.APPEND, 1, 2, 3, index=index, entries=(Entry(index + 1, 3, b"x" * size),))


def snapshot(size: int, index: int = 40) -> Message:
    snap = Snapshot(SnapshotMetadata(index, 3, ConfState((1, 2, 3))), b"s" * size)
    return Message(MT.SNAPSHOT, 1, 2, 3, snapshot=snap)


def chunks(src: int, stream: int, data: bytes, size: int) -> list[Chunk]:
    return [Chunk(src, stream, len(data), off, piece) for off, piece in cut(data, size)]


def test_the_estimate_is_an_upper_bound_of_the_packed_size() -> None:
    for m in (append(1, 10), append(2, 100_000), snapshot(50_000), Message(MT.HEARTBEAT, 1, 2, 3)):
        assert len(encode_batch([m])) <= estimated_size(m) + 8


def test_messages_split_into_batches_within_the_budget_in_order() -> None:
    msgs = [append(i, 1_000) for i in range(100)]
    groups = split_messages(msgs, 10_000)
    assert [m for g in groups for m in g] == msgs
    assert len(groups) > 1
    assert all(len(encode_batch(g)) <= 10_000 for g in groups)
    assert split_messages([], 10_000) == []


def test_a_message_over_the_budget_travels_alone() -> None:
    msgs = [append(1, 10), snapshot(50_000), append(2, 10)]
    groups = split_messages(msgs, 10_000)
    assert [len(g) for g in groups] == [1, 1, 1]


def test_a_cut_batch_is_assembled_whole() -> None:
    batch = encode_batch([snapshot(100_000)])
    assembler = ChunkAssembler(1 << 20)
    pieces = chunks(1, 7, batch, 4_096)
    assert len(pieces) == 25
    assert [assembler.add(c) for c in pieces[:-1]] == [None] * 24
    assert assembler.src == 1 and assembler.received == 24 * 4_096
    whole = assembler.add(pieces[-1])
    assert whole == batch and decode_batch(whole)[0].snapshot == snapshot(100_000).snapshot
    assert assembler.src is None  # nothing kept once delivered


def test_a_gap_abandons_the_assembly_and_a_new_start_succeeds() -> None:
    batch = b"b" * 10_000
    assembler = ChunkAssembler(1 << 20)
    pieces = chunks(1, 1, batch, 1_000)
    assembler.add(pieces[0])
    with pytest.raises(ChunkRejected, match="expected offset 1000: a gap"):
        assembler.add(pieces[2])  # pieces[1] was lost
    assert assembler.src is None
    with pytest.raises(ChunkRejected, match="continues no assembly"):
        assembler.add(pieces[3])
    retry = chunks(1, 2, batch, 1_000)  # the leader's retry: a new stream from offset 0
    results = [assembler.add(c) for c in retry]
    assert results[-1] == batch and results[:-1] == [None] * 9


def test_a_new_stream_replaces_an_unfinished_one() -> None:
    """A new leader's snapshot (or the same leader's retry) restarts cleanly; chunks of the
    replaced stream that still arrive are refused, never mixed in."""
    old, new = b"o" * 5_000, b"n" * 3_000
    assembler = ChunkAssembler(1 << 20)
    old_pieces = chunks(1, 1, old, 1_000)
    assembler.add(old_pieces[0])
    assembler.add(old_pieces[1])
    new_pieces = chunks(2, 1, new, 1_000)
    assert assembler.add(new_pieces[0]) is None and assembler.src == 2
    with pytest.raises(ChunkRejected):
        assembler.add(old_pieces[2])
    assert assembler.add(new_pieces[1]) is None
    assert assembler.add(new_pieces[2]) == new


@pytest.mark.parametrize(
    ("chunk", "reason"),
    [
        (Chunk(1, 1, 2_000, 0, b"x"), "total outside 1..1000 bytes"),
        (Chunk(1, 1, 0, 0, b"x"), "total outside"),
        (Chunk(1, 1, 100, 0, b""), "empty, or outside its total"),
        (Chunk(1, 1, 100, 99, b"xx"), "empty, or outside its total"),
        (Chunk(1, 1, 100, -1, b"x"), "empty, or outside its total"),
    ],
)
def test_chunks_outside_the_bounds_are_refused(chunk: Chunk, reason: str) -> None:
    assembler = ChunkAssembler(1_000)
    with pytest.raises(ChunkRejected, match=reason):
        assembler.add(chunk)
    assert assembler.src is None


def test_memory_follows_what_arrived_not_what_was_claimed() -> None:
    assembler = ChunkAssembler(1 << 30)
    assembler.add(Chunk(1, 1, 1 << 30, 0, b"x" * 10))
    assert assembler.received == 10
    assembler.drop()
    assert assembler.src is None and assembler.received == 0


def test_cut_needs_a_positive_size_and_covers_everything() -> None:
    assert [(o, p) for o, p in cut(b"abcdefg", 3)] == [(0, b"abc"), (3, b"def"), (6, b"g")]
    assert list(cut(b"", 3)) == []
    with pytest.raises(ValueError, match="positive"):
        list(cut(b"abc", 0))


def test_the_pacer_holds_back_the_same_snapshot_while_it_may_be_in_flight() -> None:
    pacer = SnapshotPacer(rate=1_000.0)  # bytes per second
    assert pacer.allow(2, term=3, index=40, size=10_000, now=0.0)  # arrives within 10 s
    assert not pacer.allow(2, term=3, index=40, size=10_000, now=5.0)
    assert pacer.allow(3, term=3, index=40, size=10_000, now=5.0)  # another follower
    assert pacer.allow(2, term=3, index=41, size=10_000, now=5.0)  # a newer snapshot
    assert not pacer.allow(2, term=3, index=41, size=10_000, now=14.0)
    assert pacer.allow(2, term=3, index=41, size=10_000, now=15.0)  # long enough: retry
    assert pacer.allow(2, term=4, index=41, size=10_000, now=15.5)  # a new term
    with pytest.raises(ValueError, match="positive"):
        SnapshotPacer(0)
