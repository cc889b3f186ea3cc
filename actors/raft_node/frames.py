"""Raft traffic cut to fit frames, and put back together. Pure: the shell does the I/O.

A Ready's messages to one peer used to travel in one frame whatever their size, so a
snapshot of a store past the frame limit, or a burst of appends to a follower catching up,
could never arrive (etcd bounds appends with MaxSizePerMsg; SwarmKit streams a large
snapshot in chunks, splitSnapshotData in manager/state/raft/transport/peer.go).

Sending: `split_messages` groups one peer's messages into batches whose estimated encoded
size stays within a budget (a message larger than the budget travels alone); the
transport (`peers.CurvePeers`) `cut`s a batch larger than the budget into ``raft.chunk``
frames. `SnapshotPacer` keeps a leader from queueing the same snapshot to the same
follower again while its first copy may still be on the way.

Receiving, `ChunkAssembler`, rules:
- one assembly at a time, of at most ``max_bytes``: memory grows with the chunks received,
  never with what a sender claims;
- a chunk at offset 0 starts an assembly, replacing any unfinished one (the same leader
  retrying, or a new leader); the shell ignores one from a member that is not the leader
  it knows, and drops the assembly when the leader changes;
- every other chunk must continue the assembly exactly (same sender, stream and total,
  offset = bytes received so far); a gap abandons it, and the leader's retry starts over;
- the complete batch is handed on like any other frame's batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from actors.raft_node.types import Message

__all__ = [
    "Chunk",
    "ChunkAssembler",
    "ChunkRejected",
    "SnapshotPacer",
    "cut",
    "estimated_size",
    "group_within",
    "split_messages",
]

T = TypeVar("T")

_MESSAGE_OVERHEAD = 64  # the fixed fields of a packed message, generously
_ENTRY_OVERHEAD = 24  # index, term, type and the bin header of one entry


def estimated_size(m: Message) -> int:
    """An upper estimate of the message's packed size (wire.py encoding)."""
    size = _MESSAGE_OVERHEAD + len(m.context)
    for e in m.entries:
        size += len(e.data) + _ENTRY_OVERHEAD
    snap = m.snapshot
    if snap is not None:
        conf = snap.metadata.conf_state
        size += len(snap.data) + _MESSAGE_OVERHEAD + 9 * (len(conf.voters) + len(conf.learners))
    return size


def group_within(items: Sequence[T], size: Callable[[T], int], budget: int) -> list[list[T]]:
    """Consecutive groups of ``items``, in order, each of total ``size`` within ``budget``
    unless it is a single item."""
    groups: list[list[T]] = [[]]
    total = 0
    for item in items:
        n = size(item)
        if groups[-1] and total + n > budget:
            groups.append([])
            total = 0
        groups[-1].append(item)
        total += n
    return groups if groups[0] else []


def split_messages(messages: Sequence[Message], budget: int) -> list[list[Message]]:
    """A peer's messages in batches that fit ``budget`` (a larger message goes alone)."""
    return group_within(messages, estimated_size, budget)


def cut(data: bytes, size: int) -> Iterator[tuple[int, bytes]]:
    """``(offset, piece)`` of ``data`` in pieces of at most ``size`` bytes."""
    if size <= 0:
        raise ValueError("pieces need a positive size")
    view = memoryview(data)
    for offset in range(0, len(data), size):
        yield offset, bytes(view[offset : offset + size])


@dataclass(frozen=True, slots=True)
class Chunk:
    """One ``raft.chunk`` frame: bytes ``[offset, offset + len(data))`` of a batch of
    ``total`` bytes, the ``stream``-th chunked batch ``src`` sent."""

    src: int
    stream: int
    total: int
    offset: int
    data: bytes


class ChunkRejected(ValueError):
    """A chunk that does not fit the assembly; ``reason`` says why (for the log)."""

    def __init__(self, chunk: Chunk, reason: str) -> None:
        super().__init__(
            f"chunk of stream {chunk.stream} from {chunk.src} at offset {chunk.offset} "
            f"(total {chunk.total}): {reason}"
        )
        self.reason = reason


@dataclass(slots=True)
class _Assembly:
    src: int
    stream: int
    total: int
    buffer: bytearray


class ChunkAssembler:
    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._current: _Assembly | None = None

    @property
    def src(self) -> int | None:
        """The sender of the unfinished assembly, if there is one."""
        return None if self._current is None else self._current.src

    @property
    def received(self) -> int:
        return 0 if self._current is None else len(self._current.buffer)

    def drop(self) -> None:
        self._current = None

    def add(self, chunk: Chunk) -> bytes | None:
        """The whole batch once ``chunk`` completes it, else None; ChunkRejected for a
        chunk that does not fit (the assembly is abandoned if the chunk shows a gap)."""
        if not 0 < chunk.total <= self._max_bytes:
            raise ChunkRejected(chunk, f"total outside 1..{self._max_bytes} bytes")
        end = chunk.offset + len(chunk.data)
        if not chunk.data or chunk.offset < 0 or end > chunk.total:
            raise ChunkRejected(chunk, "empty, or outside its total")
        current = self._current
        if chunk.offset == 0:
            current = self._current = _Assembly(
                chunk.src, chunk.stream, chunk.total, bytearray(chunk.data)
            )
        else:
            key = (chunk.src, chunk.stream, chunk.total)
            if current is None or (current.src, current.stream, current.total) != key:
                raise ChunkRejected(chunk, "continues no assembly (lost its start, or replaced)")
            if chunk.offset != len(current.buffer):
                self._current = None
                raise ChunkRejected(
                    chunk, f"expected offset {len(current.buffer)}: a gap, assembly abandoned"
                )
            current.buffer += chunk.data
        if len(current.buffer) < current.total:
            return None
        self._current = None
        return bytes(current.buffer)


class SnapshotPacer:
    """Whether to send a snapshot to a follower now. The core resends one when the
    follower has not acknowledged it within a fixed number of ticks, which knows nothing
    of how long a large snapshot takes to travel; each resend would queue another whole
    copy behind the first. So the same snapshot (term, index) goes to the same follower
    again only ``size / rate`` seconds after it last went; another goes at once."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self._rate = rate
        self._sent: dict[int, tuple[int, int, float]] = {}  # dst -> term, index, until

    def allow(self, dst: int, term: int, index: int, size: int, now: float) -> bool:
        last = self._sent.get(dst)
        if last is not None and last[:2] == (term, index) and now < last[2]:
            return False
        self._sent[dst] = (term, index, now + size / self._rate)
        return True
