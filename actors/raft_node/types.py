"""Values the Raft core, its storage and its I/O shell exchange.

Pure data: no I/O, no clocks. Every value is immutable so it can cross threads and be
kept in histories by the simulation without copying.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from api.objects_init import fast_init

__all__ = [
    "Compacted",
    "ConfChange",
    "ConfChangeType",
    "ConfState",
    "Entry",
    "EntryType",
    "HardState",
    "Message",
    "MessageType",
    "RaftState",
    "Snapshot",
    "SnapshotMetadata",
    "Storage",
    "StorageError",
    "Unavailable",
]


class RaftState(enum.StrEnum):
    """A member's role. The core moves between FOLLOWER, PRE_CANDIDATE, CANDIDATE and
    LEADER (only in its ``_become_*`` methods); LEARNER is how a follower that may not vote
    reports itself. The values are what ``raft.status`` puts on the wire."""

    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"
    LEARNER = "learner"


class EntryType(enum.IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


@fast_init  # built several times for every write (api/objects_init.py)
@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    term: int
    data: bytes = b""
    type: EntryType = EntryType.NORMAL


@fast_init  # built several times for every write (api/objects_init.py)
@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk before a node answers: term, vote and commit index."""

    term: int = 0
    vote: int = 0  # 0 = voted for nobody in this term
    commit: int = 0


@dataclass(frozen=True, slots=True)
class ConfState:
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()


class ConfChangeType(enum.IntEnum):
    ADD_LEARNER = 0  # a new member joins as a non-voting learner
    PROMOTE = 1  # a caught-up learner becomes a voter
    REMOVE = 2  # a voter or learner leaves
    DEMOTE = 3  # a voter becomes a learner


@dataclass(frozen=True, slots=True)
class ConfChange:
    type: ConfChangeType
    node_id: int
    context: bytes = b""  # opaque to Raft: e.g. the new member's address


@dataclass(frozen=True, slots=True)
class SnapshotMetadata:
    index: int = 0
    term: int = 0
    conf_state: ConfState = field(default_factory=ConfState)


@dataclass(frozen=True, slots=True)
class Snapshot:
    metadata: SnapshotMetadata = field(default_factory=SnapshotMetadata)
    data: bytes = b""

    @property
    def is_empty(self) -> bool:
        return self.metadata.index == 0


class MessageType(enum.IntEnum):
    APPEND = 0  # AppendEntries (also the heartbeat when it carries no entries)
    APPEND_RESPONSE = 1
    VOTE = 2
    VOTE_RESPONSE = 3
    PRE_VOTE = 4
    PRE_VOTE_RESPONSE = 5
    SNAPSHOT = 6  # InstallSnapshot
    SNAPSHOT_RESPONSE = 7
    HEARTBEAT = 8
    HEARTBEAT_RESPONSE = 9
    TIMEOUT_NOW = 10  # leadership transfer: start an election at once
    FORWARD_PROPOSAL = 11  # a follower hands client data to the leader


@fast_init  # built several times for every write (api/objects_init.py)
@dataclass(frozen=True, slots=True)
class Message:
    type: MessageType
    src: int
    dst: int
    term: int
    log_term: int = 0  # term of the entry at `index` (AppendEntries prev term, vote last term)
    index: int = 0  # AppendEntries prev index; vote last index; response match/hint index
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0  # on a rejected append: the follower's suggested next index
    snapshot: Snapshot | None = None
    context: bytes = b""  # e.g. a campaign caused by leadership transfer


class StorageError(Exception):
    """Base of the errors storage raises to the core."""


class Compacted(StorageError):
    """The requested index is below the first index kept (it lives in the snapshot)."""


class Unavailable(StorageError):
    """The requested index is above the last index stored."""


class Storage(Protocol):
    """What the core reads from and the shell writes to. Implemented by MemoryStorage
    (actors.raft_node.core) and the durable WAL storage (actors.raft_node.storage).

    Indices: entries run from first_index() to last_index() inclusive; the snapshot covers
    everything up to first_index() - 1. An empty log over snapshot (i, t) has
    first_index() == i + 1 and last_index() == i, and term(i) == t.
    """

    def initial_state(self) -> tuple[HardState, ConfState]: ...

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries with lo <= index < hi; at least one if any, then up to max_bytes of data."""
        ...

    def term(self, index: int) -> int:
        """Term of entry `index`; raises Compacted or Unavailable."""
        ...

    def first_index(self) -> int: ...

    def last_index(self) -> int: ...

    def snapshot(self) -> Snapshot: ...

    # -- written by the shell, in the order Ready documents --
    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log and state with the snapshot (a follower catching up)."""
        ...

    def append(self, entries: list[Entry]) -> None:
        """Append entries, first dropping any stored suffix that starts at entries[0].index."""
        ...

    def set_hard_state(self, hard_state: HardState) -> None: ...

    def save(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None = None,
    ) -> None:
        """All of one Ready at once, in Ready order (`carry_out` calls this): the snapshot,
        the entries, the hard state; durable when it returns."""
        ...

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record a snapshot of the applied state at `index` (<= commit)."""
        ...

    def compact(self, index: int) -> None:
        """Discard entries up to and including `index` (which a snapshot must cover)."""
        ...

    @property
    def removed_members(self) -> frozenset[int]:
        """The Raft ids removed from the group (kept past compaction)."""
        ...

    def add_removed_members(self, ids: Sequence[int]) -> None:
        """Record ``ids`` as removed from the group (durable when it returns)."""
        ...
