"""The manager's key store at rest: creation, refusal of plaintext state dirs, locking,
rewrapping to follow the Cluster object."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from actors.ca.encryption import InvalidUnlockKey, MalformedUnlockKey, new_unlock_key
from actors.ca.keystore import DATA_KEY
from actors.node.startup.keys import (
    KEYSTORE_DIR,
    LockedKeys,
    NodeKeys,
    NodeKeysError,
    open_node_keys,
    wanted_unlock_key,
)
from api.objects import Cluster
from api.specs import ClusterSpec, EncryptionConfig


def _keys(state_dir: Path) -> NodeKeys:
    opened = open_node_keys(state_dir)
    assert isinstance(opened, NodeKeys)
    return opened


def test_created_once_and_kept(tmp_path: Path) -> None:
    first = _keys(tmp_path)
    again = _keys(tmp_path)
    assert first.secrets[DATA_KEY] == again.secrets[DATA_KEY]
    for path in (tmp_path / KEYSTORE_DIR).iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert first.secrets[DATA_KEY] not in path.read_bytes() or path.name == "kek"
    cipher = first.raft_cipher()
    assert again.raft_cipher().decrypt(cipher.encrypt(b"x")) == b"x"


def test_a_raft_dir_without_key_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "raft").mkdir()
    with pytest.raises(NodeKeysError, match="without encryption at rest"):
        open_node_keys(tmp_path)
    assert not (tmp_path / KEYSTORE_DIR).exists()


def test_autolocked_store_needs_the_unlock_key(tmp_path: Path) -> None:
    key = new_unlock_key()
    created = open_node_keys(tmp_path, new_unlock_key=key)
    assert isinstance(created, NodeKeys) and created.autolocked
    assert not (tmp_path / KEYSTORE_DIR / "kek").exists()
    locked = open_node_keys(tmp_path)
    assert isinstance(locked, LockedKeys)
    with pytest.raises(InvalidUnlockKey, match="invalid unlock key"):
        locked.unlock(str(new_unlock_key()))
    with pytest.raises(MalformedUnlockKey):
        locked.unlock("SWMKEY-1-nonsense!")
    unlocked = locked.unlock(f"  {key}\n")
    assert unlocked.secrets == created.secrets
    assert unlocked.unlock_key == key


def _cluster(autolock: bool, key: bytes) -> Cluster:
    spec = ClusterSpec(encryption_config=EncryptionConfig(auto_lock_managers=autolock))
    return Cluster(id="c", spec=spec, unlock_key=key)


def test_rewrap_follows_the_cluster(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    data_key = keys.secrets[DATA_KEY]
    k1, k2 = new_unlock_key(), new_unlock_key()
    assert wanted_unlock_key(None) is None
    assert wanted_unlock_key(_cluster(False, k1.key)) is None
    assert keys.rewrap(wanted_unlock_key(_cluster(True, k1.key)))
    assert not keys.rewrap(k1)
    locked = open_node_keys(tmp_path)
    assert isinstance(locked, LockedKeys)
    assert locked.unlock(str(k1)).secrets[DATA_KEY] == data_key
    keys.rewrap(k2)  # rotation: only the new key unlocks
    locked = open_node_keys(tmp_path)
    assert isinstance(locked, LockedKeys)
    with pytest.raises(InvalidUnlockKey):
        locked.unlock(str(k1))
    assert locked.unlock(str(k2)).secrets[DATA_KEY] == data_key
    keys.rewrap(None)  # autolock off: a KEK file again
    assert isinstance(open_node_keys(tmp_path), NodeKeys)
    assert replace(keys, unlock_key=None).unlock_key is None
    assert os.path.exists(tmp_path / KEYSTORE_DIR / "kek")
