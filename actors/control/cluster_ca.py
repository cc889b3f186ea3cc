"""Control API: the cluster's root CA (``control.cluster.ca``): its certificate, and the
progress of a root CA rotation, which ``rotate`` starts (actors/ca/rotation.py). Served on
managers only (the control socket is a manager's); the CA keys never leave the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from actors.ca.rotation import rotation_progress
from actors.ca.service import JoinRefused
from actors.control.errors import Body, ControlCode, ControlError, guarded
from actors.store import MemoryStore, ReadTx, clusters, nodes
from api.objects import Cluster
from transport.endpoint import Handler

__all__ = ["WAITING_SHOWN", "ca_body", "ca_handlers"]

WAITING_SHOWN: Final = 20  # node ids a reply names of those still waiting (the count is whole)

RootRotator = Callable[[], Cluster]


def ca_body(tx: ReadTx) -> Body:
    """The reply's body: the root certificate (PEM text) and, during a rotation, how many
    nodes already hold a certificate of the new root, of how many."""
    cluster = clusters.get_default(tx)
    if cluster is None or not cluster.root_ca.ca_cert:
        raise ControlError(ControlCode.UNAVAILABLE, "the cluster has no certificate authority")
    body: dict[str, Any] = {"ca_cert": cluster.root_ca.ca_cert.decode("ascii")}
    progress = rotation_progress(cluster.root_ca, nodes.list_all(tx))
    if progress is not None:
        body["rotation"] = {
            "converged": progress.converged,
            "total": progress.total,
            "waiting": list(progress.waiting[:WAITING_SHOWN]),
        }
    return body


def ca_handlers(store: MemoryStore, *, rotate_root: RootRotator) -> dict[str, Handler]:
    def ca(body: Body) -> Body:
        if body.get("rotate"):
            try:
                rotate_root()
            except JoinRefused as exc:  # e.g. the cluster holds no CA key to sign with
                raise ControlError(ControlCode.UNAVAILABLE, exc.message) from None
        return store.view(ca_body)

    return {"control.cluster.ca": guarded(ca)}
