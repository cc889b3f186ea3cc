"""Torn tails are truncated on open; damage anywhere else is a named error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from actors.raft_node.storage import WalCorrupted
from actors.raft_node.types import HardState
from actors.raft_node.wal import list_segments, scan_segment
from tests.unit.raft_storage.conftest import Opener, ents


def _write_log(open_storage: Opener, directory: Path, **kwargs: object) -> None:
    s = open_storage(directory, **kwargs)
    for lo in range(1, 60, 5):
        s.save(HardState(1, 1, lo), ents(lo, lo + 4))
    s.save(HardState(2, 2, 60), ents(61, 63, term=2))  # the last record
    s.close()


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def test_torn_tail_truncated_at_every_offset_of_the_last_record(
    open_storage: Opener, tmp_path: Path
) -> None:
    original = tmp_path / "original"
    _write_log(open_storage, original)
    (_, _, segment) = list_segments(original)[-1]
    last_offset = scan_segment(segment).records[-1][0]
    size = segment.stat().st_size
    for cut in range(last_offset, size):
        trial = tmp_path / f"cut-{cut}"
        shutil.copytree(original, trial)
        torn = trial / segment.name
        with torn.open("r+b") as f:
            f.truncate(cut)
        s = open_storage(trial)
        assert (s.first_index(), s.last_index()) == (1, 60), cut
        assert s.entries(1, 61) == ents(1, 60)
        assert s.initial_state()[0] == HardState(1, 1, 56)
        assert torn.stat().st_size == last_offset
        # Writing resumes right after the last good record and survives a reopen.
        s.append(ents(61, 61, term=3))
        s.close()
        again = open_storage(trial)
        assert again.entries(60, 62) == [*ents(60, 60), *ents(61, 61, term=3)]
        again.close()
        shutil.rmtree(trial)


def test_bit_flip_in_last_record_is_a_torn_tail(open_storage: Opener, wal_dir: Path) -> None:
    _write_log(open_storage, wal_dir)
    (_, _, segment) = list_segments(wal_dir)[-1]
    last_offset = scan_segment(segment).records[-1][0]
    _flip(segment, segment.stat().st_size - 3)
    s = open_storage()
    assert s.last_index() == 60
    assert segment.stat().st_size == last_offset


@pytest.mark.parametrize("where", ["payload", "length", "crc"])
def test_bit_flip_in_the_middle_names_file_and_offset(
    open_storage: Opener, wal_dir: Path, where: str
) -> None:
    _write_log(open_storage, wal_dir)
    (_, _, segment) = list_segments(wal_dir)[-1]
    records = scan_segment(segment).records
    bad = records[len(records) // 2][0]
    _flip(segment, bad + {"length": 1, "crc": 5, "payload": 20}[where])
    before = segment.read_bytes()
    with pytest.raises(WalCorrupted) as info:
        open_storage()
    assert info.value.path == segment and info.value.offset == bad
    assert str(segment) in str(info.value) and f"offset {bad}" in str(info.value)
    assert segment.read_bytes() == before  # nothing was truncated


def test_damage_in_a_segment_that_is_not_the_last_is_an_error(
    open_storage: Opener, wal_dir: Path
) -> None:
    _write_log(open_storage, wal_dir, segment_bytes=400)
    segments = list_segments(wal_dir)
    assert len(segments) >= 3
    (_, _, middle) = segments[1]
    last_record = scan_segment(middle).records[-1][0]
    _flip(middle, middle.stat().st_size - 2)  # its last record, as a torn tail would be
    with pytest.raises(WalCorrupted) as info:
        open_storage()
    assert (info.value.path, info.value.offset) == (middle, last_record)

    with middle.open("r+b") as f:  # and a truncated one
        f.truncate(last_record + 3)
    with pytest.raises(WalCorrupted) as info:
        open_storage()
    assert (info.value.path, info.value.offset) == (middle, last_record)


def test_a_missing_segment_is_an_error(open_storage: Opener, wal_dir: Path) -> None:
    _write_log(open_storage, wal_dir, segment_bytes=400)
    segments = list_segments(wal_dir)
    segments[1][2].unlink()
    with pytest.raises(WalCorrupted, match="missing"):
        open_storage()


def test_a_deleted_first_segment_still_needed_is_an_error(
    open_storage: Opener, wal_dir: Path
) -> None:
    _write_log(open_storage, wal_dir, segment_bytes=400)
    list_segments(wal_dir)[0][2].unlink()
    with pytest.raises(WalCorrupted, match="missing"):
        open_storage()


def test_a_torn_header_of_the_last_segment_drops_only_that_segment(
    open_storage: Opener, wal_dir: Path
) -> None:
    """Segments are renamed into place with their header durable, so this needs a disk
    that lost the write; what the earlier segments hold is still restored."""
    _write_log(open_storage, wal_dir, segment_bytes=400)
    (_, first, last) = list_segments(wal_dir)[-1]
    header_payload = scan_segment(last).records[0][1]
    with last.open("r+b") as f:
        f.truncate(8 + len(header_payload) - 4)
    s = open_storage()
    assert not last.exists()
    assert s.last_index() == first - 1
    assert s.entries(1, first) == ents(1, first - 1)[: first - 1]
