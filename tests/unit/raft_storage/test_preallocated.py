"""Zeros written ahead of a segment's tail (wal.py's rules): records overwrite them in
place, a crash leaves them behind, and a scan reads them as the segment's end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import actors.raft_node.storage as storage_module
from actors.raft_node.types import HardState
from actors.raft_node.wal import PREALLOCATE, list_segments, scan_segment
from tests.unit.raft_storage.conftest import Opener, ents


def test_saves_overwrite_zeros_written_ahead_without_growing_the_file(
    open_storage: Opener, wal_dir: Path
) -> None:
    s = open_storage()
    s.save(HardState(1, 1, 0), ents(1, 1))
    (_, _, path) = list_segments(wal_dir)[-1]
    size = path.stat().st_size
    assert size >= PREALLOCATE  # the first save wrote zeros ahead
    for i in range(2, 40):
        s.save(HardState(1, 1, i - 1), ents(i, i))
    assert path.stat().st_size == size  # in place: an fdatasync with no size to commit
    s.close()
    end = scan_segment(path).end
    assert path.stat().st_size == end  # a clean close cuts the zeros off
    assert open_storage().entries(1, 40) == ents(1, 39)


def test_zeros_left_by_a_crash_are_the_end_of_the_log(
    open_storage: Opener, wal_dir: Path, tmp_path: Path
) -> None:
    """A copy taken while the storage is open is what a kill -9 leaves: no record is torn,
    so nothing is truncated, and writing resumes at the first zero."""
    s = open_storage()
    for i in range(1, 11):
        s.save(HardState(1, 1, i), ents(i, i))
    crashed = tmp_path / "crashed"
    shutil.copytree(wal_dir, crashed, ignore=shutil.ignore_patterns("LOCK", "*.lock"))
    (_, _, path) = list_segments(crashed)[-1]
    scan = scan_segment(path)
    assert scan.bad_offset is None and scan.end < scan.size  # zeros after the records
    with capture_logs() as logs:
        again = open_storage(crashed)
    assert not [e for e in logs if e["event"] == "raft.storage.tail_truncated"], logs
    assert again.entries(1, 11) == ents(1, 10)
    assert again.initial_state()[0] == HardState(1, 1, 10)
    again.save(HardState(1, 1, 11), ents(11, 11))
    again.close()
    assert open_storage(crashed).entries(1, 12) == ents(1, 11)


def test_zeros_after_the_records_of_a_segment_that_is_not_the_last(
    open_storage: Opener, wal_dir: Path
) -> None:
    """A crash between a rotation's new segment and the old one's cut leaves zeros in a
    segment that is not the last: its end, not damage."""
    s = open_storage(segment_bytes=400)
    for lo in range(1, 60, 5):
        s.save(HardState(1, 1, lo + 4), ents(lo, lo + 4))
    s.close()
    segments = list_segments(wal_dir)
    assert len(segments) >= 3
    (_, _, middle) = segments[1]
    with middle.open("ab") as f:
        f.write(bytes(300))
    again = open_storage(segment_bytes=400)
    assert again.entries(1, 61) == ents(1, 60)


def test_space_is_asked_of_the_file_system_only_near_the_segments_end(
    open_storage: Opener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every write asks `space_short` (the leader per proposal, a follower per append): with
    the zeros ahead of the tail far from the segment's limit, the answer needs no statvfs.
    Near the limit (the next segment's zeros need room) it asks, and says what is missing."""
    asked: list[Path] = []
    free = [1 << 40]

    def free_bytes(directory: Path) -> int:
        asked.append(directory)
        return free[0]

    monkeypatch.setattr(storage_module, "_free_bytes", free_bytes)
    s = open_storage(segment_bytes=64 * PREALLOCATE)
    s.save(HardState(1, 1, 0), ents(1, 1))
    for _ in range(5):
        assert s.space_short() is None
    assert asked == []
    near = open_storage(tmp_path / "near", segment_bytes=PREALLOCATE)
    near.save(HardState(1, 1, 0), ents(1, 1))
    assert near.space_short() is None  # plenty free
    assert asked
    free[0] = 1000
    why = near.space_short()
    assert why is not None and "1000 bytes free" in why
