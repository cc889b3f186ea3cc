"""DurableStorage: the Raft log, hard state and snapshots on disk, served from memory.

Rules (see wal.py and snapshots.py for the file formats):
- Every write method returns only once what it wrote is fsynced. `save` writes all of one
  Ready (snapshot marker, entries, hard state) as ONE WAL record with one write and one
  fsync; a snapshot it carries is written to its own file first (temp, fsync, rename).
- The live log is kept in memory (bounded by compaction); reads never touch the disk.
- Open replays the newest valid snapshot and the WAL: a torn last record of the last
  segment is truncated (logged as raft.storage.tail_truncated); any other damage raises
  WalCorrupted naming the file and byte offset.
- A segment is deleted once the compaction point reaches the last index it was started
  after (everything it holds is then compacted and its header state is repeated later).
- `reencrypt` rewrites everything under the cipher's current key (a rotated data key, as
  SwarmKit re-encrypts through a snapshot), each step durable before the next: a snapshot
  under the new key, the log compacted to it, one new segment holding the header and the
  whole retained log, then every older segment and snapshot deleted. Opened with the old
  and new keys, the directory holds every entry after a crash at any point; once it
  returns, no file is under an older key.
- ``removed`` lists the Raft ids removed from the group (`add_removed_members`, one
  durable file, plain: ids are no secret). A snapshot's configuration says who is a
  member, not who was: this file keeps the answer a removed member must get
  (actors/raft_node/handlers.py) after the log that removed it is compacted away.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgpack
import structlog

from actors.durable import DIR_MODE, FILE_MODE, fsync_dir, write_durable
from actors.raft_node.compaction import KEEP_LOG_BYTES, compact_point
from actors.raft_node.snapshots import (
    SnapshotCorrupted,
    list_snapshots,
    prune_snapshots,
    read_snapshot,
    snapshot_name,
    write_snapshot,
)
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
from actors.raft_node.wal import (
    PREALLOCATE,
    Cipher,
    DecryptFailed,
    SegmentWriter,
    WalCorrupted,
    encode_batch,
    encode_compact,
    encode_header,
    frame,
)
from actors.raft_node.wal_replay import replay_wal

__all__ = [
    "Cipher",
    "DecryptFailed",
    "DurableStorage",
    "SnapshotCorrupted",
    "SnapshotMissing",
    "SnapshotOutOfDate",
    "StorageLocked",
    "WalCorrupted",
]

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
LOCK_FILE = "LOCK"
REMOVED_FILE = "removed"  # the Raft ids removed from the group, a msgpack list


class StorageLocked(StorageError):
    """Another DurableStorage (in this or another process) holds the directory."""


class SnapshotOutOfDate(StorageError):
    """A snapshot to create or apply is not newer than the one already stored."""


class SnapshotMissing(StorageError):
    """The WAL was compacted past every valid snapshot file: the prefix is gone."""


class DurableStorage:
    """The `Storage` protocol on disk. Create it with `DurableStorage.open(...)`."""

    def __init__(
        self,
        directory: Path,
        lock_fd: int,
        *,
        segment_bytes: int,
        log_entries_for_slow_followers: int,
        log_bytes_for_slow_followers: int,
        keep_snapshots: int,
        cipher: Cipher | None,
        logger: Any,
    ) -> None:
        self._dir = directory
        self._lock_fd = lock_fd
        self._segment_bytes = segment_bytes
        self._keep_entries = log_entries_for_slow_followers
        self._keep_bytes = log_bytes_for_slow_followers
        self._keep_snapshots = keep_snapshots
        self._cipher = cipher
        self._log = logger
        self._hard_state = HardState()
        self._bootstrap = ConfState()
        self._snapshot = Snapshot()
        # The log: entries offset+1 .. offset+len(_ents); term(offset) == _offset_term.
        self._offset = 0
        self._offset_term = 0
        self._ents: list[Entry] = []
        self._segments: list[tuple[int, int, Path]] = []  # (seq, first_index, path)
        self._writer: SegmentWriter | None = None
        self._removed: frozenset[int] = frozenset()

    # -- lifecycle -------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: str | Path,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        log_entries_for_slow_followers: int = 500,
        log_bytes_for_slow_followers: int = KEEP_LOG_BYTES,
        keep_snapshots: int = 2,
        cipher: Cipher | None = None,
        initial_conf_state: ConfState | None = None,
        logger: Any = None,
    ) -> DurableStorage:
        """Open (creating it if needed) the storage in `directory` and restore its state.

        `initial_conf_state` is the bootstrap membership, stored only when the directory is
        new; `initial_state()` returns it until a snapshot carries a newer one. The
        directory is locked (flock) until `close()`.
        """
        path = Path(directory)
        if not path.is_dir():
            path.mkdir(parents=True, mode=DIR_MODE)
            fsync_dir(path.parent)
        lock_fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(lock_fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise StorageLocked(f"{path} is in use by another storage") from exc
            raise
        log = logger
        if log is None:
            log = structlog.get_logger().bind(subsystem="raft.storage")
        storage = cls(
            path,
            lock_fd,
            segment_bytes=segment_bytes,
            log_entries_for_slow_followers=log_entries_for_slow_followers,
            log_bytes_for_slow_followers=log_bytes_for_slow_followers,
            keep_snapshots=keep_snapshots,
            cipher=cipher,
            logger=log,
        )
        try:
            storage._recover(initial_conf_state or ConfState())
        except BaseException:
            storage.close()
            raise
        return storage

    def close(self) -> None:
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.close()  # cuts the zeros written ahead: an fdatasync that may fail
        finally:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = -1

    def __enter__(self) -> DurableStorage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reads (Storage protocol) ----------------------------------------------------

    def initial_state(self) -> tuple[HardState, ConfState]:
        conf = self._bootstrap if self._snapshot.is_empty else self._snapshot.metadata.conf_state
        return self._hard_state, conf

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        if lo <= self._offset:
            raise Compacted(f"entry {lo} is compacted (first index {self._offset + 1})")
        if hi > self.last_index() + 1:
            raise Unavailable(f"entry {hi - 1} is beyond the last index {self.last_index()}")
        if lo > hi:
            raise ValueError(f"lo {lo} > hi {hi}")
        ents = self._ents[lo - self._offset - 1 : hi - self._offset - 1]
        if max_bytes is None or not ents:
            return ents
        total = len(ents[0].data)
        for i in range(1, len(ents)):
            total += len(ents[i].data)
            if total > max_bytes:
                return ents[:i]
        return ents

    def term(self, index: int) -> int:
        offset = self._offset
        if index > offset and index - offset <= len(self._ents):  # the usual case first
            return self._ents[index - offset - 1].term
        if index == offset:
            return self._offset_term
        if index < offset:
            raise Compacted(f"entry {index} is compacted (first index {offset + 1})")
        raise Unavailable(f"entry {index} is beyond the last index {self.last_index()}")

    def first_index(self) -> int:
        return self._offset + 1

    def last_index(self) -> int:
        return self._offset + len(self._ents)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # -- writes ----------------------------------------------------------------------

    def save(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None = None,
    ) -> None:
        """Persist one Ready with one WAL write and one fsync, applied in Ready order:
        the snapshot (replacing the whole log), then the entries (replacing any stored
        suffix from entries[0].index; entries at or below the compaction point are
        skipped), then the hard state. Raises ValueError on entries that are not
        contiguous, StorageError on entries leaving a gap after the last index and
        SnapshotOutOfDate on a snapshot not newer than the stored one."""
        offset, last = self._offset, self.last_index()
        point: tuple[int, int] | None = None
        if snapshot is not None and not snapshot.is_empty:
            if snapshot.metadata.index <= self._snapshot.metadata.index:
                raise SnapshotOutOfDate(
                    f"snapshot {snapshot.metadata.index} is not newer than "
                    f"{self._snapshot.metadata.index}"
                )
            point = (snapshot.metadata.index, snapshot.metadata.term)
            offset = last = point[0]
        if entries:
            first = entries[0].index
            if entries[-1].index - first + 1 != len(entries):
                raise ValueError("entries are not contiguous")
            if first > last + 1:
                raise StorageError(f"gap: entries start at {first}, after last index {last}")
            if first <= offset:
                entries = entries[offset + 1 - first :]
        if hard_state is None and not entries and point is None:
            return
        if snapshot is not None and point is not None:
            path = write_snapshot(self._dir, snapshot, self._cipher)
            self._log.info("raft.storage.snapshot_written", path=str(path), index=point[0])
        self._append_record(frame(encode_batch(hard_state, point, entries), self._cipher))
        if snapshot is not None and point is not None:
            self._snapshot = snapshot
            self._reset(point[0], point[1])
        if entries:
            self._splice(entries)
        if hard_state is not None:
            self._hard_state = hard_state
        if point is not None:
            self._delete_covered_segments()
            self._prune_snapshots()

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        self.save(None, [], snapshot)

    def append(self, entries: list[Entry]) -> None:
        self.save(None, entries)

    def set_hard_state(self, hard_state: HardState) -> None:
        self.save(hard_state, [])

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Write a snapshot of the applied state at `index` to its own file (atomically);
        the log is unchanged until `compact`. Keeps the newest `keep_snapshots` files."""
        if index <= self._snapshot.metadata.index:
            raise SnapshotOutOfDate(
                f"snapshot {index} is not newer than {self._snapshot.metadata.index}"
            )
        snapshot = Snapshot(SnapshotMetadata(index, self.term(index), conf_state), data)
        self.write_snapshot_file(snapshot)
        self.adopt_snapshot(snapshot)
        return snapshot

    def write_snapshot_file(self, snapshot: Snapshot) -> None:
        """The first half of `create_snapshot`, safe on another thread (it reads only the
        directory and cipher): the snapshot's file, durable. Nothing uses it until
        `adopt_snapshot` (on a restart, `open` may: it is a valid snapshot of the log)."""
        path = write_snapshot(self._dir, snapshot, self._cipher)
        self._log.info(
            "raft.storage.snapshot_written", path=str(path), index=snapshot.metadata.index
        )

    def adopt_snapshot(self, snapshot: Snapshot) -> None:
        """The second half: the snapshot whose file `write_snapshot_file` wrote becomes
        the storage's (served to followers, covering `compact`); older files pruned."""
        if snapshot.metadata.index <= self._snapshot.metadata.index:
            raise SnapshotOutOfDate(
                f"snapshot {snapshot.metadata.index} is not newer than "
                f"{self._snapshot.metadata.index}"
            )
        self._snapshot = snapshot
        self._prune_snapshots()

    def reencrypt(self, index: int, conf_state: ConfState, data: bytes | None) -> None:
        """Rewrite the directory under the cipher's current key (see the module docstring):
        `data` is the applied state at `index` for a new snapshot (None: nothing was
        applied since the stored snapshot, which is rewritten as it is)."""
        if data is not None and index > self._snapshot.metadata.index:
            self.create_snapshot(index, conf_state, data)
            self.compact(index)
        elif not self._snapshot.is_empty:
            path = write_snapshot(self._dir, self._snapshot, self._cipher)  # atomic replace
            self._log.info("raft.storage.snapshot_rewritten", path=str(path))
        writer = self._writer
        if writer is None:
            raise StorageError("storage is closed")
        # the new segment starts after the compaction point: it holds the whole log
        seq, first = writer.seq + 1, self._offset + 1
        body = frame(encode_batch(None, None, self._ents), self._cipher) if self._ents else b""
        fresh = SegmentWriter.create(
            self._dir, seq, first, self._header(seq), body, segment_bytes=self._segment_bytes
        )
        writer.close()
        doomed, self._segments = self._segments, [(seq, first, fresh.path)]
        self._writer = fresh
        kept = self._snapshot_path()
        doomed_snaps = [path for _, _, path in list_snapshots(self._dir) if path != kept]
        for _, _, path in doomed:  # oldest first: what is left is always a suffix
            path.unlink()
        for path in doomed_snaps:
            path.unlink()
        fsync_dir(self._dir)
        self._log.info(
            "raft.storage.reencrypted",
            segment=str(fresh.path),
            entries=len(self._ents),
            deleted=[str(p) for _, _, p in doomed] + [str(p) for p in doomed_snaps],
        )

    def _snapshot_path(self) -> Path | None:
        if self._snapshot.is_empty:
            return None
        meta = self._snapshot.metadata
        return self._dir / snapshot_name(meta.index, meta.term)

    def compact(self, index: int) -> None:
        """Drop the entries up to `index` but the last `log_entries_for_slow_followers`
        of them, and but the last `log_bytes_for_slow_followers` bytes of them (they stay
        for slow followers: compaction.compact_point); a no-op when that is at or below
        the compaction point. `index` must be covered by the snapshot."""
        if index > self._snapshot.metadata.index:
            raise StorageError(
                f"cannot compact to {index}: the snapshot covers only "
                f"{self._snapshot.metadata.index}"
            )
        offset = self._offset
        sizes = [len(e.data) for e in self._ents[: index - offset]]
        target = compact_point(index, offset, sizes, self._keep_entries, self._keep_bytes)
        if target <= offset:
            return
        term = self.term(target)
        self._append_record(frame(encode_compact(target, term), self._cipher))
        self._compact_to(target, term)
        self._delete_covered_segments()

    # -- in-memory log, shared by the write methods and replay ----------------------

    def _reset(self, index: int, term: int) -> None:
        self._offset, self._offset_term, self._ents = index, term, []

    def _splice(self, entries: Sequence[Entry]) -> None:
        del self._ents[entries[0].index - self._offset - 1 :]
        self._ents.extend(entries)

    def _compact_to(self, index: int, term: int) -> None:
        del self._ents[: index - self._offset]
        self._offset, self._offset_term = index, term

    def space_short(self, *, retry: bool = False) -> str | None:
        """Why the log has no room left for new writes (its disk is full), or None.
        ``retry``: first try again to make room (the zeros ahead of the records)."""
        writer = self._writer
        if writer is None:
            return None
        if writer.short_of_space and retry:
            writer.extend_zeros()
        if not writer.short_of_space and writer.segment_bytes - writer.size >= PREALLOCATE:
            return None  # room ahead in this segment: no statvfs on every write's path
        free = _free_bytes(self._dir)
        if writer.short_of_space:
            # the zeros ahead take what is freed as it is freed: the disk shows 0 bytes
            # free until they have their room, so say what is still missing
            missing = PREALLOCATE - (writer.allocated - writer.size)
        else:
            missing = 2 * PREALLOCATE - free  # the next segment's zeros need the room
            if missing <= 0:
                return None
        return (
            f"no space left on the disk of the Raft log in {self._dir} ({free} bytes free; "
            f"it needs {max(missing, 1)} more ahead of its log): this manager refuses writes "
            "until space is freed"
        )

    # -- WAL -------------------------------------------------------------------------

    def _append_record(self, data: bytes) -> None:
        writer = self._writer
        if writer is None:
            raise StorageError("storage is closed")
        if writer.size > writer.header_size and writer.size + len(data) > self._segment_bytes:
            writer = self._rotate(writer)
        writer.write(data)

    def _header(self, seq: int) -> bytes:
        last = self.last_index()
        record = encode_header(
            seq,
            self._hard_state,
            (self._offset, self._offset_term),
            (last, self.term(last)),
            (self._bootstrap.voters, self._bootstrap.learners),
        )
        return frame(record, self._cipher)

    def _rotate(self, old: SegmentWriter) -> SegmentWriter:
        seq, first = old.seq + 1, self.last_index() + 1
        writer = SegmentWriter.create(
            self._dir, seq, first, self._header(seq), segment_bytes=self._segment_bytes
        )
        old.close()
        self._writer = writer
        self._segments.append((seq, first, writer.path))
        self._log.info("raft.storage.segment_rotated", path=str(writer.path), first_index=first)
        return writer

    def _delete_covered_segments(self) -> None:
        """Delete the oldest segments up to the newest one whose successor started at or
        below the compaction point: replay from that successor loses nothing."""
        cut = 0
        for j in range(1, len(self._segments)):
            if self._segments[j][1] - 1 <= self._offset:
                cut = j
        if not cut:
            return
        doomed, self._segments = self._segments[:cut], self._segments[cut:]
        for _, _, path in doomed:
            path.unlink()
        fsync_dir(self._dir)
        self._log.info(
            "raft.storage.segments_deleted",
            paths=[str(p) for _, _, p in doomed],
            compacted_to=self._offset,
        )

    def _prune_snapshots(self) -> None:
        for path in prune_snapshots(self._dir, self._keep_snapshots):
            self._log.info("raft.storage.snapshot_pruned", path=str(path))

    # -- recovery --------------------------------------------------------------------

    # -- removed members ---------------------------------------------------------------

    @property
    def removed_members(self) -> frozenset[int]:
        """The Raft ids removed from the group so far (as this member applied it)."""
        return self._removed

    def add_removed_members(self, ids: Sequence[int]) -> None:
        """Record ``ids`` as removed (durably; nothing written when none is new)."""
        removed = self._removed | frozenset(ids)
        if removed == self._removed:
            return
        write_durable(self._dir / REMOVED_FILE, msgpack.packb(sorted(removed)), mode=FILE_MODE)
        self._removed = removed

    def _read_removed(self) -> frozenset[int]:
        try:
            data = (self._dir / REMOVED_FILE).read_bytes()
        except FileNotFoundError:
            return frozenset()
        try:
            ids = msgpack.unpackb(data)
        except ValueError:
            ids = None
        if not isinstance(ids, list) or not all(type(i) is int for i in ids):
            raise StorageError(f"{self._dir / REMOVED_FILE}: not a list of Raft ids")
        return frozenset(ids)

    def _recover(self, initial_conf_state: ConfState) -> None:
        self._removed = self._read_removed()
        for tmp in self._dir.glob("*.tmp"):
            tmp.unlink()
            self._log.warning("raft.storage.temp_removed", path=str(tmp))
        replayed = replay_wal(self._dir, self._cipher, self._log)
        if not replayed.segments:
            if list_snapshots(self._dir):
                raise SnapshotMissing(f"{self._dir}: snapshot files but no WAL segment")
            self._bootstrap = initial_conf_state
            self._writer = SegmentWriter.create(
                self._dir, 0, 1, self._header(0), segment_bytes=self._segment_bytes
            )
            self._segments = [(0, 1, self._writer.path)]
            self._log.info("raft.storage.created", directory=str(self._dir))
            return
        self._hard_state, self._bootstrap = replayed.hard_state, replayed.bootstrap
        self._offset, self._offset_term = replayed.offset, replayed.offset_term
        self._ents, self._segments = replayed.entries, replayed.segments
        seq, first, path = self._segments[-1]
        self._writer = SegmentWriter(
            path,
            seq,
            first,
            replayed.tail_size,
            replayed.tail_header_size,
            segment_bytes=self._segment_bytes,
        )
        self._restore_snapshot()
        # Everything a snapshot covers is committed, even if the crash came between
        # apply_snapshot and set_hard_state.
        self._hard_state = replace(
            self._hard_state, commit=max(self._hard_state.commit, self._offset)
        )
        self._delete_covered_segments()
        self._log.info(
            "raft.storage.opened",
            directory=str(self._dir),
            first_index=self.first_index(),
            last_index=self.last_index(),
            snapshot_index=self._snapshot.metadata.index,
            segments=len(self._segments),
        )

    def _restore_snapshot(self) -> None:
        """Load the newest valid snapshot and reconcile it with the replayed log."""
        snapshot = None
        for _, _, path in reversed(list_snapshots(self._dir)):
            try:
                snapshot = read_snapshot(path, self._cipher)
                break
            except SnapshotCorrupted as exc:
                self._log.error("raft.storage.snapshot_corrupt", path=str(path), reason=exc.reason)
        if snapshot is None:
            if self._offset:
                raise SnapshotMissing(f"{self._dir}: no valid snapshot covers index {self._offset}")
            return
        index, term = snapshot.metadata.index, snapshot.metadata.term
        if index < self._offset or (index == self._offset and term != self._offset_term):
            raise SnapshotMissing(f"{self._dir}: no valid snapshot covers index {self._offset}")
        self._snapshot = snapshot
        if index == self._offset or (index <= self.last_index() and self.term(index) == term):
            return
        # The snapshot file of an apply_snapshot is on disk but its WAL record is not:
        # finish applying it, durably.
        self._log.warning("raft.storage.snapshot_reapplied", index=index, term=term)
        self._append_record(frame(encode_batch(None, (index, term), []), self._cipher))
        self._reset(index, term)
        self._delete_covered_segments()


def _free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer may still use on ``directory``'s file system."""
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize
