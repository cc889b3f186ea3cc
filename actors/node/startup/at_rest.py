"""Encryption at rest in a manager's life: what the runner (actors/node/runner.py) calls
before the tree starts, and the tree's ``keys`` child while it runs.

    keys = open_at_rest(state_dir, control_path, autolock=..., init=..., stop=stop_event,
                        version={...})           # StoppedWhileLocked: exit 0
    startup = prepare_node(..., keys=keys)       # private keys read through the key store
    at_rest = prepare_at_rest(state_dir, startup.keys, init=..., force_new_cluster_id=...)
    ManagerParts(..., at_rest)                   # Raft's cipher, and the ``keys`` child

`open_at_rest` runs before anything reads a private key: it opens the key store of a
manager's state dir and, when autolocked, waits for ``swarmctl unlock`` on the control
socket only (`actors.node.startup.locked`: ipc, no CURVE; the node's CURVE secret and
certificate key are inside the locked store, so the remote endpoint cannot start before).
At init it creates the key store first (``--autolock``: wrapped under a new unlock key), so
the node's keys and the CA key are written into it, never in the clear. `prepare_at_rest`
then, with ``--force-new-cluster``, rewrites the Raft storage to a one-member group
(`actors.node.startup.force_new_cluster`).

While the tree runs, its ``keys`` child (a `PeriodicActor` running `AtRest.job`) first
writes the unlock key made at init into the Cluster object once it exists, and prints it
once on stdout (never in the log; if the cluster is not created within `INIT_DEADLINE`
it gives up, logged, and does nothing more); then `actors.node.startup.rekey.KeyRewrapper`
keeps the key store's wrapping and data key in line with the Cluster object.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from actors.ca.encryption import RingCipher, UnlockKey, new_unlock_key
from actors.ca.keystore import KeyStore
from actors.ca.node_identity import read_node_id
from actors.control.errors import ControlError
from actors.control.unlock import set_autolock
from actors.log import get_logger
from actors.node.startup.force_new_cluster import force_new_cluster
from actors.node.startup.keys import KEYSTORE_DIR, RAFT_DIR, NodeKeys, open_node_keys
from actors.node.startup.locked import LeftWhileLocked, wait_for_unlock
from actors.node.startup.rekey import KeyRewrapper, RaftNodes, reencrypt_state_dir
from actors.store import MemoryStore, StoreError, clusters
from actors.worker.state import WORKER_DIR, WorkerStateFile

__all__ = [
    "AtRest",
    "KeysAtRestJob",
    "LeftWhileLocked",
    "StoppedWhileLocked",
    "hand_over_to_worker",
    "open_at_rest",
    "prepare_at_rest",
]

_log = get_logger("keys")

INIT_DEADLINE: Final = 60.0  # seconds to wait for the Cluster object at init
INIT_POLL: Final = 0.2


class StoppedWhileLocked(Exception):
    """The node was asked to stop while it waited for ``swarmctl unlock``."""


class AtRest:
    """The unlocked keys of a running manager, and the unlock key made at init until it
    is recorded in the Cluster object."""

    def __init__(
        self,
        keys: NodeKeys,
        *,
        state_dir: Path,
        init_unlock_key: UnlockKey | None,
        out: TextIO | None = None,
    ) -> None:
        self.keys = keys
        self._state_dir = state_dir
        self.init_unlock_key = init_unlock_key  # None once recorded
        self._out = out if out is not None else sys.stdout

    def raft_cipher(self) -> RingCipher:
        return self.keys.raft_cipher()

    def worker_state_cipher(self) -> RingCipher:
        return self.keys.worker_state_cipher()

    def release(self, state_dir: Path) -> None:
        """A demotion (after the tree stopped): see `hand_over_to_worker`."""
        hand_over_to_worker(state_dir, self.keys)

    def job(self, store: MemoryStore, raft: RaftNodes) -> KeysAtRestJob:
        """The ``keys`` child's periodic job (a new one for each start of the child)."""
        reencrypt = reencrypt_state_dir(raft, self._state_dir, self.keys)
        return KeysAtRestJob(self, store, KeyRewrapper(self.keys, store, reencrypt=reencrypt))

    def record_init_key(self, store: MemoryStore) -> bool:
        """``--autolock`` at init: put the key the keys are wrapped under into the Cluster
        object, then show it to the operator once. False while the cluster does not exist
        yet or the write was refused (tried again next tick)."""
        key = self.init_unlock_key
        if key is None:
            return True
        if store.view(clusters.get_default) is None:
            return False
        try:
            store.update(lambda tx: set_autolock(tx, True, make_key=lambda: key))
        except (StoreError, ControlError) as exc:
            _log.warning("node.autolock.init.retry", error=str(exc))
            return False
        _log.info("node.autolock.enabled")
        self.init_unlock_key = None
        self._out.write(
            "Swarm initialized with autolock. To unlock a swarm manager after it "
            "restarts, run `swarmctl unlock` and provide the following key:\n\n"
            f"    {key}\n\n"
            "Remember to store this key in a password manager.\n"
        )
        self._out.flush()
        return True


