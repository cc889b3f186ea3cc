"""What a node accepts from a manager's ``ca.renew`` reply: pure.

- The roots (`reply_trust`): the renewed certificate must chain to a root the node trusts
  already (the ones in its state dir, not the reply's); during a root CA rotation also the
  reply's new root, when a root the node trusts cross-signed it
  (`actors.ca.rotation.vouched_root`); after one, the cluster's root when the node trusts
  only the one before it and that one cross-signed it (a renewal's reply it missed).
- The certificate (`check_renewed`): for this cluster and node id, binding this node's
  CURVE key and matching the new ECDSA key.

Anything else is a `RenewalFailed` with code ``untrusted_certificate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec

from actors.ca.certs import CertificateError, certificate_matches_key, verify_node_certificate
from actors.ca.root import CAError, CertificateAuthority
from actors.ca.rotation import vouched_root

if TYPE_CHECKING:
    from actors.ca.node_certs import NodeCertificates

__all__ = ["RenewalFailed", "check_renewed", "reply_trust"]


class RenewalFailed(Exception):
    """One renewal attempt failed; ``code`` says how (a manager's error code, or
    ``unreachable``, ``unauthorized``, ``untrusted_certificate``, ``stopping``)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def reply_trust(
    certs: NodeCertificates, reply: Any, now: float
) -> tuple[CertificateAuthority, ...]:
    """The roots to trust after a renewal: those of the cluster's (the reply's ``ca_cert``
    and, during a rotation, its new root) that this node trusts already or that a root it
    trusts cross-signed (`actors.ca.rotation.vouched_root`)."""
    held = certs.trusted
    current = reply["ca_cert"]
    keep = [root for root in held if root.cert_pem == current]
    crossed = reply.get("cross_signed")
    if not keep and crossed:  # a rotation completed while this node missed its renewal
        try:
            keep = [vouched_root(held, current, crossed, now=now)]
        except CAError as exc:
            raise RenewalFailed("untrusted_certificate", f"the cluster's root: {exc}") from None
    rotation = reply.get("rotation")
    if rotation:
        new_pem = rotation["ca_cert"]
        known = [root for root in held if root.cert_pem == new_pem]
        try:
            keep += known or [vouched_root(held, new_pem, rotation["cross_signed"], now=now)]
        except CAError as exc:
            raise RenewalFailed(
                "untrusted_certificate", f"the rotation's new root: {exc}"
            ) from None
    if not keep:
        raise RenewalFailed(
            "untrusted_certificate", "the manager's root CA is none this node trusts"
        )
    return tuple(keep)


def check_renewed(
    certs: NodeCertificates, reply: Any, key: ec.EllipticCurvePrivateKey, now: float
) -> tuple[bytes, tuple[CertificateAuthority, ...]]:
    """The renewed certificate (PEM) in ``reply``, for the new ``key``, and the roots to
    trust with it."""
    try:
        cert = reply["certificate"]
        if not isinstance(cert, bytes):
            raise CertificateError("the reply holds no certificate")
        trust = reply_trust(certs, reply, now)
        info = verify_node_certificate(cert, trust, now=now, cluster_id=certs.info.cluster_id)
    except (CertificateError, KeyError, TypeError, ValueError) as exc:
        raise RenewalFailed("untrusted_certificate", f"the renewed certificate: {exc}") from None
    if info.node_id != certs.node_id:
        raise RenewalFailed(
            "untrusted_certificate", f"the renewed certificate names node {info.node_id}"
        )
    if info.curve_public_key != certs.keypair.public or not certificate_matches_key(cert, key):
        raise RenewalFailed(
            "untrusted_certificate", "the renewed certificate does not bind this node's keys"
        )
    return cert, trust
