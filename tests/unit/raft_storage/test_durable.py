"""DurableStorage: round trips across reopen, segments, snapshots and compaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.raft_node.snapshots import list_snapshots, snapshot_name
from actors.raft_node.storage import (
    DurableStorage,
    SnapshotMissing,
    SnapshotOutOfDate,
    StorageLocked,
)
from actors.raft_node.types import (
    Compacted,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Snapshot,
    SnapshotMetadata,
    StorageError,
    Unavailable,
)
from actors.raft_node.wal import list_segments
from tests.unit.raft_storage.conftest import Opener, ents

CONF = ConfState(voters=(1, 2, 3))


def test_fresh_directory_is_empty_log_with_bootstrap_conf(open_storage: Opener) -> None:
    s = open_storage(initial_conf_state=CONF)
    assert (s.first_index(), s.last_index(), s.term(0)) == (1, 0, 0)
    assert s.initial_state() == (HardState(), CONF)
    assert s.snapshot().is_empty
    s.close()
    # The bootstrap conf state is kept; a different one passed later is ignored.
    s = open_storage(initial_conf_state=ConfState(voters=(9,)))
    assert s.initial_state() == (HardState(), CONF)


def test_round_trip_across_reopen(open_storage: Opener) -> None:
    s = open_storage()
    conf_entry = Entry(4, 2, b"change", EntryType.CONF_CHANGE)
    s.append(ents(1, 3))
    s.save(HardState(2, 1, 3), [conf_entry, *ents(5, 6, term=2)])
    s.set_hard_state(HardState(2, 1, 5))
    s.close()
    s = open_storage()
    assert s.entries(1, 7) == [*ents(1, 3), conf_entry, *ents(5, 6, term=2)]
    assert s.entries(4, 5)[0].type is EntryType.CONF_CHANGE
    assert s.initial_state()[0] == HardState(2, 1, 5)
    assert [s.term(i) for i in range(7)] == [0, 1, 1, 1, 2, 2, 2]


def test_append_replaces_conflicting_suffix_across_reopen(open_storage: Opener) -> None:
    s = open_storage()
    s.append(ents(1, 10))
    s.append(ents(6, 7, term=2))
    assert s.last_index() == 7
    s.close()
    s = open_storage()
    assert s.entries(1, 8) == [*ents(1, 5), *ents(6, 7, term=2)]
    s.append(ents(8, 9, term=2))
    s.close()
    assert open_storage().entries(1, 10) == [*ents(1, 5), *ents(6, 9, term=2)]


def test_append_rejects_gap_and_skips_compacted_prefix(open_storage: Opener) -> None:
    s = open_storage(log_entries_for_slow_followers=0)
    s.append(ents(1, 5))
    with pytest.raises(StorageError):
        s.append(ents(7, 8))
    with pytest.raises(ValueError):
        s.append([Entry(6, 1), Entry(8, 1)])
    s.create_snapshot(3, CONF, b"s")
    s.compact(3)
    s.append(ents(2, 6, term=1))  # 2..3 are compacted and skipped
    assert (s.first_index(), s.last_index()) == (4, 6)


def test_entries_max_bytes_returns_at_least_one(open_storage: Opener) -> None:
    s = open_storage()
    s.append(ents(1, 5, size=10))
    assert s.entries(1, 6, max_bytes=0) == ents(1, 1, size=10)
    assert s.entries(1, 6, max_bytes=25) == ents(1, 2, size=10)
    assert s.entries(1, 6, max_bytes=10_000) == ents(1, 5, size=10)
    assert s.entries(3, 3) == []


def test_compacted_and_unavailable(open_storage: Opener) -> None:
    s = open_storage(log_entries_for_slow_followers=0)
    s.append(ents(1, 10))
    with pytest.raises(Unavailable):
        s.term(11)
    with pytest.raises(Unavailable):
        s.entries(5, 12)
    with pytest.raises(Unavailable):
        s.create_snapshot(11, CONF, b"")
    s.create_snapshot(6, CONF, b"")
    s.compact(6)
    assert s.term(6) == 1
    with pytest.raises(Compacted):
        s.term(5)
    with pytest.raises(Compacted):
        s.entries(6, 8)
    assert s.entries(7, 8) == ents(7, 7)
    with pytest.raises(StorageError):
        s.compact(8)  # beyond the snapshot


def test_compaction_keeps_entries_for_slow_followers(open_storage: Opener) -> None:
    s = open_storage(log_entries_for_slow_followers=5)
    s.append(ents(1, 30))
    s.compact(0)  # no snapshot covers anything: index 0 is fine and a no-op
    snap = s.create_snapshot(20, CONF, b"state")
    assert snap.metadata == SnapshotMetadata(20, 1, CONF)
    s.compact(20)
    # Entries up to 20 - 5 = 15 are dropped; 16..20 stay before the snapshot index.
    assert (s.first_index(), s.last_index(), s.term(15)) == (16, 30, 1)
    s.compact(20)  # again: a no-op
    s.close()
    s = open_storage(log_entries_for_slow_followers=5)
    assert (s.first_index(), s.last_index()) == (16, 30)
    assert s.entries(16, 31) == ents(16, 30)
    assert s.snapshot() == snap
    assert s.initial_state()[1] == CONF


def test_segments_rotate_and_are_deleted_once_compacted(
    open_storage: Opener, wal_dir: Path
) -> None:
    s = open_storage(segment_bytes=1024, log_entries_for_slow_followers=10)
    for lo in range(1, 400, 10):
        s.save(HardState(1, 1, lo + 9), ents(lo, lo + 9))
    segments = list_segments(wal_dir)
    assert len(segments) > 5
    assert [seq for seq, _, _ in segments] == list(range(len(segments)))
    for seq, first, path in segments:
        assert path.name == f"wal-{seq:016x}-{first:016x}.log"
        assert path.stat().st_size <= 1024 + 400  # one batch may cross the limit
    s.create_snapshot(300, CONF, b"state")
    s.compact(300)
    left = list_segments(wal_dir)
    assert left[-1] == segments[-1]
    # Every segment that is left is needed: the first one starts after index 290.
    assert left[0][1] - 1 <= 290 and (len(left) == 1 or left[1][1] - 1 > 290)
    assert len(left) < len(segments)
    s.close()
    s = open_storage(segment_bytes=1024, log_entries_for_slow_followers=10)
    assert (s.first_index(), s.last_index()) == (291, 400)
    assert s.entries(291, 401) == ents(291, 400)
    assert s.initial_state()[0] == HardState(1, 1, 400)
    # Writing goes on in the last segment and the state survives another reopen.
    s.append(ents(401, 450))
    s.close()
    assert open_storage(segment_bytes=1024).entries(291, 451) == ents(291, 450)


def test_hard_state_survives_deletion_of_the_segment_that_wrote_it(
    open_storage: Opener, wal_dir: Path
) -> None:
    s = open_storage(segment_bytes=512, log_entries_for_slow_followers=0)
    s.set_hard_state(HardState(7, 3, 0))
    for lo in range(1, 200, 10):
        s.append(ents(lo, lo + 9, term=7))
    s.create_snapshot(200, CONF, b"")
    s.compact(200)
    assert len(list_segments(wal_dir)) == 1
    s.close()
    s = open_storage()
    assert s.initial_state()[0] == HardState(7, 3, 200)  # commit covers the snapshot
    assert (s.first_index(), s.last_index(), s.term(200)) == (201, 200, 7)


def test_apply_snapshot_replaces_log_and_survives_reopen(open_storage: Opener) -> None:
    s = open_storage(segment_bytes=600)
    s.append(ents(1, 50))
    snap = Snapshot(SnapshotMetadata(100, 5, ConfState((1, 2), (4,))), b"leader state")
    s.save(HardState(5, 2, 100), ents(101, 103, term=5), snap)
    assert (s.first_index(), s.last_index(), s.term(100)) == (101, 103, 5)
    with pytest.raises(SnapshotOutOfDate):
        s.apply_snapshot(snap)
    s.close()
    s = open_storage()
    assert s.snapshot() == snap
    assert s.initial_state() == (HardState(5, 2, 100), ConfState((1, 2), (4,)))
    assert s.entries(101, 104) == ents(101, 103, term=5)
    with pytest.raises(Compacted):
        s.term(99)


def test_snapshot_without_its_wal_record_is_applied_on_open(
    open_storage: Opener, wal_dir: Path
) -> None:
    """A crash between writing an applied snapshot's file and its WAL record."""
    s = open_storage()
    s.append(ents(1, 5))
    s.set_hard_state(HardState(1, 1, 2))
    s.close()
    from actors.raft_node.snapshots import write_snapshot

    snap = Snapshot(SnapshotMetadata(20, 3, CONF), b"from the leader")
    write_snapshot(wal_dir, snap, None)
    s = open_storage()
    assert (s.first_index(), s.last_index(), s.snapshot()) == (21, 20, snap)
    assert s.initial_state()[0] == HardState(1, 1, 20)
    s.append(ents(21, 22, term=3))
    s.close()
    s = open_storage()
    assert s.entries(21, 23) == ents(21, 22, term=3)


