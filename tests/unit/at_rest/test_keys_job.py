"""The manager tree's ``keys`` child, driven tick by tick with the times the test gives
(actors/node/startup/at_rest.py, rekey.py): the unlock key made at init is recorded once
the cluster exists and shown once; the wrapping follows the Cluster object when it
changes; an unfinished rotation is retried on the backoff's schedule. Real key store
files, a real store; no threads, no sleeps."""

from __future__ import annotations

import io
import time
from pathlib import Path

from actors.ca.encryption import UnlockKey, new_unlock_key
from actors.control.unlock import set_autolock
from actors.node.startup.at_rest import INIT_DEADLINE, INIT_POLL, AtRest
from actors.node.startup.keys import NodeKeys, open_node_keys
from actors.node.startup.rekey import POLL_INTERVAL, RETRY_BACKOFF, KeyRewrapper
from actors.node.tree.leader_group import RaftHolder
from actors.store import MemoryStore, clusters
from api.objects import Cluster
from api.specs import ClusterSpec


def manager_keys(state: Path, unlock: UnlockKey | None = None) -> NodeKeys:
    keys = open_node_keys(state, new_unlock_key=unlock)
    assert isinstance(keys, NodeKeys)
    return keys


def local_store() -> MemoryStore:
    return MemoryStore.local(clock=time.time)


def create_cluster(store: MemoryStore) -> None:
    store.update(lambda tx: tx.create(Cluster(id="c" * 25, spec=ClusterSpec(name="default"))))


def cluster(store: MemoryStore) -> Cluster:
    found = store.view(clusters.get_default)
    assert found is not None
    return found


def autolock(store: MemoryStore, on: bool) -> None:
    store.update(lambda tx: set_autolock(tx, on))


def test_the_init_unlock_key_is_recorded_once_the_cluster_exists_and_shown_once(
    tmp_path: Path,
) -> None:
    key = new_unlock_key()
    keys, store, out = manager_keys(tmp_path, key), local_store(), io.StringIO()
    at_rest = AtRest(keys, state_dir=tmp_path, init_unlock_key=key, out=out)
    job = at_rest.job(store, RaftHolder())
    assert job.interval() == INIT_POLL
    job.tick(0.0)  # no cluster yet: keep waiting
    assert at_rest.init_unlock_key == key and out.getvalue() == ""
    create_cluster(store)
    job.tick(INIT_POLL)
    assert cluster(store).unlock_key == key.key
    assert cluster(store).spec.encryption_config.auto_lock_managers
    assert out.getvalue().count(str(key)) == 1
    assert at_rest.init_unlock_key is None and job.interval() == POLL_INTERVAL
    job.tick(1.0)
    at_rest.job(store, RaftHolder()).tick(2.0)  # a restarted child: already recorded
    assert out.getvalue().count(str(key)) == 1
    assert keys.unlock_key == key  # the wrapping already matches the cluster


def test_the_init_unlock_key_is_given_up_after_the_deadline(tmp_path: Path) -> None:
    key = new_unlock_key()
    keys, store, out = manager_keys(tmp_path, key), local_store(), io.StringIO()
    job = AtRest(keys, state_dir=tmp_path, init_unlock_key=key, out=out).job(store, RaftHolder())
    job.tick(100.0)
    job.tick(100.0 + INIT_DEADLINE - 0.1)
    assert not job.gave_up
    job.tick(100.0 + INIT_DEADLINE)
    assert job.gave_up
    create_cluster(store)
    job.tick(200.0)  # too late: nothing recorded, nothing rewrapped
    assert cluster(store).unlock_key == b"" and out.getvalue() == ""
    assert keys.unlock_key == key


def test_the_wrapping_follows_the_cluster_object_when_it_changes(tmp_path: Path) -> None:
    keys, store = manager_keys(tmp_path), local_store()
    reencrypted: list[float] = []
    rewrapper = KeyRewrapper(keys, store, reencrypt=lambda: reencrypted.append(1.0))
    rewrapper.tick(0.0)  # no cluster: the wrapping chosen at start stays
    create_cluster(store)
    rewrapper.tick(0.5)
    assert keys.unlock_key is None
    autolock(store, True)
    rewrapper.tick(1.0)
    assert keys.unlock_key is not None and keys.unlock_key.key == cluster(store).unlock_key
    assert reencrypted and not keys.rotating  # switched on: the data key rotated
    autolock(store, False)
    rewrapper.tick(1.5)
    assert keys.unlock_key is None


def test_an_unfinished_rotation_is_retried_on_the_backoff_schedule(tmp_path: Path) -> None:
    keys, store = manager_keys(tmp_path), local_store()
    create_cluster(store)
    raft_running = False
    attempts: list[bool] = []

    def reencrypt() -> None:
        attempts.append(raft_running)
        if not raft_running:
            raise RuntimeError("the Raft node is not running")

    rewrapper = KeyRewrapper(keys, store, reencrypt=reencrypt)
    autolock(store, True)
    rewrapper.tick(10.0)  # rewrapped, the data key rotated: step 2 fails
    assert keys.rotating and attempts == [False]
    first_delay = RETRY_BACKOFF.delay(1)
    rewrapper.tick(10.0 + first_delay / 2)  # not due yet
    assert attempts == [False]
    rewrapper.tick(10.0 + first_delay)  # due: fails again, the next wait doubles
    assert attempts == [False, False]
    raft_running = True
    rewrapper.tick(10.0 + first_delay + RETRY_BACKOFF.delay(2) - 0.01)
    assert attempts == [False, False]
    rewrapper.tick(10.0 + first_delay + RETRY_BACKOFF.delay(2))
    assert attempts == [False, False, True] and not keys.rotating
