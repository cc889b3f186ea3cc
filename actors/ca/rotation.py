"""Root CA rotation (SwarmKit's ``RootCA.RootRotation`` and its root reconciler): pure.

- **Start** (`start_rotation`): a new self-signed root and key, and the new root's name and
  key certified by the current root (`actors.ca.root.cross_sign`), recorded in
  ``RootCA.root_rotation``; the new key is stored like the current one (wrapped when the
  CA service wraps). A rotation started during another replaces it, cross-signed by the
  current root again (the one every node still trusts); the replaced rotation's root stays
  trusted until the new rotation completes (``superseded_ca_certs``, the last
  `MAX_SUPERSEDED`), or the nodes it already certified would be refused, unable to renew.
- **During**: the CA issues under the new root (`signer`); the cluster trusts both roots
  (`trusted_root_pems`); each node sees its certificate's issuer is not the desired one
  (`desired_issuer_digest`) and renews at once (`actors.ca.renewal.renewal_reason`). A node
  that trusts only the current root accepts the new one only through the cross-signed
  certificate (`vouched_root`).
- **Completion** (`rotation_progress`, `finish_rotation`): once every Node in the store
  *reports* a certificate issued by the new root (its ``description.tls_info``, which the
  node sends from the certificate it actually uses: actors/ca/tls_info.py), the new root
  becomes the cluster's, the join tokens are made again (their digest names the root, so
  old tokens are refused as naming another CA) and the old root is no longer trusted. The
  certificate the CA wrote in the store (``Node.certificate``) does not count: its reply
  may have been lost, or the node failed to install it (a full disk, a crash before its
  write), and it would still hold the old one. As SwarmKit's reconciler, a node that is
  down still counts, and so does one that never reported (a node older than the report):
  the rotation waits for it (or for ``node rm``). The rotation's cross-signature stays
  (``RootCA.cross_signed_ca_cert``, in replies as ``cross_signed``): a node whose renewal
  the store recorded but whose reply it never got still trusts only the old root, and
  accepts the new one by it.
- **Display** (`tls_progress`): Docker's ``rotated TLS certificates`` and ``rotated CA
  certificates``: of all nodes, those reporting a certificate of the root they should be
  on, and those trusting it alone (the old root dropped once the rotation completed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from actors.ca.certs import CertificateError, issuing_root
from actors.ca.root import (
    MAX_TRUSTED_ROOTS,
    CAError,
    CertificateAuthority,
    create_root_ca,
    cross_sign,
    load_root_ca,
)
from actors.ca.tls_info import reports_issuer, trusts_only
from actors.ca.tokens import ca_digest, new_join_tokens
from api.ids import RandomBits
from api.objects import JoinTokens, Node, NodeTLSInfo, RootCA, RootRotation

__all__ = [
    "MAX_ROOT_PEM",
    "MAX_SUPERSEDED",
    "RotationProgress",
    "TLSProgress",
    "cluster_roots",
    "desired_issuer_digest",
    "desired_issuer_pem",
    "finish_rotation",
    "root_digests",
    "rotation_progress",
    "start_rotation",
    "tls_progress",
    "trust_fields",
    "trusted_root_pems",
    "vouched_root",
]

MAX_ROOT_PEM = 8 * 1024  # a P-256 root is well under 1 KiB of PEM
# replaced rotations' roots kept trusted: with the current and the new root, what a node
# holds at most (actors.ca.root.MAX_TRUSTED_ROOTS)
MAX_SUPERSEDED = MAX_TRUSTED_ROOTS - 2


def start_rotation(
    root_ca: RootCA,
    current: CertificateAuthority,
    *,
    now: float,
    rng: RandomBits,
    force_rotate: int,
    wrapping_key: bytes | None = None,
    new: CertificateAuthority | None = None,
) -> RootCA:
    """``root_ca`` with a new rotation under way (``current``: its CA, with the key) to
    ``new`` (a root and key the operator gave, checked by `load_root_ca`), else to a root
    made here."""
    if new is None:
        new = create_root_ca(now, rng)
    elif new.key is None:
        raise CAError("the new root CA needs its private key")
    elif new.cert == current.cert or (
        root_ca.root_rotation is not None and new.cert_pem == root_ca.root_rotation.ca_cert
    ):
        raise CAError("the given root CA is already the cluster's")
    crossed = cross_sign(current, new.cert, rng)
    replaced = root_ca.root_rotation
    superseded = (*replaced.superseded_ca_certs, replaced.ca_cert) if replaced is not None else ()
    kept = tuple(pem for pem in superseded if pem != new.cert_pem)
    rotation = RootRotation(
        ca_cert=new.cert_pem,
        ca_key=new.key_pem(wrapping_key),
        cross_signed_ca_cert=crossed.public_bytes(serialization.Encoding.PEM),
        superseded_ca_certs=kept[-MAX_SUPERSEDED:],
    )
    return replace(root_ca, root_rotation=rotation, last_forced_rotation=force_rotate)


def desired_issuer_pem(root_ca: RootCA) -> bytes:
    """The root node certificates should be issued by: the new one during a rotation."""
    rotation = root_ca.root_rotation
    return rotation.ca_cert if rotation is not None else root_ca.ca_cert


def desired_issuer_digest(root_ca: RootCA) -> str:
    return ca_digest(desired_issuer_pem(root_ca))


def trusted_root_pems(root_ca: RootCA) -> tuple[bytes, ...]:
    """The roots the cluster trusts: the current one, and during a rotation the new one
    and those of the rotations it replaced."""
    rotation = root_ca.root_rotation
    if rotation is None:
        return (root_ca.ca_cert,)
    return (root_ca.ca_cert, rotation.ca_cert, *rotation.superseded_ca_certs)


def cluster_roots(root_ca: RootCA) -> tuple[x509.Certificate, ...]:
    """`trusted_root_pems`, parsed."""
    return tuple(x509.load_pem_x509_certificate(pem) for pem in trusted_root_pems(root_ca))


def root_digests(root_ca: RootCA) -> tuple[str, ...]:
    return tuple(ca_digest(pem) for pem in trusted_root_pems(root_ca))


@dataclass(frozen=True)
class RotationProgress:
    """How far a rotation is: nodes that report a certificate of the new root, of all."""

    total: int
    converged: int
    waiting: tuple[str, ...]  # ids of the nodes that do not report one yet

    @property
    def complete(self) -> bool:
        return not self.waiting


def _reported(node: Node) -> NodeTLSInfo | None:
    return node.description.tls_info if node.description is not None else None


def rotation_progress(root_ca: RootCA, nodes: Iterable[Node]) -> RotationProgress | None:
    """None when no rotation is under way; else which nodes still wait: those whose own
    report does not name the new root as their certificate's issuer (every node in the
    store counts, down or not, reported or not, as in SwarmKit)."""
    rotation = root_ca.root_rotation
    if rotation is None:
        return None
    total, waiting = 0, []
    for node in nodes:
        total += 1
        if not reports_issuer(_reported(node), rotation.ca_cert):
            waiting.append(node.id)
    return RotationProgress(total, total - len(waiting), tuple(sorted(waiting)))


@dataclass(frozen=True)
class TLSProgress:
    """Docker's two counts (``docker swarm ca``), by the nodes' own reports: of ``total``
    nodes, those whose certificate the root they should be on issued (``certificates``)
    and those that trust that root alone (``roots``); ``desired_root``: its digest."""

    desired_root: str
    total: int
    certificates: int
    roots: int


def tls_progress(root_ca: RootCA, nodes: Iterable[Node]) -> TLSProgress:
    """The nodes' TLS as against the root they should be on (`desired_issuer_pem`)."""
    desired = desired_issuer_pem(root_ca)
    total = certificates = roots = 0
    for node in nodes:
        reported = _reported(node)
        total += 1
        certificates += reports_issuer(reported, desired)
        roots += trusts_only(reported, desired)
    return TLSProgress(ca_digest(desired), total, certificates, roots)


