"""Docker's ``TLSInfo`` of the swarm and of each node (pure).

The docker CLI shows a node's TLS status (``node ls --format '{{.TLSStatus}}'``) as
``Ready`` when the node's TLSInfo equals the swarm's: the root CA it trusts, and the
subject and public key of the CA that issued its certificate (DER; base64 on the wire, as
Go's ``[]byte``); ``docker swarm ca --rotate`` counts the nodes whose issuer is the
swarm's (``rotated TLS certificates``) and then those whose trust root is
(``rotated CA certificates``). A node's TLSInfo is what the node itself reported
(``description.tls_info``: actors/ca/tls_info.py), never the certificate the CA wrote in
the store: the roots it trusts, named by digest, shown as their PEM (during a rotation
both roots, so not yet the swarm's); a root the cluster no longer knows makes the whole
TrustRoot unknown (""). A node that never reported (a node older than the report) has an
empty TLSInfo: ``Unknown``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

from cryptography import x509
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


def node_tls_info(reported: Mapping[str, Any] | None, roots: Mapping[str, str]) -> dict[str, str]:
    """A node's TLSInfo from its report (``description.tls_info`` of a node document:
    actors/control/views.py, its DER fields in base64 already); ``roots``: the PEM of each
    root the cluster knows, by digest."""
    if not reported:
        return dict(EMPTY)
    digests = [str(d) for d in reported.get("trust_roots") or ()]
    known = all(d in roots for d in digests)
    return {
        "TrustRoot": "".join(roots[d] for d in digests) if known else "",
        "CertIssuerSubject": str(reported.get("cert_issuer_subject") or ""),
        "CertIssuerPublicKey": str(reported.get("cert_issuer_public_key") or ""),
    }
