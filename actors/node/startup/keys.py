"""A manager's keys at rest: the key store (data key, node private keys), locked or not.

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
- The node's private keys (CURVE secret, certificate key) follow autolock. Off: they are
  the 0600 files every node has (``keys/curve.key``, ``certificates/node.key``; a KEK file
  beside them would protect them no better than their mode, and SwarmKit too keeps its TLS
  key plain when not autolocked). On: they move into the key store (`CURVE_SECRET`,
  `NODE_TLS_KEY`) and their files are deleted, so nothing private is left readable.
  `NodeKeys` is the `actors.ca.node_identity.KeyVault` the identity and certificate code read and
  write them through; a renewal and a rewrap never interleave (one lock).
- The cluster made at init (it holds the CA key) waits in the key store (`INITIAL_CLUSTER`)
  until the store holds it, whatever autolock says: it is never written in the clear.
- While the node runs, `actors.node.startup.rekey.KeyRewrapper` watches the Cluster object and
  rewraps the key store whenever the wanted wrapping changes (autolock switched on or off,
  key rotated). Switching on writes the store with the private keys first and deletes
  their files after; switching off writes the files first. A crash in between leaves both
  copies; `NodeKeys.settle` (run when the keys are opened) deletes the files of a locked
  store.
- Switching autolock on and rotating the unlock key also rotate the data key, in the same
  key store write (`rewrap(..., new_data_key=...)`): the new key becomes `DATA_KEY` and the
  old ones wait in `RETIRING_DATA_KEYS` while files are still under them. `ring` (every
  cipher of these keys reads through it) writes under the new key only once it is
  durable, reads under all; `retire_data_keys` drops the old ones once every file is
  rewritten (`actors.node.startup.rekey`).
- Unlock keys are never logged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import zmq

from actors.ca.encryption import (
    DATA_KEY_BYTES,
    DataKeyRing,
    MalformedUnlockKey,
    RingCipher,
    UnlockKey,
    new_data_key,
    parse_unlock_key,
)
from actors.ca.keystore import (
    CURVE_SECRET,
    DATA_KEY,
    NODE_TLS_KEY,
    RETIRING_DATA_KEYS,
    KeyStore,
    KeyStoreError,
    KeyStoreLocked,
)
from actors.ca.node_certs import CERTS_DIR, NODE_KEY_FILE
from actors.ca.node_identity import KEY_FILE, KEYS_DIR
from actors.durable import fsync_dir, write_durable
from actors.keypair_file import write_keypair
from actors.log import get_logger
from api.objects import Cluster
from transport.keys import KeyPair, read_keypair

__all__ = [
    "KEYSTORE_DIR",
    "LockedKeys",
    "NodeKeys",
    "NodeKeysError",
    "PrivateKeyFiles",
    "data_key_ring",
    "open_node_keys",
    "wanted_unlock_key",
]

KEYSTORE_DIR: Final = "keystore"
RAFT_DIR: Final = "raft"
_WAL_AAD: Final = b"swarmnode raft"
_WORKER_STATE_AAD: Final = b"swarmnode worker state"
_MOVABLE: Final = (CURVE_SECRET, NODE_TLS_KEY)  # the private keys that follow autolock

_log = get_logger("keys")


class NodeKeysError(Exception):
    """The state dir's keys cannot be used (old plaintext state dir, damaged key store)."""


@dataclass(frozen=True)
class PrivateKeyFiles:
    """Where a node keeps its private keys when they are not locked in the key store."""

    curve: Path  # keys/curve.key: public and secret key, Z85, one a line
    tls: Path  # certificates/node.key: PKCS#8 PEM

    @classmethod
    def of(cls, state_dir: Path) -> PrivateKeyFiles:
        state_dir = Path(state_dir)
        return cls(state_dir / KEYS_DIR / KEY_FILE, state_dir / CERTS_DIR / NODE_KEY_FILE)

    def read(self) -> dict[str, bytes]:
        """The keys found in the files (a missing file: absent from the result)."""
        found: dict[str, bytes] = {}
        if self.curve.exists():
            try:
                found[CURVE_SECRET] = read_keypair(self.curve).secret
            except ValueError as exc:
                raise NodeKeysError(f"{self.curve} is damaged: {exc}") from None
        if self.tls.exists():
            found[NODE_TLS_KEY] = self.tls.read_bytes()
        return found

    def write(self, name: str, value: bytes) -> None:
        path = self.path(name)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if name == CURVE_SECRET:
            write_keypair(path, KeyPair(zmq.curve_public(value), value))
        else:
            write_durable(path, value)

    def path(self, name: str) -> Path:
        return self.curve if name == CURVE_SECRET else self.tls

    def remove(self, name: str) -> None:
        path = self.path(name)
        if path.exists():
            path.unlink()
            fsync_dir(path.parent)