def test_snapshot_files_atomic_pruned_and_temp_files_cleaned(
    open_storage: Opener, wal_dir: Path
) -> None:
    s = open_storage(log_entries_for_slow_followers=0)
    s.append(ents(1, 40))
    for index in (10, 20, 30):
        s.create_snapshot(index, CONF, b"at %d" % index)
    with pytest.raises(SnapshotOutOfDate):
        s.create_snapshot(25, CONF, b"")
    assert [i for i, _, _ in list_snapshots(wal_dir)] == [20, 30]  # newest two kept
    s.compact(30)
    s.close()
    # A crash while writing a newer snapshot leaves only its temp file: ignored, removed.
    temp = wal_dir / (snapshot_name(40, 1) + ".tmp")
    temp.write_bytes(b"half a snapshot")
    (wal_dir / "wal-0000000000000009-0000000000000041.log.tmp").write_bytes(b"\x00")
    s = open_storage()
    assert not list(wal_dir.glob("*.tmp"))
    assert s.snapshot().metadata.index == 30 and s.snapshot().data == b"at 30"


def test_corrupt_newest_snapshot_falls_back_only_if_log_still_covers(
    open_storage: Opener, wal_dir: Path
) -> None:
    s = open_storage(log_entries_for_slow_followers=15)
    s.append(ents(1, 40))
    s.create_snapshot(10, CONF, b"old")
    s.create_snapshot(20, CONF, b"new")
    s.compact(20)  # drops up to 5: the older snapshot still covers the log's start
    s.close()
    newest = list_snapshots(wal_dir)[-1][2]
    newest.write_bytes(newest.read_bytes()[:-1] + b"!")
    s = open_storage()
    assert s.snapshot().data == b"old" and s.first_index() == 6
    s.create_snapshot(30, CONF, b"newer")
    s.compact(30)  # drops up to 15: no snapshot but the newest covers it now
    s.close()
    newest = list_snapshots(wal_dir)[-1][2]
    newest.write_bytes(b"garbage!" * 4)
    with pytest.raises(SnapshotMissing):
        open_storage()


