"""A manager's renewal settings: read from its own store, and watched there.

A manager's store applies the cluster's writes after the leader has them, so what the
dispatcher's heartbeats say (the leader's view) can be ahead of it: a renewer told by a
heartbeat that the cluster issues under a new root may still read the old one here, and
find nothing to do. `StoreSettings.watch` closes that gap: it calls back once the store has
applied a change that `actors.ca.renewal.changes_renewal_settings` says matters (the
Cluster's roots or certificate expiry, this node's role), and after the store was restored
from a snapshot (its watchers closed: whatever it held may have changed), so the renewer
looks again when its own answer changes, not only when a heartbeat or its timer wakes it.
The callback runs on the thread that applied the entry, after the store's lock is released:
it must not block (the renewer sends itself a message).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from actors.ca.renewal import RenewalSettings, changes_renewal_settings
from actors.ca.rotation import desired_issuer_digest, root_digests
from actors.store import Action, Event, MemoryStore, WatchClosed, Watcher, clusters, nodes
from api.objects import ObjectKind

__all__ = ["Cancel", "SettingsWatch", "StoreSettings"]

Cancel = Callable[[], None]
# subscribe a callback to the changes of the settings; returns how to unsubscribe
SettingsWatch = Callable[[Callable[[], None]], Cancel]

_KINDS = frozenset({ObjectKind.CLUSTER, ObjectKind.NODE})
_ACTIONS = frozenset({Action.CREATE, Action.UPDATE})
# events are drained on every notify: a queue this long only fills if the callback stalls,
# and then the watch is renewed and the renewer told to look anyway
_QUEUE_SIZE = 64


class StoreSettings:
    """A manager's `RenewalSettings` from its store (called), and `watch` for changes."""

    def __init__(self, store: MemoryStore, node_id: str) -> None:
        self._store = store
        self._node_id = node_id

    def __call__(self) -> RenewalSettings:
        """Its Node's role, the cluster's expiry and roots, as the store holds them now."""
        node_id = self._node_id

        def view(tx: Any) -> RenewalSettings:
            node = nodes.get(tx, node_id)
            cluster = clusters.get_default(tx)
            root_ca = cluster.root_ca if cluster is not None and cluster.root_ca.ca_cert else None
            return RenewalSettings(
                role=node.role if node is not None else None,
                cert_expiry=cluster.spec.ca_config.node_cert_expiry if cluster else None,
                issuer=desired_issuer_digest(root_ca) if root_ca is not None else None,
                roots=root_digests(root_ca) if root_ca is not None else None,
            )

        return self._store.view(view)

    def watch(self, changed: Callable[[], None]) -> Cancel:
        """Call ``changed`` after each applied change that can alter the settings (see the
        module docstring); the returned function stops the watch."""
        return _Watch(self._store, self._node_id, changed).cancel


class _Watch:
    def __init__(self, store: MemoryStore, node_id: str, changed: Callable[[], None]) -> None:
        self._store = store
        self._node_id = node_id
        self._changed = changed
        self._lock = threading.Lock()
        self._cancelled = False
        with self._lock:  # a change applied meanwhile drains once the watcher is kept
            self._watcher = self._open()

    def _matters(self, event: Event) -> bool:
        return changes_renewal_settings(event.old, event.object, self._node_id)

    def _open(self) -> Watcher:
        return self._store.watch(
            kinds=_KINDS,
            actions=_ACTIONS,
            predicate=self._matters,
            queue_size=_QUEUE_SIZE,
            notify=self._drain,
        )

    def _drain(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            try:
                seen = bool(self._watcher.poll())
            except WatchClosed:  # restored from a snapshot, or fell behind: watch again
                self._watcher = self._open()
                seen = True
        if seen:
            self._changed()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            watcher = self._watcher
        watcher.close()
