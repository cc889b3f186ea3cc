"""The root rotation keeper: a leader-only periodic job (SwarmKit's root rotation
reconciler) that completes a root CA rotation once every node reports a certificate from
the new root (its own report of the certificate it uses, actors/ca/tls_info.py, never the
one the CA wrote in the store).

Each tick reads the Cluster and the Nodes in one view, asks `rotation_progress` (pure,
actors/ca/rotation.py) and, when nothing waits, has the CA service complete the rotation
(`CAService.finish_rotation`, which writes only if the cluster's root CA is still the one
read). Progress is logged when it changes. Nodes renew on their own (their renewers see
the issuer differ), so the keeper only watches; a node that is down holds the rotation
until it comes back or is removed, as in SwarmKit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from actors.ca.rotation import RotationProgress, rotation_progress
from actors.log import get_logger
from actors.store import MemoryStore, StoreError, clusters, nodes
from api.objects import RootCA

__all__ = ["ROTATION_CHECK_INTERVAL", "RootRotationKeeper"]

ROTATION_CHECK_INTERVAL: Final = 1.0

_log = get_logger("ca")


class RootRotationKeeper:
    """A `actors.periodic.PeriodicJob`: see the module docstring."""

    def __init__(
        self,
        store: MemoryStore,
        finish: Callable[[RootCA], bool],
        *,
        interval: float = ROTATION_CHECK_INTERVAL,
    ) -> None:
        self._store = store
        self._finish = finish
        self._interval = interval
        self._last: RotationProgress | None = None

    def interval(self) -> float:
        return self._interval

    def tick(self, now: float) -> None:
        def read(tx: Any) -> tuple[RootCA | None, RotationProgress | None]:
            cluster = clusters.get_default(tx)
            if cluster is None:
                return None, None
            return cluster.root_ca, rotation_progress(cluster.root_ca, nodes.list_all(tx))

        root_ca, progress = self._store.view(read)
        if root_ca is None or progress is None:
            self._last = None
            return
        if progress != self._last:
            _log.info(
                "ca.root.rotation_progress",
                converged=progress.converged,
                total=progress.total,
                waiting=list(progress.waiting[:20]),
            )
            self._last = progress
        if not progress.complete:
            return
        try:
            self._finish(root_ca)
        except StoreError as exc:  # not the leader any more, dropped: the next tick tries
            _log.warning("ca.root.rotation_finish_failed", error=str(exc)[:200])
