"""A node restarted after a crash at any point of a Raft rejoin comes back in its
certificate's role (actors/node/runner.py `_rebuild`, actors/node/startup/sequence.py).

The rejoin, once the old tree has stopped: the keys go out of the key store
(`AtRest.release`), the manager state goes (`remove_manager_state`), a new key store is
made (`promoted_keys`). A crash between two of their durable steps (`CrashAt`: real files,
the n-th fsync/rename/unlink fails) used to leave a manager certificate without a key
store, which the next start refused ("the manager ... has no key store"), or a key store
half deleted, which it took for a locked one and waited to be unlocked. Now the next start
finishes a removal under way and starts a manager without a key store or a Raft log as a
promotion: a new key store, no Raft id or bootstrap voters left, so its tree asks
``raft.join`` under a new Raft id. A manager that has a Raft log but lost its key store
is still refused, saying what to do: its log is data."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from actors.ca.keystore import KeyStore
from actors.node.config import NodeConfig
from actors.node.startup.at_rest import AtRest
from actors.node.startup.keys import KEYSTORE_DIR, NodeKeys, NodeKeysError
from actors.node.startup.security import prepare_node
from actors.node.startup.sequence import open_node, promoted_keys
from actors.node.startup.state_dir import (
    BOOTSTRAP_FILE,
    RAFT_DIR,
    RAFT_ID_FILE,
    REMOVING_FILE,
    load_or_create_raft_id,
    remove_manager_state,
    write_bootstrap_voters,
)
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from api.enums import NodeRole
from tests.support.at_rest import CrashAt, SimulatedCrash


def _config(state_dir: Path) -> NodeConfig:
    return NodeConfig(
        state_dir=state_dir,
        hostname="m1",
        listen_remote_api="127.0.0.1:0",
        listen_control_api=state_dir.parent / f"{state_dir.name}.sock",
        advertise_addr="127.0.0.1:4242",
    )


def _manager(state_dir: Path) -> int:
    """A founder's state dir as it is while it runs (its cluster committed to the store):
    a key store, a Raft log under its data key, a Raft id and the bootstrap voters. Its
    Raft id."""
    startup = prepare_node(state_dir, hostname="m1", advertise_addr="127.0.0.1:4242")
    assert startup.keys is not None
    startup.initial_cluster.committed()
    raft_id = load_or_create_raft_id(state_dir)
    write_bootstrap_voters(state_dir, (raft_id,))
    storage = DurableStorage.open(
        state_dir / RAFT_DIR,
        cipher=startup.keys.raft_cipher(),
        initial_conf_state=ConfState(voters=(raft_id,)),
    )
    storage.close()
    return raft_id


def _open(state_dir: Path) -> tuple[NodeRole, AtRest | None]:
    config = _config(state_dir)
    stop = threading.Event()
    stop.set()  # a start that waits for an unlock ends at once (StoppedWhileLocked)
    startup, at_rest = open_node(config, stop=stop, leave_while_locked=list)
    return startup.role, at_rest


def _rejoin(state_dir: Path) -> None:
    """What `NodeRunner._rebuild` writes for a rejoin once the old tree has stopped."""
    config = _config(state_dir)
    startup, at_rest = open_node(config, stop=threading.Event(), leave_while_locked=list)
    assert at_rest is not None
    at_rest.release(state_dir)
    remove_manager_state(state_dir)
    assert promoted_keys(config, startup, threading.Event()) is not None


@pytest.fixture
def template(tmp_path: Path) -> tuple[Path, int]:
    state_dir = tmp_path / "template"
    return state_dir, _manager(state_dir)


def _steps(template: Path, tmp_path: Path) -> int:
    state_dir = tmp_path / "counted"
    shutil.copytree(template, state_dir)
    with CrashAt(None) as counted:
        _rejoin(state_dir)
    return counted.steps


def test_a_crash_anywhere_in_a_rejoin_restarts_a_manager(
    template: tuple[Path, int], tmp_path: Path
) -> None:
    original, old_raft_id = template
    steps = _steps(original, tmp_path)
    outcomes = set()
    for at in range(steps):
        state_dir = tmp_path / f"crash-{at}"
        shutil.copytree(original, state_dir)
        with pytest.raises(SimulatedCrash), CrashAt(at):
            _rejoin(state_dir)
        role, at_rest = _open(state_dir)  # StoppedWhileLocked, NodeKeysError before
        assert role is NodeRole.MANAGER and at_rest is not None, at
        assert isinstance(at_rest.keys, NodeKeys)
        assert not (state_dir / REMOVING_FILE).exists(), at
        if (state_dir / RAFT_DIR).exists():  # crashed before the removal began
            assert (state_dir / RAFT_ID_FILE).read_text().strip() == str(old_raft_id), at
            outcomes.add("resumed as it was")
        else:  # nothing left to join under the old id, or to found a group with
            assert not (state_dir / RAFT_ID_FILE).exists(), at
            assert not (state_dir / BOOTSTRAP_FILE).exists(), at
            assert KeyStore(state_dir / KEYSTORE_DIR).exists(), at
            outcomes.add("joins as a new member")
    assert outcomes == {"resumed as it was", "joins as a new member"}


def test_a_manager_that_lost_its_key_store_but_not_its_raft_log_is_refused(
    template: tuple[Path, int],
) -> None:
    state_dir, raft_id = template
    shutil.rmtree(state_dir / KEYSTORE_DIR)
    with pytest.raises(NodeKeysError) as refused:
        _open(state_dir)
    message = str(refused.value)
    assert f"has a Raft log ({state_dir / RAFT_DIR}) but no key store" in message
    assert "restore the key store, or remove" in message
    # nothing was removed: the log, and the Raft id that names it, are kept
    assert (state_dir / RAFT_DIR).is_dir()
    assert (state_dir / RAFT_ID_FILE).read_text().strip() == str(raft_id)
    assert not (state_dir / KEYSTORE_DIR).exists()


def test_a_promoted_worker_that_crashed_before_its_key_store_starts_a_manager(
    template: tuple[Path, int],
) -> None:
    """A worker's state dir holding the manager certificate its promotion renewed: the
    crash came before `promoted_keys`."""
    state_dir, _ = template
    _, at_rest = open_node(_config(state_dir), stop=threading.Event(), leave_while_locked=list)
    assert at_rest is not None
    at_rest.release(state_dir)
    remove_manager_state(state_dir)  # as the worker's start did
    role, promoted = _open(state_dir)
    assert role is NodeRole.MANAGER and promoted is not None
    assert not (state_dir / RAFT_ID_FILE).exists()
    assert KeyStore(state_dir / KEYSTORE_DIR).exists()