class KeysAtRestJob:
    """An `actors.periodic.PeriodicJob`: the init unlock key first (every `INIT_POLL`
    seconds, for at most `INIT_DEADLINE`), then the rewrapper's ticks."""

    def __init__(self, at_rest: AtRest, store: MemoryStore, rewrapper: KeyRewrapper) -> None:
        self._at_rest = at_rest
        self._store = store
        self.rewrapper = rewrapper
        self._deadline: float | None = None
        self.gave_up = False

    def interval(self) -> float:
        if self._at_rest.init_unlock_key is not None:
            return INIT_POLL
        return self.rewrapper.interval()

    def tick(self, now: float) -> None:
        if self.gave_up:
            return
        if self._at_rest.init_unlock_key is not None:
            if self._deadline is None:
                self._deadline = now + INIT_DEADLINE
            if not self._at_rest.record_init_key(self._store):
                if now >= self._deadline:
                    self.gave_up = True
                    _log.error("node.autolock.init.failed", reason="the cluster was not created")
                return
        self.rewrapper.tick(now)


def hand_over_to_worker(state_dir: Path, keys: NodeKeys) -> None:
    """A manager becoming a worker keeps nothing the key store it loses protects: its
    private keys go back into their 0600 files and its worker state (encrypted under the
    data key) is rewritten plain, so the worker re-adopts its containers. Run before the
    worker start removes the key store (actors/node/startup/state_dir.py
    `remove_manager_state`)."""
    keys.rewrap(None)
    state_file = WorkerStateFile(state_dir / WORKER_DIR, keys.worker_state_cipher())
    if state_file.path.exists():
        state = state_file.load()
        WorkerStateFile(state_dir / WORKER_DIR).save(state.tasks, state.statuses)


def open_at_rest(
    state_dir: Path,
    control_path: Path,
    *,
    autolock: bool,
    init: bool,
    stop: threading.Event,
    version: Mapping[str, Any],
    preflight: Callable[[], None] = lambda: None,
    leave: Callable[[], Sequence[str]] | None = None,
) -> NodeKeys | None:
    """The state dir's key store, unlocked (waiting for ``swarmctl unlock`` when
    autolocked, which accepts a right key only once ``preflight`` passes, and serves
    ``cluster leave --force`` with ``leave``: actors/node/startup/locked.py); created when
    ``init`` (locked under a new unlock key with ``autolock``); None when there is none (a
    worker, a node about to join). Raises `StoppedWhileLocked`, `LeftWhileLocked` and
    `actors.node.startup.keys.NodeKeysError`."""
    if KeyStore(state_dir / KEYSTORE_DIR).exists():
        if autolock:
            _log.warning("node.autolock.ignored", reason="the cluster exists: use cluster update")
        opened = open_node_keys(state_dir)
        if isinstance(opened, NodeKeys):
            return opened
        info = {"node_id": read_node_id(state_dir), "role": "manager", **version}
        keys = wait_for_unlock(
            opened, control_path, stop, version=info, preflight=preflight, leave=leave
        )
        if keys is None:
            raise StoppedWhileLocked()
        return keys
    if not init:
        return None
    created = open_node_keys(state_dir, new_unlock_key=new_unlock_key() if autolock else None)
    assert isinstance(created, NodeKeys)  # a new key store is never locked
    return created


def prepare_at_rest(
    state_dir: Path,
    keys: NodeKeys,
    *,
    init: bool,
    force_new_cluster_id: int | None,
) -> AtRest:
    """The running manager's keys. ``init``: the cluster was created by this start (an
    autolocked key store then holds a new unlock key to record and show).
    ``force_new_cluster_id``: this node's Raft id, to make it the only member."""
    if force_new_cluster_id is not None and (state_dir / RAFT_DIR).exists():
        force_new_cluster(state_dir / RAFT_DIR, force_new_cluster_id, cipher=keys.raft_cipher())
    return AtRest(keys, state_dir=state_dir, init_unlock_key=keys.unlock_key if init else None)
