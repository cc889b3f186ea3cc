"""A running manager's keys at rest follow the Cluster object: wrapping and data key.

Rules:
- `KeyRewrapper` (a periodic job of the manager's tree, actors/node/startup/at_rest.py)
  reads the Cluster object every tick and, when it changed, wraps the key store under
  the unlock key it names (`actors.node.startup.keys.wanted_unlock_key`; None: a KEK
  file).
- Switching autolock on and rotating the unlock key also rotate the data key
  (`needs_new_data_key`), so a copy of the state dir taken before cannot read what is
  written after: without it, the old copy's data key (under its KEK file, or under the
  old unlock key) would decrypt every later entry, the new unlock key included. Switching
  autolock off does not: the new key would sit beside its KEK file anyway.
- A rotation, as SwarmKit's (manager/deks.go, raft's key rotation), in steps each durable
  before the next:
    1. one key store write: the new wrapping, the new data key, the old ones retiring
       (`NodeKeys.rewrap`); only then does the ring write under the new key;
    2. every file under the data key rewritten under the new one: the Raft storage
       through a new snapshot (`RaftNode.reencrypt_at_rest`) and the manager's worker
       state (`WorkerStateFile.reencrypt`);
    3. one key store write without the retiring keys (`NodeKeys.retire_data_keys`).
  A crash at any point leaves a state dir that opens: before 1 with the old key alone,
  after 3 with the new one alone, in between with both (the key store holds both); a
  manager started with retiring keys finishes the rotation (step 2 again, then 3).
- Step 2 fails while Raft is not running (starting, restarting, joining): it is retried
  with backoff (`actors.backoff.Backoff`) on later ticks; meanwhile everything stays
  readable with both keys. A failed rewrap (step 1) is logged and tried again when the
  Cluster object changes next.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, Protocol

from actors.backoff import Backoff
from actors.ca.encryption import UnlockKey, new_data_key
from actors.ca.keystore import KeyStoreError
from actors.log import get_logger
from actors.node.startup.keys import NodeKeys, NodeKeysError, wanted_unlock_key
from actors.raft_node.actor import RaftNode
from actors.store import MemoryStore, clusters
from actors.worker.state import WORKER_DIR, WorkerStateFile
from api.objects import Cluster

__all__ = [
    "KeyRewrapper",
    "RaftNodes",
    "needs_new_data_key",
    "reencrypt_state_dir",
]

REENCRYPT_TIMEOUT: Final = 60.0  # seconds for the Raft loop to rewrite its storage
POLL_INTERVAL: Final = 0.5
RETRY_BACKOFF: Final = Backoff(initial=0.5, maximum=30.0)

_log = get_logger("keys")


def needs_new_data_key(current: UnlockKey | None, wanted: UnlockKey | None) -> bool:
    """Whether a change of wrapping from ``current`` to ``wanted`` (None: a KEK file)
    rotates the data key: autolock switched on, or the unlock key rotated."""
    return wanted is not None and wanted != current


class RaftNodes(Protocol):
    """Where the Raft node running now is found (the tree's ``RaftHolder``)."""

    @property
    def node(self) -> RaftNode | None: ...


def reencrypt_state_dir(
    raft: RaftNodes, state_dir: Path, keys: NodeKeys, *, timeout: float = REENCRYPT_TIMEOUT
) -> Callable[[], None]:
    """Step 2 of a rotation for the manager in ``state_dir``: raises when Raft is not
    running or its loop did not finish in time (the caller retries)."""

    def reencrypt() -> None:
        node = raft.node
        if node is None:
            raise RuntimeError("the Raft node is not running")
        node.reencrypt_at_rest().result(timeout)
        WorkerStateFile(state_dir / WORKER_DIR, keys.worker_state_cipher()).reencrypt()

    return reencrypt


class KeyRewrapper:
    """Keeps the key store's wrapping and data key in line with the Cluster object (an
    `actors.periodic.PeriodicJob`; see the module docstring)."""

    def __init__(
        self,
        keys: NodeKeys,
        store: MemoryStore,
        *,
        reencrypt: Callable[[], None] | None = None,
        on_change: Callable[[bool], None] | None = None,
        poll_interval: float = POLL_INTERVAL,
        backoff: Backoff = RETRY_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        make_data_key: Callable[[], bytes] = new_data_key,
    ) -> None:
        self._keys = keys
        self._store = store
        self._reencrypt = reencrypt
        self._on_change = on_change
        self._interval = poll_interval
        self._backoff = backoff
        self._clock = clock
        self._make_data_key = make_data_key
        self._failures = 0
        self._retry_at = 0.0
        self._seen: int | None = -1  # the Cluster object's version last checked (None: none)

    def interval(self) -> float:
        return self._interval

    def tick(self, now: float) -> None:
        """Check the Cluster object when it changed since the last tick (the first tick
        always); else go on with an unfinished rotation."""
        cluster = self._store.view(clusters.get_default)
        version = cluster.meta.version if cluster is not None else None
        if version != self._seen:
            self._seen = version
            self.check(cluster, now)
        elif self._keys.rotating:
            self.finish_rotation(now)

    def check(self, cluster: Cluster | None, now: float | None = None) -> None:
        if cluster is None:
            return  # not committed yet (init): keep the wrapping chosen at start
        wanted = wanted_unlock_key(cluster)
        rotate = needs_new_data_key(self._keys.unlock_key, wanted)
        try:
            changed = self._keys.rewrap(
                wanted, new_data_key=self._make_data_key() if rotate else None
            )
        except (KeyStoreError, NodeKeysError, OSError) as exc:
            _log.error("node.keys.rewrap.failed", error=str(exc))
            return
        if changed:
            _log.info("node.keys.rewrapped", autolock=wanted is not None, data_key_rotated=rotate)
            self._failures, self._retry_at = 0, 0.0  # a new rotation: try it at once
            if self._on_change is not None:
                self._on_change(wanted is not None)
        self.finish_rotation(now)

    def finish_rotation(self, now: float | None = None) -> bool:
        """Steps 2 and 3 of an unfinished rotation, unless a retry is not due yet; True
        when no rotation is left unfinished."""
        if not self._keys.rotating:
            return True
        now = self._clock() if now is None else now
        if self._reencrypt is None or now < self._retry_at:
            return False
        try:
            self._reencrypt()
            self._keys.retire_data_keys()
        except Exception as exc:  # Raft not running, a failed write: retried later
            self._failures += 1
            delay = self._backoff.delay(self._failures)
            self._retry_at = now + delay
            _log.warning(
                "node.keys.data_key.rotation_deferred",
                error=str(exc)[:300],
                attempt=self._failures,
                retry_in=round(delay, 3),
            )
            return False
        self._failures = 0
        _log.info("node.keys.data_key.rotated")
        return True