def data_key_ring(secrets: Mapping[str, bytes]) -> DataKeyRing:
    """The ring of a key store's data keys: `DATA_KEY` writes, the retiring ones read."""
    if DATA_KEY not in secrets:
        raise NodeKeysError("the key store holds no Raft data key")
    retiring = secrets.get(RETIRING_DATA_KEYS, b"")
    if len(retiring) % DATA_KEY_BYTES:
        raise NodeKeysError(f"the key store's {RETIRING_DATA_KEYS} is damaged")
    older = [retiring[i : i + DATA_KEY_BYTES] for i in range(0, len(retiring), DATA_KEY_BYTES)]
    return DataKeyRing(secrets[DATA_KEY], older)


def _rotated(secrets: Mapping[str, bytes], new_data_key: bytes) -> dict[str, bytes]:
    """`DATA_KEY` and `RETIRING_DATA_KEYS` once ``new_data_key`` replaces the data key."""
    older = data_key_ring(secrets).keys
    return {
        DATA_KEY: new_data_key,
        RETIRING_DATA_KEYS: b"".join(k for k in older if k != new_data_key),
    }


@dataclass
class NodeKeys:
    """The unwrapped secrets and the unlock key they are wrapped under now (None: a KEK
    file). With autolock ``secrets`` also holds the node's private keys; ``files`` says
    where they go when autolock is off (None: a key store of the data key alone)."""

    store: KeyStore
    secrets: dict[str, bytes] = field(repr=False)
    unlock_key: UnlockKey | None = field(default=None, repr=False)
    files: PrivateKeyFiles | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    ring: DataKeyRing = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.ring = data_key_ring(self.secrets)

    def raft_cipher(self) -> RingCipher:
        return self.ring.cipher(associated_data=_WAL_AAD)

    def worker_state_cipher(self) -> RingCipher:
        """For the manager's own worker state file (its tasks name services and env)."""
        return self.ring.cipher(associated_data=_WORKER_STATE_AAD)

    @property
    def rotating(self) -> bool:
        """A data key rotation is unfinished: files may be under a retiring key."""
        return RETIRING_DATA_KEYS in self.secrets

    @property
    def autolocked(self) -> bool:
        return self.unlock_key is not None

    # -- actors.ca.node_identity.KeyVault -------------------------------------------------------
    def get(self, name: str) -> bytes | None:
        """A private key held in the key store (None: it is in its file, if anywhere)."""
        with self._lock:
            return self.secrets.get(name) if name in _MOVABLE else None

    def put(self, name: str, value: bytes, write_file: Callable[[bytes], None]) -> None:
        """Store a private key where it belongs now: the key store when autolocked, else
        ``write_file`` (its 0600 file)."""
        with self._lock:
            if self.autolocked:
                self._update({**self.secrets, name: value})
            else:
                write_file(value)

    # -- other secrets (the cluster at init) --------------------------------------------
    def set_secret(self, name: str, value: bytes) -> None:
        with self._lock:
            self._update({**self.secrets, name: value})

    def remove_secret(self, name: str) -> None:
        with self._lock:
            if name in self.secrets:
                self._update({k: v for k, v in self.secrets.items() if k != name})

    def _update(self, secrets: dict[str, bytes]) -> None:
        self.store.update(secrets, self.unlock_key)
        self.secrets = secrets

    # -- wrapping -----------------------------------------------------------------------
    def rewrap(self, wanted: UnlockKey | None, *, new_data_key: bytes | None = None) -> bool:
        """Wrap the secrets under ``wanted`` (None: a KEK file), moving the private keys in
        or out of the key store; with ``new_data_key``, rotate the data key in the same
        write (the ring writes under it once it is durable). True if anything changed."""
        with self._lock:
            if wanted == self.unlock_key and new_data_key is None:
                return False
            secrets = dict(self.secrets)
            if new_data_key is not None:
                secrets.update(_rotated(secrets, new_data_key))
            if self.unlock_key is None and wanted is not None:  # on: keys in, files out after
                secrets.update(self._file_keys())
            elif self.unlock_key is not None and wanted is None:  # off: files first
                if self.files is not None:
                    for name in _MOVABLE:
                        if name in secrets:
                            self.files.write(name, secrets[name])
                secrets = {k: v for k, v in secrets.items() if k not in _MOVABLE}
            self.store.rewrap(self.unlock_key, wanted, secrets)
            self.secrets, self.unlock_key = secrets, wanted
            if new_data_key is not None:
                self.ring.begin(new_data_key)
            self.settle()
            return True

    def retire_data_keys(self) -> bool:
        """Forget the data keys a rotation replaced: call once no file is under them. True
        if there were any."""
        with self._lock:
            if not self.rotating:
                return False
            self._update({k: v for k, v in self.secrets.items() if k != RETIRING_DATA_KEYS})
            self.ring.retire()
            return True

    def settle(self) -> None:
        """Finish a move a crash interrupted: a locked store's private keys have no files."""
        with self._lock:
            if self.files is None:
                return
            if self.autolocked:
                for name in _MOVABLE:
                    if name in self.secrets:
                        self.files.remove(name)

    def _file_keys(self) -> dict[str, bytes]:
        """The private keys in their files (none yet at init: they are written later
        through `put`)."""
        return self.files.read() if self.files is not None else {}


