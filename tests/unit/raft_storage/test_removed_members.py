"""The Raft ids removed from the group outlive the log that removed them (storage.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.raft_node.storage import REMOVED_FILE, DurableStorage
from actors.raft_node.types import StorageError


def test_removed_members_are_kept_across_a_reopen(tmp_path: Path) -> None:
    with DurableStorage.open(tmp_path) as storage:
        assert storage.removed_members == frozenset()
        storage.add_removed_members((7, 3))
        storage.add_removed_members((3,))  # nothing new: nothing written
        assert storage.removed_members == {3, 7}
    with DurableStorage.open(tmp_path) as storage:
        assert storage.removed_members == {3, 7}


def test_a_damaged_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with DurableStorage.open(tmp_path):
        pass
    (tmp_path / REMOVED_FILE).write_bytes(b"\x93\x01\xa1x\x03")  # [1, "x", 3]
    with pytest.raises(StorageError, match=f"{REMOVED_FILE}: not a list of Raft ids"):
        DurableStorage.open(tmp_path)
