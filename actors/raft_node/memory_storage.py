"""An in-memory Storage: the reference implementation of the Storage protocol.

Used by tests and the simulation; a crash is modelled by dropping the RaftCore and keeping
this object, which then holds exactly what the shell persisted. Entries live in one list
whose first slot is a dummy entry at the snapshot's (index, term), so index arithmetic is
a subtraction and compaction drops a prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.raft_node.types import (
    Compacted,
    ConfState,
    Entry,
    HardState,
    Snapshot,
    SnapshotMetadata,
    StorageError,
    Unavailable,
)

__all__ = ["MemoryStorage"]


class MemoryStorage:
    def __init__(self) -> None:
        self._hard_state = HardState()
        self._snapshot = Snapshot()
        # _ents[0] is a dummy entry at the snapshot's index and term.
        self._ents: list[Entry] = [Entry(index=0, term=0)]
        self.removed_members: frozenset[int] = frozenset()

    def add_removed_members(self, ids: Sequence[int]) -> None:
        self.removed_members |= frozenset(ids)

    # -- read by the core --
    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._hard_state, self._snapshot.metadata.conf_state

    @property
    def hard_state(self) -> HardState:
        return self._hard_state

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def term(self, index: int) -> int:
        offset = self._ents[0].index
        if index < offset:
            raise Compacted(index)
        if index - offset >= len(self._ents):
            raise Unavailable(index)
        return self._ents[index - offset].term

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        offset = self._ents[0].index
        if lo <= offset:
            raise Compacted(lo)
        if hi > self.last_index() + 1:
            raise Unavailable(hi)
        ents = self._ents[lo - offset : hi - offset]
        if max_bytes is None or len(ents) <= 1:
            return ents
        size = len(ents[0].data)
        for i in range(1, len(ents)):
            size += len(ents[i].data)
            if size > max_bytes:
                return ents[:i]
        return ents

    def space_short(self, *, retry: bool = False) -> str | None:
        """Memory never fills up the way a disk does (DurableStorage.space_short)."""
        return None

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # -- written by the shell --
    def apply_snapshot(self, snapshot: Snapshot) -> None:
        if snapshot.metadata.index <= self._snapshot.metadata.index:
            raise StorageError(
                f"snapshot {snapshot.metadata.index} is older than {self._snapshot.metadata.index}"
            )
        self._snapshot = snapshot
        self._ents = [Entry(index=snapshot.metadata.index, term=snapshot.metadata.term)]

    def append(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        first = self.first_index()
        start = entries[0].index
        if entries[-1].index < first:
            return  # entirely covered by the snapshot
        if start < first:
            entries = entries[first - start :]
            start = first
        offset = self._ents[0].index
        if start - offset > len(self._ents):
            raise StorageError(f"gap: appending {start} after {self.last_index()}")
        del self._ents[start - offset :]
        self._ents.extend(entries)

    def set_hard_state(self, hard_state: HardState) -> None:
        self._hard_state = hard_state

    def save(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None = None,
    ) -> None:
        """One Ready's writes, in Ready order (what `DurableStorage.save` does with one
        fsync): the snapshot, then the entries, then the hard state."""
        if snapshot is not None:
            self.apply_snapshot(snapshot)
        if entries:
            self.append(entries)
        if hard_state is not None:
            self.set_hard_state(hard_state)

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        if index <= self._snapshot.metadata.index:
            raise StorageError(f"snapshot at {index} is not newer than the current one")
        if index > self.last_index():
            raise Unavailable(index)
        meta = SnapshotMetadata(index=index, term=self.term(index), conf_state=conf_state)
        self._snapshot = Snapshot(metadata=meta, data=data)
        return self._snapshot

    def compact(self, index: int) -> None:
        offset = self._ents[0].index
        if index <= offset:
            return
        if index > self._snapshot.metadata.index:
            raise StorageError(f"compact({index}) beyond the snapshot")
        if index > self.last_index():
            raise Unavailable(index)
        i = index - offset
        self._ents = [Entry(index=index, term=self._ents[i].term), *self._ents[i + 1 :]]