@dataclass
class LockedKeys:
    """An autolocked key store waiting for the operator's unlock key."""

    store: KeyStore
    files: PrivateKeyFiles | None = None

    def unlock(self, text: str) -> NodeKeys:
        """The keys, unwrapped with the unlock key written as ``text``. Raises
        `MalformedUnlockKey`, `InvalidUnlockKey` (message: "invalid unlock key") or
        `KeyStoreError` (the key store file is damaged)."""
        key = parse_unlock_key(text)
        secrets = self.store.load(key)
        keys = NodeKeys(self.store, secrets, key, self.files)
        keys.settle()
        return keys


def open_node_keys(
    state_dir: Path, *, new_unlock_key: UnlockKey | None = None
) -> NodeKeys | LockedKeys:
    """The manager's keys, creating the key store on first use (autolocked under
    ``new_unlock_key`` when given). `LockedKeys` when autolock is on."""
    store = KeyStore(Path(state_dir) / KEYSTORE_DIR)
    files = PrivateKeyFiles.of(state_dir)
    if not store.exists():
        if (Path(state_dir) / RAFT_DIR).exists():
            raise NodeKeysError(
                f"state dir {state_dir} holds Raft data written without encryption at rest "
                "(by an older swarm-node, or its keystore is missing); it cannot be used: "
                "start from an empty state dir"
            )
        secrets = {DATA_KEY: new_data_key()}
        if new_unlock_key is not None:
            secrets.update(files.read())  # keys already on disk move in
        try:
            store.create(secrets, unlock_key=new_unlock_key)
        except OSError as exc:
            raise NodeKeysError(f"cannot create the key store: {exc}") from exc
        _log.info("node.keys.created", autolock=new_unlock_key is not None)
        created = NodeKeys(store, secrets, new_unlock_key, files)
        created.settle()
        return created
    try:
        secrets = store.load(None)
    except KeyStoreLocked:
        return LockedKeys(store, files)
    except (KeyStoreError, OSError) as exc:
        raise NodeKeysError(f"cannot read the key store: {exc}") from exc
    if DATA_KEY not in secrets:
        raise NodeKeysError(f"the key store in {state_dir} holds no Raft data key")
    return NodeKeys(store, secrets, None, files)


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
