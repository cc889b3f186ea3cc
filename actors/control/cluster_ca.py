"""Control API: the cluster's root CA (``control.cluster.ca``): its certificate, and the
progress of a root CA rotation, which ``rotate`` starts (actors/ca/rotation.py), to a new
root made by the CA or to the one ``ca_cert`` and ``ca_key`` give (PEM, ECDSA P-256). Served on
managers only (the control socket is a manager's); the CA keys never leave the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from actors.ca.issuance import JoinRefused
from actors.ca.rotation import MAX_ROOT_PEM, rotation_progress, tls_progress
from actors.control.errors import Body, ControlCode, ControlError, guarded
from actors.store import MemoryStore, ReadTx, clusters, nodes
from api.objects import Cluster
from transport.endpoint import Handler

__all__ = ["WAITING_SHOWN", "ca_body", "ca_handlers"]

WAITING_SHOWN: Final = 20  # node ids a reply names of those still waiting (the count is whole)

RootRotator = Callable[[tuple[bytes, bytes] | None], Cluster]


def ca_body(tx: ReadTx) -> Body:
    """The reply's body: the root certificate (PEM text); during a rotation, how many
    nodes already report a certificate of the new root, of how many, and who waits
    (``rotation``); and Docker's two counts, by the nodes' own reports (``tls``: the
    digest of the root they should be on, how many report a certificate it issued and how
    many trust it alone, of how many)."""
    cluster = clusters.get_default(tx)
    if cluster is None or not cluster.root_ca.ca_cert:
        raise ControlError(ControlCode.UNAVAILABLE, "the cluster has no certificate authority")
    body: dict[str, Any] = {"ca_cert": cluster.root_ca.ca_cert.decode("ascii")}
    every = nodes.list_all(tx)
    progress = rotation_progress(cluster.root_ca, every)
    if progress is not None:
        body["rotation"] = {
            "converged": progress.converged,
            "total": progress.total,
            "waiting": list(progress.waiting[:WAITING_SHOWN]),
        }
    tls = tls_progress(cluster.root_ca, every)
    body["tls"] = {
        "desired_root": tls.desired_root,
        "total": tls.total,
        "certificates": tls.certificates,
        "roots": tls.roots,
    }
    return body


def _given_root(body: Body) -> tuple[bytes, bytes] | None:
    """The root CA certificate and key a rotation should move to, when given."""
    cert, key = body.get("ca_cert") or b"", body.get("ca_key") or b""
    if not cert and not key:
        return None
    if not body.get("rotate"):
        raise ControlError(ControlCode.INVALID_ARGUMENT, "ca_cert and ca_key need rotate")
    if not (cert and key):
        raise ControlError(
            ControlCode.INVALID_ARGUMENT,
            "a new root CA needs both its certificate and its key (an external CA signing "
            "for it is not supported)",
        )
    if len(cert) > MAX_ROOT_PEM or len(key) > MAX_ROOT_PEM:
        raise ControlError(
            ControlCode.INVALID_ARGUMENT, f"the new root CA's PEM exceeds {MAX_ROOT_PEM} bytes"
        )
    return bytes(cert), bytes(key)


def ca_handlers(store: MemoryStore, *, rotate_root: RootRotator) -> dict[str, Handler]:
    def ca(body: Body) -> Body:
        given = _given_root(body)
        if body.get("rotate"):
            try:
                rotate_root(given)
            except JoinRefused as exc:  # a bad root, or no CA key here to sign with
                code = (
                    ControlCode.INVALID_ARGUMENT
                    if exc.code == "invalid_argument"
                    else ControlCode.UNAVAILABLE
                )
                raise ControlError(code, exc.message) from None
        return store.view(ca_body)

    return {"control.cluster.ca": guarded(ca)}
