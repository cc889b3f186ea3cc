"""What a node reports of the certificate it uses (api/objects.py ``NodeTLSInfo``, SwarmKit's
NodeTLSInfo), and how a manager reads such a report: pure.

- `node_tls_info`: a node's own report, from the certificates its state dir holds (as
  loaded and checked: actors/ca/node_certs.py): the digests of the roots it trusts, and
  the subject and public key of the root that issued its certificate. A node sends it in
  its session request and again in a heartbeat once it changed (a renewal installed, a
  root dropped: actors/worker/session_schedule.py).
- `issuer_identity`: a root as a report names it, subject and SubjectPublicKeyInfo (DER),
  as SwarmKit's ``IssuerInfo``.
- `reports_issuer`: whether a report names a root as its certificate's issuer; and
  `trusts_only`: whether the node trusts that root alone. No report (None: a node older
  than the report, or one that never opened a session) does neither: a root rotation waits
  for it, as SwarmKit's reconciler waits for a node without TLS info.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from actors.ca.tokens import ca_digest
from api.objects import NodeTLSInfo

if TYPE_CHECKING:
    from actors.ca.node_certs import NodeCertificates

__all__ = ["issuer_identity", "node_tls_info", "reports_issuer", "root_identity", "trusts_only"]


def issuer_identity(root: x509.Certificate) -> tuple[bytes, bytes]:
    """``root``'s subject and public key (DER), as a node's report names its issuer."""
    key = root.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return root.subject.public_bytes(), key


@lru_cache(maxsize=16)  # the few roots of a cluster, asked at every keeper tick
def root_identity(root_pem: bytes) -> tuple[bytes, bytes, str]:
    """A root (PEM) as reports name it: its subject, its public key and its digest."""
    root = x509.load_pem_x509_certificate(root_pem)
    return (*issuer_identity(root), ca_digest(root))


def node_tls_info(certs: NodeCertificates) -> NodeTLSInfo:
    """This node's report of the certificate it uses (``certs``: as loaded from its state
    dir, ``certs.ca`` the root that issued the certificate)."""
    subject, key = issuer_identity(certs.ca.cert)
    return NodeTLSInfo(
        trust_roots=certs.root_digests, cert_issuer_subject=subject, cert_issuer_public_key=key
    )


def reports_issuer(info: NodeTLSInfo | None, root_pem: bytes) -> bool:
    """Whether the node that reported ``info`` holds a certificate ``root_pem`` issued."""
    if info is None:
        return False
    subject, key, _digest = root_identity(root_pem)
    return info.cert_issuer_subject == subject and info.cert_issuer_public_key == key


def trusts_only(info: NodeTLSInfo | None, root_pem: bytes) -> bool:
    """Whether the node that reported ``info`` trusts ``root_pem`` and no other root."""
    return info is not None and info.trust_roots == (root_identity(root_pem)[2],)
