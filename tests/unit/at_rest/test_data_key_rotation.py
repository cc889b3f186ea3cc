"""The data key rotates when autolock is switched on and when the unlock key is rotated:
the Raft storage and the worker state are rewritten under the new key, the old key is
forgotten, and a crash between any two steps leaves a state dir that opens and has lost
nothing. Real files, real fsync; the crash is injected (tests/support/at_rest.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from actors.ca.encryption import DataKeyRing, UnlockKey, new_data_key, new_unlock_key
from actors.ca.keystore import CURVE_SECRET, DATA_KEY, NODE_TLS_KEY, RETIRING_DATA_KEYS
from actors.node.startup.keys import LockedKeys, NodeKeys, PrivateKeyFiles, open_node_keys
from actors.node.startup.rekey import KeyRewrapper, needs_new_data_key
from actors.node.startup.security import prepare_node
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState, Entry, HardState
from actors.store import MemoryStore
from actors.worker.state import WORKER_DIR, WorkerStateFile
from api.objects import Cluster, Task
from api.specs import ClusterSpec, EncryptionConfig
from tests.support.at_rest import CrashAt, SimulatedCrash, decryptable_by, files_under

MARKER = b"zebracorn-ledger"
LAST = 30
APPLIED = 25
CONF = ConfState((1,))
TASKS = {"t1": Task(id="t1", service_id="zebracorn-ledger")}


def cluster(key: UnlockKey | None) -> Cluster:
    spec = ClusterSpec(encryption_config=EncryptionConfig(auto_lock_managers=key is not None))
    return Cluster(id="c", spec=spec, unlock_key=key.key if key is not None else b"")


def entries(lo: int, hi: int) -> list[Entry]:
    return [Entry(i, 1, MARKER + b" #%d" % i) for i in range(lo, hi + 1)]


class Manager:
    """A manager's state dir: keys, an open Raft storage and its worker state."""

    def __init__(self, state: Path, keys: NodeKeys) -> None:
        self.state, self.keys = state, keys
        self.storage = DurableStorage.open(
            state / "raft",
            cipher=keys.raft_cipher(),
            segment_bytes=300,
            log_entries_for_slow_followers=5,
        )
        self.worker = WorkerStateFile(state / WORKER_DIR, keys.worker_state_cipher())

    @classmethod
    def init(cls, state: Path, unlock: UnlockKey | None) -> Manager:
        keys = open_node_keys(state, new_unlock_key=unlock)
        assert isinstance(keys, NodeKeys)
        prepare_node(state, hostname="m1", advertise_addr="127.0.0.1:1", keys=keys)
        manager = cls(state, keys)
        for i in range(1, LAST + 1, 3):
            manager.storage.save(HardState(1, 1, min(i - 1, APPLIED)), entries(i, i + 2))
        manager.storage.create_snapshot(10, CONF, b"state 10")
        manager.storage.compact(10)
        manager.storage.set_hard_state(HardState(1, 1, APPLIED))
        manager.worker.save(TASKS, {})
        return manager

    @classmethod
    def reopen(cls, state: Path, *unlock_keys: UnlockKey) -> Manager:
        """As a restart does: the key store (unlocked with whichever key it is under)."""
        opened = open_node_keys(state)
        if isinstance(opened, LockedKeys):
            for key in unlock_keys:
                try:
                    return cls(state, opened.unlock(str(key)))
                except Exception:
                    continue
            raise AssertionError("no unlock key opens the key store")
        return cls(state, opened)

    def rewrapper(self) -> KeyRewrapper:
        def reencrypt() -> None:  # what RaftNode.reencrypt_at_rest and the worker do
            self.storage.reencrypt(APPLIED, CONF, b"state %d" % APPLIED)
            self.worker.reencrypt()

        return KeyRewrapper(self.keys, MemoryStore(clock=time.time), reencrypt=reencrypt)

    def assert_intact(self) -> None:
        s = self.storage
        assert s.last_index() == LAST
        assert s.entries(s.first_index(), LAST + 1) == entries(s.first_index(), LAST)
        assert s.snapshot().metadata.index >= s.first_index() - 1
        assert self.worker.load().tasks == TASKS
        private = {**PrivateKeyFiles.of(self.state).read(), **self.keys.secrets}
        assert {CURVE_SECRET, NODE_TLS_KEY} <= set(private)

    def close(self) -> None:
        self.storage.close()


