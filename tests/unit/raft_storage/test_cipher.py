"""The cipher seam: with AES-GCM set, no entry or snapshot data is readable on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.raft_node.storage import DecryptFailed
from actors.raft_node.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata
from tests.unit.raft_storage.conftest import AesGcmCipher, Opener

SECRET = b"top-secret-service-spec"


def _disk_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def _fill(open_storage: Opener, cipher: AesGcmCipher | None, segment_bytes: int) -> None:
    s = open_storage(cipher=cipher, segment_bytes=segment_bytes, log_entries_for_slow_followers=2)
    for i in range(1, 41):
        s.save(HardState(1, 1, i - 1), [Entry(i, 1, SECRET + b"#%d" % i)])
    s.create_snapshot(30, ConfState((1,)), b"snapshot:" + SECRET)
    s.compact(30)
    s.apply_snapshot(Snapshot(SnapshotMetadata(50, 2, ConfState((1,))), b"applied:" + SECRET))
    s.append([Entry(51, 2, SECRET + b"#51")])
    s.close()


def test_plaintext_is_visible_without_a_cipher(open_storage: Opener, wal_dir: Path) -> None:
    _fill(open_storage, None, 300)
    assert SECRET in _disk_bytes(wal_dir)


def test_nothing_of_the_data_is_on_disk_with_a_cipher(open_storage: Opener, wal_dir: Path) -> None:
    cipher = AesGcmCipher()
    _fill(open_storage, cipher, 300)
    disk = _disk_bytes(wal_dir)
    for fragment in (SECRET, SECRET[:8], SECRET[-8:], b"snapshot:", b"applied:"):
        assert fragment not in disk
    s = open_storage(cipher=AesGcmCipher(cipher.key))
    assert s.snapshot().data == b"applied:" + SECRET
    assert s.entries(51, 52) == [Entry(51, 2, SECRET + b"#51")]
    assert s.initial_state()[0] == HardState(1, 1, 50)


def test_a_wrong_key_is_refused(open_storage: Opener, wal_dir: Path) -> None:
    _fill(open_storage, AesGcmCipher(), 1 << 20)
    with pytest.raises(DecryptFailed):
        open_storage(cipher=AesGcmCipher())
