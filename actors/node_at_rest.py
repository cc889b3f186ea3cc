"""Encryption at rest in a manager's life: what ``swarm-node`` calls before and after the
node starts.

    keys = prepare_at_rest(state_dir, control_path, autolock=..., force_new_cluster=...,
                           stop=stop_event, version={...})
    if keys is None: exit 0                      # stopped while locked
    Assembly(..., raft_cipher=keys.raft_cipher())
    node.start(); keys.start(assembly.store)     # rewrap on Cluster changes
    ...; keys.stop(); node.stop()

`prepare_at_rest` opens (or creates) the key store (`actors.node_keys`); when autolocked it
waits for ``swarmctl unlock`` on the control socket (`actors.node_locked`); with
``--force-new-cluster`` it rewrites the Raft storage to a one-member group
(`actors.force_new_cluster`). ``--autolock`` at init creates the key store wrapped under a
new unlock key, which `start` writes into the Cluster object once it exists and prints
once on stdout (never in the log).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from actors.ca.encryption import AESGCMCipher, UnlockKey, new_unlock_key
from actors.ca.keystore import KeyStore
from actors.control.errors import ControlError
from actors.control.unlock import set_autolock
from actors.force_new_cluster import force_new_cluster
from actors.log import get_logger
from actors.node_keys import (
    KEYSTORE_DIR,
    RAFT_DIR,
    KeyRewrapper,
    LockedKeys,
    NodeKeys,
    open_node_keys,
)
from actors.node_locked import wait_for_unlock
from actors.store import MemoryStore, StoreError, clusters

__all__ = ["AtRest", "prepare_at_rest"]

_log = get_logger("keys")

INIT_DEADLINE = 60.0  # seconds to wait for the Cluster object at init before giving up


class AtRest:
    """The unlocked keys of a running manager and their rewrapper."""

    def __init__(
        self, keys: NodeKeys, *, init_unlock_key: UnlockKey | None, out: TextIO | None = None
    ) -> None:
        self.keys = keys
        self._init_key = init_unlock_key
        self._out = out if out is not None else sys.stdout
        self._rewrapper: KeyRewrapper | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def raft_cipher(self) -> AESGCMCipher:
        return self.keys.raft_cipher()

    def start(self, store: MemoryStore) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(store,), name="keys-at-rest", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._rewrapper is not None:
            self._rewrapper.stop()
        if self._thread is not None:
            self._thread.join(5.0)

    def _run(self, store: MemoryStore) -> None:
        if self._init_key is not None and not self._record_init_key(store, self._init_key):
            return
        if self._stop.is_set():
            return
        self._rewrapper = KeyRewrapper(self.keys, store).start()

    def _record_init_key(self, store: MemoryStore, key: UnlockKey) -> bool:
        """``--autolock`` at init: put the key the keys are wrapped under into the Cluster
        object, then show it to the operator once."""
        deadline = INIT_DEADLINE
        while not self._stop.is_set() and deadline > 0:
            if store.view(clusters.get_default) is not None:
                try:
                    store.update(lambda tx: set_autolock(tx, True, make_key=lambda: key))
                except (StoreError, ControlError) as exc:
                    _log.warning("node.autolock.init.retry", error=str(exc))
                else:
                    _log.info("node.autolock.enabled")
                    self._out.write(
                        "Swarm initialized with autolock. To unlock a swarm manager after it "
                        "restarts, run `swarmctl unlock` and provide the following key:\n\n"
                        f"    {key}\n\n"
                        "Remember to store this key in a password manager.\n"
                    )
                    self._out.flush()
                    return True
            self._stop.wait(0.2)
            deadline -= 0.2
        if not self._stop.is_set():
            _log.error("node.autolock.init.failed", reason="the cluster was not created")
        return False


def prepare_at_rest(
    state_dir: Path,
    control_path: Path,
    *,
    autolock: bool,
    force_new_cluster_id: int | None,
    stop: threading.Event,
    version: Mapping[str, Any],
) -> AtRest | None:
    """The manager's unlocked keys (waiting for ``swarmctl unlock`` if autolocked); None
    when ``stop`` is set while locked. ``force_new_cluster_id``: this node's Raft id, to
    make it the only member. Raises `actors.node_keys.NodeKeysError`."""
    fresh = not KeyStore(state_dir / KEYSTORE_DIR).exists()
    init_key = new_unlock_key() if autolock and fresh else None
    if autolock and not fresh:
        _log.warning("node.autolock.ignored", reason="the cluster exists: use cluster update")
    opened = open_node_keys(state_dir, new_unlock_key=init_key)
    if isinstance(opened, LockedKeys):
        keys = wait_for_unlock(opened, control_path, stop, version=version)
        if keys is None:
            return None
    else:
        keys = opened
    if force_new_cluster_id is not None and (state_dir / RAFT_DIR).exists():
        force_new_cluster(state_dir / RAFT_DIR, force_new_cluster_id, cipher=keys.raft_cipher())
    return AtRest(keys, init_unlock_key=init_key)