def test_which_changes_rotate_the_data_key() -> None:
    k1, k2 = new_unlock_key(), new_unlock_key()
    assert needs_new_data_key(None, k1)  # autolock switched on
    assert needs_new_data_key(k1, k2)  # unlock key rotated
    assert not needs_new_data_key(k1, k1)
    assert not needs_new_data_key(k1, None)  # off: the key would sit beside its KEK file
    assert not needs_new_data_key(None, None)


def test_the_ring_writes_under_the_newest_key_and_reads_under_all() -> None:
    old, new = new_data_key(), new_data_key()
    ring = DataKeyRing(old)
    cipher = ring.cipher(associated_data=b"wal")
    before = cipher.encrypt(b"x")
    ring.begin(new)
    after = cipher.encrypt(b"y")
    assert ring.keys == (new, old) and ring.retiring == (old,)
    assert cipher.decrypt(before) == b"x" and cipher.decrypt(after) == b"y"
    assert DataKeyRing(new).cipher(associated_data=b"wal").decrypt(after) == b"y"
    ring.retire()
    assert ring.keys == (new,)
    with pytest.raises(Exception, match="any data key"):
        cipher.decrypt(before)


@pytest.mark.parametrize("start", ["autolock off", "autolocked"])
def test_rotation_rewrites_everything_and_forgets_the_old_key(tmp_path: Path, start: str) -> None:
    k1, k2 = new_unlock_key(), new_unlock_key()
    first, wanted = (None, k1) if start == "autolock off" else (k1, k2)
    manager = Manager.init(tmp_path, first)
    old = manager.keys.secrets[DATA_KEY]
    assert decryptable_by(old, tmp_path)
    manager.rewrapper().check(cluster(wanted))
    manager.storage.append(entries(LAST + 1, LAST + 1))  # written after: under the new key
    new = manager.keys.secrets[DATA_KEY]
    assert new != old and not manager.keys.rotating
    assert RETIRING_DATA_KEYS not in manager.keys.secrets
    manager.close()
    assert decryptable_by(old, tmp_path) == []
    plain = b"".join(text for _, text in decryptable_by(new, tmp_path))
    assert MARKER + b" #%d" % (LAST + 1) in plain and b"zebracorn-ledger" in plain
    for path in files_under(tmp_path):
        assert old not in path.read_bytes(), f"{path} holds the old data key"
    again = Manager.reopen(tmp_path, wanted)
    assert again.keys.unlock_key == wanted and again.keys.ring.keys == (new,)
    assert again.storage.last_index() == LAST + 1
    again.close()


@pytest.mark.parametrize("start", ["autolock off", "autolocked"])
def test_a_crash_between_any_two_steps_of_a_rotation(tmp_path: Path, start: str) -> None:
    k1, k2 = new_unlock_key(), new_unlock_key()
    first, wanted = (None, k1) if start == "autolock off" else (k1, k2)
    counting = Manager.init(tmp_path / "count", first)
    with CrashAt(None) as counter:
        counting.rewrapper().check(cluster(wanted))
    counting.close()
    assert counter.steps > 10
    for at in range(counter.steps):
        state = tmp_path / f"crash-{at}"
        manager = Manager.init(state, first)
        old = manager.keys.secrets[DATA_KEY]
        with CrashAt(at), pytest.raises(SimulatedCrash):
            manager.rewrapper().check(cluster(wanted))
        manager.close()  # the process died: only the files are left
        restarted = Manager.reopen(state, *(k for k in (first, wanted) if k is not None))
        restarted.assert_intact()
        restarted.rewrapper().check(cluster(wanted))  # a restarted manager finishes it
        restarted.assert_intact()
        assert not restarted.keys.rotating and restarted.keys.unlock_key == wanted
        restarted.close()
        assert decryptable_by(old, state) == [], f"crash at step {at}"
