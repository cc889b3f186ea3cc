"""What removing a node records: a `RevokedCertificate` naming its certificate's serial,
CURVE key and expiry, so the admission index refuses the key until the certificate would
have expired (the CA service's `record_removal` adds it to ``Cluster.revoked`` and deletes
the Node in one transaction). Pure.
"""

from __future__ import annotations

from actors.ca.certs import read_node_certificate
from api.objects import Node, RevokedCertificate

__all__ = ["revoked_certificate"]


def revoked_certificate(node: Node, *, now: float, reason: str) -> RevokedCertificate:
    """The revocation record of ``node``'s certificate (a node without one: its id)."""
    if not node.certificate:
        return RevokedCertificate(node_id=node.id, serial="", curve_public_key="", not_after=now)
    info = read_node_certificate(node.certificate)
    return RevokedCertificate(
        node_id=node.id,
        serial=format(info.serial, "x"),
        curve_public_key=info.curve_public_key.decode("ascii"),
        not_after=info.not_after,
        reason=reason,
    )