def trust_fields(root_ca: RootCA) -> dict[str, Any]:
    """What hello, root, join and renew replies say of the cluster's roots: ``ca_cert``
    (the current root), ``cross_signed`` (it, certified by the root before it: after a
    rotation) and, during a rotation, ``rotation``: the new root and its cross-signed
    certificate, by which a node trusting the current root checks it."""
    fields: dict[str, Any] = {"ca_cert": root_ca.ca_cert}
    if root_ca.cross_signed_ca_cert:
        fields["cross_signed"] = root_ca.cross_signed_ca_cert
    rotation = root_ca.root_rotation
    if rotation is not None:
        fields["rotation"] = {
            "ca_cert": rotation.ca_cert,
            "cross_signed": rotation.cross_signed_ca_cert,
        }
    return fields


def finish_rotation(root_ca: RootCA, rng: RandomBits) -> tuple[RootCA, JoinTokens]:
    """The cluster's root CA and join tokens once the rotation in ``root_ca`` completes."""
    rotation = root_ca.root_rotation
    if rotation is None:
        raise CAError("no root rotation is under way")
    finished = RootCA(
        ca_cert=rotation.ca_cert,
        ca_key=rotation.ca_key,
        ca_cert_hash=ca_digest(rotation.ca_cert),
        last_forced_rotation=root_ca.last_forced_rotation,
        cross_signed_ca_cert=rotation.cross_signed_ca_cert,
    )
    return finished, new_join_tokens(rotation.ca_cert, rng)


def vouched_root(
    trusted: Sequence[CertificateAuthority | x509.Certificate],
    root_pem: bytes,
    cross_signed_pem: bytes,
    *,
    now: float,
) -> CertificateAuthority:
    """The new root ``root_pem``, if a root in ``trusted`` certified its name and key
    (``cross_signed_pem``); CAError otherwise. This is how a node that trusts only the
    current root comes to trust the new one during a rotation."""
    if len(root_pem) > MAX_ROOT_PEM or len(cross_signed_pem) > MAX_ROOT_PEM:
        raise CAError("a root CA certificate of the rotation is too large")
    root = load_root_ca(root_pem, now=now)
    try:
        crossed = x509.load_pem_x509_certificate(cross_signed_pem)
    except ValueError as exc:
        raise CAError(f"the cross-signed CA certificate is not valid PEM: {exc}") from None
    if crossed.subject != root.cert.subject or crossed.public_key() != root.cert.public_key():
        raise CAError("the cross-signed CA certificate is not for the new root")
    try:
        signer = issuing_root(crossed, trusted)
    except (CertificateError, ValueError):
        signer = None
    if signer is None:
        raise CAError("the new root CA is not vouched for by a root this node trusts")
    return root
