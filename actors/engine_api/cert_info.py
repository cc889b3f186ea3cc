"""Docker's ``TLSInfo`` of the swarm and of each node, from PEM certificates (pure).

The docker CLI shows a node's TLS status (``node ls --format '{{.TLSStatus}}'``) as
``Ready`` when the node's TLSInfo equals the swarm's: the root CA it trusts, and the
subject and public key of the CA that issued its certificate (DER; base64 on the wire, as
Go's ``[]byte``). A node whose certificate another CA issued shows ``Needs Rotation``;
without a certificate, ``Unknown``.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["node_tls_info", "swarm_tls_info"]

EMPTY: Final = {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@lru_cache(maxsize=4096)  # a node ls shows every node's certificate, each time the same
def _load(pem: str) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError:
        return None


def _issuer(ca: x509.Certificate) -> dict[str, str]:
    return {
        "CertIssuerSubject": _b64(ca.subject.public_bytes()),
        "CertIssuerPublicKey": _b64(
            ca.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        ),
    }


def swarm_tls_info(ca_pem: str, issuer_pem: str = "") -> dict[str, str]:
    """The swarm's TLSInfo: its root CA certificate, and the subject and public key of the
    CA its certificates are issued by: ``issuer_pem`` during a root CA rotation (the new
    root: ``docker swarm ca --rotate`` counts the nodes it issued), else the root's."""
    ca = _load(ca_pem) if ca_pem else None
    if ca is None:
        return dict(EMPTY)
    issuer = _load(issuer_pem) if issuer_pem else None
    return {"TrustRoot": ca_pem, **_issuer(issuer or ca)}


@lru_cache(maxsize=4096)
def _issued_by_root(ca_pem: str, cert_pem: str) -> bool:
    ca, cert = _load(ca_pem), _load(cert_pem)
    if ca is None or cert is None:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def node_tls_info(ca_pem: str, cert_pem: str, rotation_pem: str = "") -> dict[str, str]:
    """A node's TLSInfo: the root it trusts (the swarm's) and the issuer of its
    certificate: the subject and key of the root, or of a rotation's new root
    (``rotation_pem``), that signed it; else the issuer's subject, its key unknown."""
    cert = _load(cert_pem) if cert_pem else None
    if cert is None:
        return dict(EMPTY)
    trust = {"TrustRoot": ca_pem if _load(ca_pem) is not None else ""}
    for root_pem in (ca_pem, rotation_pem):
        root = _load(root_pem) if root_pem else None
        if root is not None and _issued_by_root(root_pem, cert_pem):
            return {**trust, **_issuer(root)}
    return {
        **trust,
        "CertIssuerSubject": _b64(cert.issuer.public_bytes()),
        "CertIssuerPublicKey": "",
    }
