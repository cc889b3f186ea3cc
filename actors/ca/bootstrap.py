"""What cluster init creates for security: pure.

`bootstrap_cluster_security` makes a root CA, the two join tokens and the first manager's
certificate (binding its CURVE key). The CA key goes into the store's ``Cluster.root_ca``
(wrapped under ``wrapping_key`` when autolock asks for it; the Raft log is encrypted at
rest anyway). Only managers hold the store, so the key never reaches a worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives.asymmetric import ec

from actors.ca.certs import (
    DEFAULT_NODE_CERT_EXPIRY,
    IssuedCertificate,
    create_csr,
    generate_node_key,
    issue_node_certificate,
)
from actors.ca.root import CertificateAuthority, create_root_ca
from actors.ca.tokens import new_join_tokens
from api.enums import NodeRole
from api.ids import RandomBits
from api.objects import Cluster, JoinTokens, Node, RootCA

__all__ = ["ClusterSecurity", "bootstrap_cluster_security"]


@dataclass(frozen=True)
class ClusterSecurity:
    """What cluster init creates; put it in the store with `cluster` and `node`."""

    ca: CertificateAuthority
    root_ca: RootCA
    join_tokens: JoinTokens
    node_key: ec.EllipticCurvePrivateKey = field(repr=False)
    node_cert: IssuedCertificate

    def cluster(self, cluster: Cluster) -> Cluster:
        return replace(cluster, root_ca=self.root_ca, join_tokens=self.join_tokens)

    def node(self, node: Node) -> Node:
        return replace(node, role=NodeRole.MANAGER, certificate=self.node_cert.cert_pem)


def bootstrap_cluster_security(
    now: float,
    rng: RandomBits,
    *,
    cluster_id: str,
    node_id: str,
    curve_public_key: bytes,
    wrapping_key: bytes | None = None,
    cert_expiry: float = DEFAULT_NODE_CERT_EXPIRY,
    node_key: ec.EllipticCurvePrivateKey | None = None,
) -> ClusterSecurity:
    """A new root CA, join tokens and the first manager's certificate (binding its CURVE
    key). ``rng``: ``secrets.SystemRandom()`` outside tests (token secrets, serials)."""
    ca = create_root_ca(now, rng)
    key = node_key if node_key is not None else generate_node_key()
    issued = issue_node_certificate(
        ca,
        create_csr(key, curve_public_key),
        node_id=node_id,
        role=NodeRole.MANAGER,
        cluster_id=cluster_id,
        now=now,
        rng=rng,
        expiry=cert_expiry,
    )
    return ClusterSecurity(ca, ca.to_api(wrapping_key), new_join_tokens(ca.cert, rng), key, issued)
