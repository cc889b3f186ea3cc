"""`DurableStorage.reencrypt`: a rotated data key rewrites every file of the directory,
and a crash between any two of its steps loses nothing (real files, real fsync)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.ca.encryption import DataKeyRing, DecryptionFailed, new_data_key
from actors.raft_node.storage import DecryptFailed, DurableStorage
from actors.raft_node.types import ConfState, Entry, HardState
from tests.support.at_rest import CrashAt, SimulatedCrash, ciphertexts
from tests.unit.raft_storage.conftest import ents

LAST = 40
SNAPSHOT_AT = 20
APPLIED = 35
HARD_STATE = HardState(term=1, vote=1, commit=APPLIED)
CONF = ConfState((1,))


def state_at(index: int) -> bytes:
    return b"state after %d" % index


def fill(directory: Path, ring: DataKeyRing) -> None:
    """A log over several segments, a snapshot and a compaction, entries 1..LAST."""
    s = DurableStorage.open(
        directory, cipher=ring.cipher(), segment_bytes=400, log_entries_for_slow_followers=5
    )
    for i in range(1, LAST + 1, 4):
        s.save(HardState(1, 1, min(i - 1, APPLIED)), ents(i, i + 3))
    s.create_snapshot(SNAPSHOT_AT, CONF, state_at(SNAPSHOT_AT))
    s.compact(SNAPSHOT_AT)
    s.set_hard_state(HARD_STATE)
    s.close()


def reencrypt(directory: Path, ring: DataKeyRing) -> None:
    """What a manager does once its ring writes under the new key."""
    with DurableStorage.open(
        directory, cipher=ring.cipher(), segment_bytes=400, log_entries_for_slow_followers=5
    ) as s:
        s.reencrypt(APPLIED, CONF, state_at(APPLIED))


def assert_intact(directory: Path, ring: DataKeyRing) -> None:
    """Every entry written is there, or covered by the snapshot."""
    with DurableStorage.open(directory, cipher=ring.cipher()) as s:
        assert s.initial_state()[0] == HARD_STATE
        assert s.last_index() == LAST
        assert s.entries(s.first_index(), LAST + 1) == ents(s.first_index(), LAST)
        snapshot = s.snapshot()
        assert snapshot.metadata.index >= s.first_index() - 1
        assert snapshot.data == state_at(snapshot.metadata.index)


def opened_by(key: bytes, directory: Path) -> list[Path]:
    cipher = DataKeyRing(key).cipher()
    opened = []
    for path, blob in ciphertexts(directory):
        try:
            cipher.decrypt(blob)
            opened.append(path)
        except DecryptionFailed:
            pass
    return opened


def test_after_reencrypt_no_file_is_under_the_old_key(tmp_path: Path) -> None:
    old = new_data_key()
    ring = DataKeyRing(old)
    fill(tmp_path, ring)
    before = {p.name for p in tmp_path.iterdir()}
    assert opened_by(old, tmp_path)
    ring.begin(new_data_key())
    reencrypt(tmp_path, ring)
    assert opened_by(old, tmp_path) == []
    names = {p.name for p in tmp_path.iterdir()}
    assert not (before - {"LOCK"}) & names  # every file of the old key is gone
    assert sorted(p.suffix for p in tmp_path.iterdir() if p.name != "LOCK") == [".log", ".snap"]
    ring.retire()
    assert_intact(tmp_path, ring)
    with pytest.raises(DecryptFailed):  # nor does the old key alone open it
        DurableStorage.open(tmp_path, cipher=DataKeyRing(old).cipher())


def test_reencrypt_without_anything_applied_since_the_snapshot(tmp_path: Path) -> None:
    old = new_data_key()
    ring = DataKeyRing(old)
    fill(tmp_path, ring)
    ring.begin(new_data_key())
    with DurableStorage.open(tmp_path, cipher=ring.cipher(), keep_snapshots=2) as s:
        s.reencrypt(SNAPSHOT_AT, CONF, None)  # the stored snapshot, rewritten as it is
        s.append([Entry(LAST + 1, 1, b"after")])
    assert opened_by(old, tmp_path) == []
    ring.retire()
    with DurableStorage.open(tmp_path, cipher=ring.cipher()) as s:
        assert s.snapshot().metadata.index == SNAPSHOT_AT
        assert s.entries(LAST + 1, LAST + 2) == [Entry(LAST + 1, 1, b"after")]


def test_a_crash_between_any_two_steps_loses_nothing(tmp_path: Path) -> None:
    with CrashAt(None) as counter:
        ring = DataKeyRing(new_data_key())
        fill(tmp_path / "count", ring)
        filled = counter.steps
        ring.begin(new_data_key())
        reencrypt(tmp_path / "count", ring)
        steps = counter.steps - filled
    assert steps > 5
    for at in range(steps):
        directory = tmp_path / f"crash-{at}"
        old = new_data_key()
        ring = DataKeyRing(old)
        fill(directory, ring)
        new = new_data_key()
        ring.begin(new)
        with CrashAt(at), pytest.raises(SimulatedCrash):
            reencrypt(directory, ring)
        assert_intact(directory, ring)  # opens with both keys, holds every entry
        reencrypt(directory, ring)  # the manager finishes the rotation
        assert opened_by(old, directory) == [], f"crash at step {at}"
        assert_intact(directory, DataKeyRing(new))
