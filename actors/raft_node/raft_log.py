"""The core's view of the log: what storage holds plus what is not yet persisted.

Rules: `unstable` holds entries (and at most one snapshot) handed to the shell in a Ready
but not yet acknowledged by `advance`; they sit after everything in storage. `committed`
only grows; `applied` <= `committed`. Every operation is O(1) per entry touched: no whole
log is ever copied or scanned.
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.raft_node.types import Compacted, Entry, Snapshot, Storage, Unavailable

__all__ = ["RaftLog"]


class RaftLog:
    __slots__ = ("applied", "committed", "offset", "storage", "unstable", "unstable_snapshot")

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.offset = storage.last_index() + 1  # index of unstable[0]
        self.unstable: list[Entry] = []
        self.unstable_snapshot: Snapshot | None = None
        # Entries kept before the snapshot (for slow followers) were applied already.
        snapshot_index = max(storage.snapshot().metadata.index, storage.first_index() - 1)
        self.committed = snapshot_index
        self.applied = snapshot_index

    # -- bounds and terms --
    def first_index(self) -> int:
        if self.unstable_snapshot is not None:
            return self.unstable_snapshot.metadata.index + 1
        return self.storage.first_index()

    def last_index(self) -> int:
        if self.unstable:
            return self.offset + len(self.unstable) - 1
        if self.unstable_snapshot is not None:
            return self.unstable_snapshot.metadata.index
        return self.storage.last_index()

    def term(self, index: int) -> int:
        """Term at `index`; raises Compacted or Unavailable."""
        if index >= self.offset and self.unstable:
            i = index - self.offset
            if i < len(self.unstable):
                return self.unstable[i].term
            raise Unavailable(index)
        snap = self.unstable_snapshot
        if snap is not None:
            if index == snap.metadata.index:
                return snap.metadata.term
            if index < snap.metadata.index:
                raise Compacted(index)
            raise Unavailable(index)
        return self.storage.term(index)

    def term_or_zero(self, index: int) -> int:
        try:
            return self.term(index)
        except (Compacted, Unavailable):
            return 0

    def last_term(self) -> int:
        return self.term_or_zero(self.last_index())

    def match_term(self, index: int, term: int) -> bool:
        return self.term_or_zero(index) == term if index > 0 else term == 0

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """The election restriction (§5.4.1): is a candidate's log at least as recent?"""
        my_term = self.last_term()
        return last_term > my_term or (last_term == my_term and last_index >= self.last_index())

    # -- reading entries --
    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries in [lo, hi); raises Compacted if lo is below the first index."""
        if lo >= hi:
            return []
        if lo < self.first_index():
            raise Compacted(lo)
        out: list[Entry] = []
        if lo < self.offset:
            out = self.storage.entries(lo, min(hi, self.offset), max_bytes)
            if hi <= self.offset or len(out) < min(hi, self.offset) - lo:
                return out
        if hi > self.offset:
            start = max(lo, self.offset) - self.offset
            more = self.unstable[start : hi - self.offset]
            if max_bytes is not None:
                size = sum(len(e.data) for e in out)
                for i, e in enumerate(more):
                    size += len(e.data)
                    if size > max_bytes and (out or i > 0):
                        more = more[:i]
                        break
            out = out + more if out else more
        return out

    def next_committed(self) -> list[Entry]:
        lo = max(self.applied + 1, self.first_index())
        return self.entries(lo, self.committed + 1) if self.committed >= lo else []

    def has_next_committed(self) -> bool:
        return self.committed > self.applied and self.committed >= self.first_index()

    # -- changing the log --
    def append(self, entries: Sequence[Entry]) -> None:
        """Append entries, replacing any suffix that conflicts with entries[0].index."""
        if not entries:
            return
        after = entries[0].index
        if after <= self.committed:
            raise AssertionError(f"appending at {after} would overwrite committed {self.committed}")
        end = self.offset + len(self.unstable)
        if after == end:
            self.unstable.extend(entries)
        elif after <= self.offset:
            # Replaces the unstable part and (once persisted) a suffix of storage.
            self.offset = after
            self.unstable = list(entries)
        else:
            del self.unstable[after - self.offset :]
            self.unstable.extend(entries)

    def find_conflict(self, entries: Sequence[Entry]) -> int:
        """Index of the first entry whose term differs from ours (or is new); 0 if none."""
        last = self.last_index()
        for e in entries:
            if e.index > last or not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """Largest index <= `index` whose term is <= `term` (the fast back-off, §5.3)."""
        index = min(index, self.last_index())
        while index > 0:
            try:
                if self.term(index) <= term:
                    break
            except Compacted:
                break
            index -= 1
        return index

    def maybe_append(
        self, index: int, log_term: int, commit: int, entries: Sequence[Entry]
    ) -> int | None:
        """AppendEntries receiver rules 2-5; returns the last new index or None on mismatch."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        ci = self.find_conflict(entries)
        if ci:
            if ci <= self.committed:
                raise AssertionError(f"entry {ci} conflicts with committed {self.committed}")
            self.append(entries[ci - index - 1 :])
        self.commit_to(min(commit, last_new))
        return last_new

    def commit_to(self, index: int) -> None:
        if index > self.committed:
            if index > self.last_index():
                raise AssertionError(f"commit {index} beyond last index {self.last_index()}")
            self.committed = index

    def restore(self, snapshot: Snapshot) -> None:
        self.committed = snapshot.metadata.index
        self.offset = snapshot.metadata.index + 1
        self.unstable = []
        self.unstable_snapshot = snapshot

    # -- acknowledgements from advance() --
    def stable_to(self, index: int, term: int) -> None:
        if index < self.offset or not self.unstable:
            return
        i = index - self.offset
        if i < len(self.unstable) and self.unstable[i].term == term:
            del self.unstable[: i + 1]
            self.offset = index + 1

    def stable_snapshot_to(self, index: int) -> None:
        if self.unstable_snapshot is not None and self.unstable_snapshot.metadata.index == index:
            self.unstable_snapshot = None

    def applied_to(self, index: int) -> None:
        if index > self.applied:
            self.applied = index
