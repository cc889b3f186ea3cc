"""The CA's admission index kept in step with the store (see actors/ca/service.py).

`AdmissionSync` rebuilds the `ClusterAdmission` from the store in `start` (every Node's
certificate and role, the cluster's roots and revocations) and keeps it current by a store
watch, drained from the watch's ``notify`` (so on the thread that applies entries, on every
manager: it only verifies a certificate when a Node's certificate changed). It also keeps
what heartbeats tell workers of the cluster's roots (`trust_summary`): the root the CA
issues under and the roots it trusts, as digests (actors/ca/rotation.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from actors.ca.authorization import ClusterAdmission
from actors.ca.certs import CertificateError, read_node_certificate
from actors.ca.rotation import (
    cluster_roots,
    desired_issuer_digest,
    root_digests,
    trusted_root_pems,
)
from actors.log import get_logger
from actors.store import MemoryStore, WatchClosed, Watcher, clusters, nodes
from actors.store.entry import Action
from api.objects import Cluster, Node, ObjectKind

__all__ = ["AdmissionSync"]

_log = get_logger("ca")


class AdmissionSync:
    """See the module docstring."""

    def __init__(self, store: MemoryStore, admission: ClusterAdmission) -> None:
        self._store = store
        self._admission = admission
        self._sync_lock = threading.RLock()
        self._watcher: Watcher | None = None
        self._stopped = False
        self._trust: Mapping[str, Any] | None = None

    def start(self) -> None:
        """Build the admission index from the store and keep it current by a watch."""
        self._stopped = False
        self._rewatch()
        self._drain()  # events queued before the watcher was recorded

    def stop(self) -> None:
        with self._sync_lock:
            self._stopped = True
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()

    def _rewatch(self) -> None:
        with self._sync_lock:
            (all_nodes, cluster), watcher = self._store.view_and_watch(
                lambda tx: (nodes.list_all(tx), clusters.get_default(tx)),
                kinds={ObjectKind.NODE, ObjectKind.CLUSTER},
                notify=self._drain,
            )
            self._watcher = watcher
            self._admission.replace_all(all_nodes, cluster)
            self._note_trust(cluster)

    def _note_trust(self, cluster: Cluster | None) -> None:
        if cluster is not None and cluster.root_ca.ca_cert:
            root_ca = cluster.root_ca
            self._trust = {
                "issuer": desired_issuer_digest(root_ca),
                "roots": list(root_digests(root_ca)),
            }

    def trust_summary(self) -> Mapping[str, Any] | None:
        """The root the cluster issues under and the roots it trusts (digests), as the
        dispatcher's heartbeats tell workers; kept current by the store watch."""
        return self._trust

    def _drain(self) -> None:
        with self._sync_lock:
            while not self._stopped and self._watcher is not None:
                try:
                    events = self._watcher.poll()
                except WatchClosed as exc:
                    if not exc.reset:
                        return
                    self._rewatch()
                    continue
                if not events:
                    return
                for event in events:
                    self._on_event(event.kind, event.action, event.object, event.old)

    def _on_event(self, kind: ObjectKind, action: Action, obj: Any, old: Any) -> None:
        admission = self._admission
        if isinstance(obj, Node):
            if action is Action.DELETE:
                admission.remove_node(obj.id, _curve_keys(obj))
            elif obj.certificate and (old is None or old.certificate != obj.certificate):
                try:
                    admission.add_certificate(obj.certificate, obj.role)
                except (CertificateError, ValueError) as exc:
                    _log.warning("ca.admission.certificate_skipped", node=obj.id, reason=str(exc))
            else:
                admission.set_node_role(obj.id, obj.role)
        elif isinstance(obj, Cluster) and action is not Action.DELETE:
            if obj.root_ca.ca_cert and (
                not isinstance(old, Cluster)
                or trusted_root_pems(old.root_ca) != trusted_root_pems(obj.root_ca)
            ):
                admission.set_roots(cluster_roots(obj.root_ca))
                self._note_trust(obj)
            before = {r.node_id for r in old.revoked} if isinstance(old, Cluster) else set()
            for revoked in obj.revoked:
                if revoked.node_id not in before:
                    key = revoked.curve_public_key.encode("ascii")
                    admission.remove_node(revoked.node_id, [key] if key else [])


def _curve_keys(node: Node) -> list[bytes]:
    if not node.certificate:
        return []
    try:
        return [read_node_certificate(node.certificate).curve_public_key]
    except CertificateError:
        return []
