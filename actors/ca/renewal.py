"""When a node renews its certificate.

Rules (as SwarmKit): renew at a random point between 50 % and 80 % of the certificate's
lifetime, so a fleet issued together does not come back together; renew at once when the
certificate's role differs from the node's role (promote / demote), when its issuer is not
the root the cluster issues under (a root CA rotation, actors/ca/rotation.py), or the
certificate is already past its renewal point, or when the cluster's certificate expiry
(``cluster update --cert-expiry``) was shortened below what the certificate has left. The
random draw comes from an injected
``random.Random``. `trust_to_keep` says which roots a node stops trusting once a rotation
has completed.

What the node knows of the cluster is a `RenewalSettings`. A manager reads it from its own
store, which applies the cluster's writes later than the leader that heartbeats speak for:
`changes_renewal_settings` says which committed change of that store makes its renewer look
again (as SwarmKit's managers watch their store's Cluster for a new root CA).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from actors.ca.certs import CERT_BACKDATE, NodeCertInfo
from actors.ca.rotation import desired_issuer_pem, trusted_root_pems
from api.enums import NodeRole
from api.objects import Cluster, Node, Object

__all__ = [
    "RENEW_MAX_FRACTION",
    "RENEW_MIN_FRACTION",
    "RenewalSettings",
    "changes_renewal_settings",
    "renewal_delay",
    "renewal_reason",
    "renewal_time",
    "trust_to_keep",
]

RENEW_MIN_FRACTION: Final = 0.5
RENEW_MAX_FRACTION: Final = 0.8


@dataclass(frozen=True)
class RenewalSettings:
    """What the node knows of the cluster: its own current role, the certificate expiry
    (None: unknown, e.g. a worker or a manager whose store has not caught up), the root
    the cluster issues under and the roots it trusts (digests; None: unknown)."""

    role: NodeRole | None = None
    cert_expiry: float | None = None
    issuer: str | None = None
    roots: tuple[str, ...] | None = None


def changes_renewal_settings(old: Object | None, new: Object, node_id: str) -> bool:
    """Whether a committed change (``old`` → ``new``; ``old`` None: a create) can change
    the `RenewalSettings` a manager reads from its store: the Cluster's issuing root,
    trusted roots or certificate expiry, or the role of this node's own Node. Cheap: it
    compares fields, it parses nothing (the store's watch runs it under its lock)."""
    if isinstance(new, Cluster):
        if not isinstance(old, Cluster):
            return True
        before, after = old.root_ca, new.root_ca
        return (
            desired_issuer_pem(before) != desired_issuer_pem(after)
            or trusted_root_pems(before) != trusted_root_pems(after)
            or old.spec.ca_config.node_cert_expiry != new.spec.ca_config.node_cert_expiry
        )
    if isinstance(new, Node) and new.id == node_id:
        return not isinstance(old, Node) or old.role is not new.role
    return False


def renewal_time(not_before: float, not_after: float, rng: random.Random) -> float:
    """A random instant between 50 % and 80 % of the way from ``not_before`` to ``not_after``."""
    if not_after <= not_before:
        raise ValueError("certificate lifetime must be positive")
    fraction = rng.uniform(RENEW_MIN_FRACTION, RENEW_MAX_FRACTION)
    return not_before + (not_after - not_before) * fraction


def renewal_delay(info: NodeCertInfo, now: float, rng: random.Random) -> float:
    """Seconds from ``now`` until the certificate should be renewed (0: renew now)."""
    return max(0.0, renewal_time(info.not_before, info.not_after, rng) - now)


def renewal_reason(
    info: NodeCertInfo,
    *,
    now: float,
    renew_at: float,
    desired_role: NodeRole,
    issuer: str = "",
    desired_issuer: str | None = None,
    cert_expiry: float | None = None,
) -> str | None:
    """Why the certificate must be renewed now, or None when it need not be. ``issuer``:
    the digest of the root that issued the certificate; ``desired_issuer``: the root the
    cluster issues under; ``cert_expiry``: the cluster's certificate expiry (None: not
    known)."""
    if info.role is not desired_role:
        return f"role changed from {info.role.value} to {desired_role.value}"
    if desired_issuer is not None and issuer != desired_issuer:
        return "root CA rotation: the certificate was issued by another root than the cluster's"
    if now >= info.not_after:
        return "certificate expired"
    if now >= renew_at:
        return "renewal time reached"
    # a certificate issued under a longer expiry, with more left than the new one
    if (
        cert_expiry is not None
        and info.not_after - now > cert_expiry
        and info.lifetime > cert_expiry + CERT_BACKDATE + 1.0
    ):
        return f"the cluster's certificate expiry was shortened to {cert_expiry:g} s"
    return None


def trust_to_keep(
    held: Sequence[str], cluster: Sequence[str] | None, issuer: str
) -> tuple[str, ...] | None:
    """The roots (digests) a node should trust now, when fewer than it holds: the cluster
    trusts a subset of them (a rotation completed) that still includes the issuer of the
    node's certificate. None: keep what it holds (nothing to drop, or roots it does not
    know yet, which a renewal brings with their cross-signature)."""
    if cluster is None or not cluster:
        return None
    keep = tuple(d for d in held if d in cluster)
    if len(keep) == len(held) or len(keep) != len(set(cluster)) or issuer not in keep:
        return None
    return keep