def test_directory_is_locked_while_open(open_storage: Opener) -> None:
    s = open_storage()
    with pytest.raises(StorageLocked):
        DurableStorage.open(s._dir)
    s.close()
    with DurableStorage.open(s._dir) as again:
        assert again.last_index() == 0


def test_save_with_nothing_writes_nothing(open_storage: Opener, wal_dir: Path) -> None:
    s = open_storage()
    (_, _, path) = list_segments(wal_dir)[0]
    size = path.stat().st_size
    s.save(None, [])
    s.append([])
    assert path.stat().st_size == size


def test_save_is_one_write_and_one_fsync(
    open_storage: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    s = open_storage()
    calls: list[str] = []
    real_write, real_pwrite = os.write, os.pwrite
    real_fdatasync, real_fsync = os.fdatasync, os.fsync

    def write(fd: int, data: bytes) -> int:
        calls.append("write")
        return real_write(fd, data)

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        calls.append("write")
        return real_pwrite(fd, data, offset)

    def fdatasync(fd: int) -> None:
        calls.append("sync")
        real_fdatasync(fd)

    def fsync(fd: int) -> None:
        calls.append("sync")
        real_fsync(fd)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "pwrite", pwrite)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "fsync", fsync)
    s.save(HardState(1, 1, 0), ents(1, 300))
    # zeros written ahead (wal.py), the record, its fsync, then zeros to keep
    # PREALLOCATE bytes ahead of the records (their fsync is the next record's)
    assert calls == ["write", "write", "sync", "write"]
    calls.clear()
    s.save(HardState(1, 1, 0), ents(301, 600))
    assert calls == ["write", "sync"]
    calls.clear()
    s.set_hard_state(HardState(1, 1, 300))
    s.append(ents(601, 601))
    assert calls == ["write", "sync", "write", "sync"]
