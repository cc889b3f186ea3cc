"""A manager's keys at rest: the Raft data key in the key store, locked or not.

Rules:
- Every manager keeps a random data key (DEK) in its key store (STATE_DIR/keystore,
  `actors.ca.keystore`); the Raft WAL and snapshots are written through an AES-256-GCM
  cipher under it (`NodeKeys.raft_cipher`). Encryption at rest is always on.
- The key store is created before the Raft directory. A state dir with a Raft directory
  but no key store was written before encryption at rest: it is refused with a clear
  message (`NodeKeysError`), never opened as plaintext.
- Without autolock the KEK sits in a 0600 file beside the wrapped secrets. With autolock
  the secrets are wrapped under the unlock key, which lives only in the replicated store's
  Cluster object (as SwarmKit keeps ``Cluster.UnlockKeys``): `open_node_keys` then returns
  `LockedKeys`, and the node waits for `LockedKeys.unlock` (``swarmctl unlock``).
- While the node runs, `KeyRewrapper` watches the Cluster object and rewraps the key store
  whenever the wanted wrapping changes (autolock switched on or off, key rotated): the
  secrets themselves never change, so the Raft log stays readable.
- Unlock keys are never logged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from actors.ca.encryption import (
    AESGCMCipher,
    MalformedUnlockKey,
    UnlockKey,
    new_data_key,
    parse_unlock_key,
)
from actors.ca.keystore import DATA_KEY, KeyStore, KeyStoreError, KeyStoreLocked
from actors.log import get_logger
from actors.store import MemoryStore, clusters
from api.objects import Cluster, ObjectKind

__all__ = [
    "KEYSTORE_DIR",
    "KeyRewrapper",
    "LockedKeys",
    "NodeKeys",
    "NodeKeysError",
    "open_node_keys",
    "wanted_unlock_key",
]

KEYSTORE_DIR: Final = "keystore"
RAFT_DIR: Final = "raft"
_WAL_AAD: Final = b"swarmnode raft"

_log = get_logger("keys")


class NodeKeysError(Exception):
    """The state dir's keys cannot be used (old plaintext state dir, damaged key store)."""


@dataclass
class NodeKeys:
    """The unwrapped secrets and the unlock key they are wrapped under now (None: a KEK
    file)."""

    store: KeyStore
    secrets: dict[str, bytes] = field(repr=False)
    unlock_key: UnlockKey | None = field(default=None, repr=False)

    def raft_cipher(self) -> AESGCMCipher:
        return AESGCMCipher(self.secrets[DATA_KEY], associated_data=_WAL_AAD)

    @property
    def autolocked(self) -> bool:
        return self.unlock_key is not None

    def rewrap(self, wanted: UnlockKey | None) -> bool:
        """Wrap the secrets under ``wanted`` (None: a KEK file). True if anything changed."""
        if wanted == self.unlock_key:
            return False
        self.store.rewrap(self.unlock_key, wanted)
        self.unlock_key = wanted
        return True


@dataclass
class LockedKeys:
    """An autolocked key store waiting for the operator's unlock key."""

    store: KeyStore

    def unlock(self, text: str) -> NodeKeys:
        """The keys, unwrapped with the unlock key written as ``text``. Raises
        `MalformedUnlockKey` or `InvalidUnlockKey` (message: "invalid unlock key")."""
        key = parse_unlock_key(text)
        secrets = self.store.load(key)
        return NodeKeys(self.store, secrets, key)


def open_node_keys(
    state_dir: Path, *, new_unlock_key: UnlockKey | None = None
) -> NodeKeys | LockedKeys:
    """The manager's keys, creating the key store on first use (autolocked under
    ``new_unlock_key`` when given). `LockedKeys` when autolock is on."""
    store = KeyStore(Path(state_dir) / KEYSTORE_DIR)
    if not store.exists():
        if (Path(state_dir) / RAFT_DIR).exists():
            raise NodeKeysError(
                f"state dir {state_dir} holds Raft data written without encryption at rest "
                "(by an older swarm-node, or its keystore is missing); it cannot be used: "
                "start from an empty state dir"
            )
        secrets = {DATA_KEY: new_data_key()}
        try:
            store.create(secrets, unlock_key=new_unlock_key)
        except OSError as exc:
            raise NodeKeysError(f"cannot create the key store: {exc}") from exc
        _log.info("node.keys.created", autolock=new_unlock_key is not None)
        return NodeKeys(store, secrets, new_unlock_key)
    try:
        secrets = store.load(None)
    except KeyStoreLocked:
        return LockedKeys(store)
    except (KeyStoreError, OSError) as exc:
        raise NodeKeysError(f"cannot read the key store: {exc}") from exc
    if DATA_KEY not in secrets:
        raise NodeKeysError(f"the key store in {state_dir} holds no Raft data key")
    return NodeKeys(store, secrets, None)


def wanted_unlock_key(cluster: Cluster | None) -> UnlockKey | None:
    """The unlock key the Cluster object asks managers to wrap their keys under."""
    if cluster is None:
        return None
    if not cluster.spec.encryption_config.auto_lock_managers or not cluster.unlock_key:
        return None
    try:
        return UnlockKey(cluster.unlock_key)
    except MalformedUnlockKey:
        _log.error("node.keys.cluster_key_invalid")
        return None


class KeyRewrapper:
    """Keeps the key store's wrapping in line with the Cluster object (a daemon thread)."""

    def __init__(
        self,
        keys: NodeKeys,
        store: MemoryStore,
        *,
        on_change: Callable[[bool], None] | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        self._keys = keys
        self._store = store
        self._on_change = on_change
        self._interval = poll_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="key-rewrapper", daemon=True)

    def start(self) -> KeyRewrapper:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def check(self, cluster: Cluster | None) -> None:
        if cluster is None:
            return  # not committed yet (init): keep the wrapping chosen at start
        wanted = wanted_unlock_key(cluster)
        try:
            changed = self._keys.rewrap(wanted)
        except (KeyStoreError, OSError) as exc:
            _log.error("node.keys.rewrap.failed", error=str(exc))
            return
        if changed:
            _log.info("node.keys.rewrapped", autolock=wanted is not None)
            if self._on_change is not None:
                self._on_change(wanted is not None)

    def _run(self) -> None:
        while not self._stop.is_set():
            cluster, watcher = self._store.view_and_watch(
                clusters.get_default, kinds={ObjectKind.CLUSTER}
            )
            try:
                self.check(cluster)
                while not self._stop.is_set() and not watcher.closed:
                    event = watcher.get(timeout=self._interval)
                    if event is not None and isinstance(event.object, Cluster):
                        self.check(self._store.view(clusters.get_default))
            finally:
                watcher.close()
            # a closed watcher (overflow, store restore): read the cluster again
