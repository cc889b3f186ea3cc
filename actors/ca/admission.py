"""CA-backed admission of CURVE clients (implements ``transport.auth.AdmissionPolicy``).

Rules:
- A client key is admitted on a domain only if it is bound (by the CURVE extension) to a
  certificate of this cluster's CA that is live now (within its validity, serial not
  revoked, node not removed) and whose role the domain allows. ``DEFAULT_DOMAIN_ROLES``:
  "raft" managers only; "dispatcher", "logs" and "remote" any node; "join" anyone (the join
  request must then carry a valid token, which its handler checks). Unknown domains refuse.
- The CA is one root, or two during a root CA rotation (actors/ca/rotation.py); when the
  cluster's roots change (`set_roots`), certificates of a root no longer trusted leave.
- Certificates enter the index when issued or loaded (`add`, which verifies them), and leave
  at once on node removal (`remove_node`, which also blocks the node id) or demotion
  (`revoke_role`). Revocations are sets of serials and node ids (`replace_revocations` to
  load them from the store).
- Thread safety: writers take a lock and publish a new immutable snapshot; `admit` (called
  from the ZAP thread) reads the current snapshot without locking.
- Each refusal is logged as ``ca.admission.refused`` with the domain, the key's fingerprint
  and the reason; never the key itself.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

from cryptography import x509

from actors.ca.certs import NodeCertInfo, Roots, issuing_root, root_certs, verify_node_certificate
from api.enums import NodeRole

__all__ = [
    "ANYONE",
    "ANY_NODE",
    "DEFAULT_DOMAIN_ROLES",
    "MANAGERS",
    "CertificateAdmission",
    "Refusal",
]

MANAGERS: Final = frozenset({NodeRole.MANAGER})
ANY_NODE: Final = frozenset({NodeRole.MANAGER, NodeRole.WORKER})
ANYONE: Final = None
DEFAULT_DOMAIN_ROLES: Final[Mapping[str, frozenset[NodeRole] | None]] = {
    "raft": MANAGERS,
    "dispatcher": ANY_NODE,
    "logs": ANY_NODE,
    "remote": ANY_NODE,
    "join": ANYONE,
}


class _Logger(Protocol):
    def warning(self, event: str, **kw: Any) -> Any: ...


def _fingerprint(public_z85: bytes) -> str:
    # same as transport.keys.fingerprint, without importing transport (which imports zmq)
    return hashlib.sha256(public_z85).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    by_key: Mapping[bytes, NodeCertInfo] = field(default_factory=dict)
    issuer_by_key: Mapping[bytes, x509.Certificate] = field(default_factory=dict)
    revoked_serials: frozenset[int] = frozenset()
    removed_nodes: frozenset[str] = frozenset()


def _kept(
    issuers: Mapping[bytes, x509.Certificate], by_key: Mapping[bytes, NodeCertInfo]
) -> dict[bytes, x509.Certificate]:
    """The issuers of the keys still indexed."""
    return {k: v for k, v in issuers.items() if k in by_key}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a key is refused on a domain."""

    reason: str


class CertificateAdmission:
    """An `AdmissionPolicy` over an index CURVE key → certificate of this cluster's CA."""

    def __init__(
        self,
        ca: Roots,
        cluster_id: str,
        *,
        clock: Callable[[], float],
        logger: _Logger,
        domain_roles: Mapping[str, frozenset[NodeRole] | None] = DEFAULT_DOMAIN_ROLES,
    ) -> None:
        self._roots = root_certs(ca)
        self._cluster_id = cluster_id
        self._clock = clock
        self._log = logger
        self._domain_roles = dict(domain_roles)
        self._lock = threading.Lock()
        self._snap = _Snapshot()

    # --- AdmissionPolicy ----------------------------------------------------------------

    def admit(self, domain: str, client_public_key_z85: bytes) -> bool:
        refusal = self.check(domain, client_public_key_z85)
        if refusal is None:
            return True
        self._log.warning(
            "ca.admission.refused",
            domain=domain,
            key_fingerprint=_fingerprint(client_public_key_z85),
            reason=refusal.reason,
        )
        return False

    def check(self, domain: str, client_public_key_z85: bytes) -> Refusal | None:
        """None when the key is admitted on ``domain``, else why not (no logging)."""
        if domain not in self._domain_roles:
            return Refusal(f"unknown domain {domain[:32]!r}")
        roles = self._domain_roles[domain]
        if roles is None:
            return None
        info = self._live(client_public_key_z85)
        if isinstance(info, Refusal):
            return info
        if info.role not in roles:
            return Refusal(f"node {info.node_id} is a {info.role.value}, not allowed on {domain}")
        return None

    def _live(self, client_public_key_z85: bytes) -> NodeCertInfo | Refusal:
        """The live certificate the key is bound to, else why there is none."""
        snap = self._snap
        info = snap.by_key.get(client_public_key_z85)
        if info is None:
            return Refusal("no certificate for this key")
        if info.node_id in snap.removed_nodes:
            return Refusal(f"node {info.node_id} was removed")
        if info.serial in snap.revoked_serials:
            return Refusal(f"certificate of node {info.node_id} is revoked")
        now = self._clock()
        if now > info.not_after:
            return Refusal(f"certificate of node {info.node_id} has expired")
        if now < info.not_before:
            return Refusal(f"certificate of node {info.node_id} is not valid yet")
        return info

    def is_member(self, client_public_key_z85: bytes) -> bool:
        """A key bound to a live certificate of any role (transport's member frames)."""
        return not isinstance(self._live(client_public_key_z85), Refusal)

    # --- lookups ------------------------------------------------------------------------

    def lookup(self, client_public_key_z85: bytes) -> NodeCertInfo | None:
        """The indexed certificate of a key (live or not), for handlers that need the role."""
        return self._snap.by_key.get(client_public_key_z85)

    def __len__(self) -> int:
        return len(self._snap.by_key)

    # --- updates ------------------------------------------------------------------------

    def add(self, cert: bytes | x509.Certificate) -> NodeCertInfo:
        """Verify ``cert`` against the CA (now) and index it under its CURVE key.

        A later certificate for the same key (renewal, role change) replaces the earlier.
        Raises `actors.ca.certs.CertificateError` for a certificate that is not acceptable.
        """
        roots = self._roots
        info = verify_node_certificate(cert, roots, now=self._clock(), cluster_id=self._cluster_id)
        issuer = issuing_root(cert, roots)
        assert issuer is not None  # verified above
        self.add_info(info, issuer)
        return info

    def add_info(self, info: NodeCertInfo, issuer: x509.Certificate) -> None:
        """Index certificate information the caller has already verified (e.g. just issued
        by ``issuer``)."""
        if info.cluster_id != self._cluster_id:
            raise ValueError("certificate of another cluster")
        with self._lock:
            key = info.curve_public_key
            by_key = {**self._snap.by_key, key: info}
            issuers = {**self._snap.issuer_by_key, key: issuer}
            self._snap = replace(self._snap, by_key=by_key, issuer_by_key=issuers)

    def set_roots(self, roots: Roots) -> int:
        """Trust these roots from now on (a root rotation started or completed): indexed
        certificates of a root no longer trusted leave the index. Returns how many left."""
        with self._lock:
            self._roots = trusted = root_certs(roots)
            snap = self._snap
            by_key = {k: v for k, v in snap.by_key.items() if snap.issuer_by_key.get(k) in trusted}
            issuers = _kept(snap.issuer_by_key, by_key)
            self._snap = replace(snap, by_key=by_key, issuer_by_key=issuers)
            return len(snap.by_key) - len(by_key)

    def remove_node(self, node_id: str) -> None:
        """``node rm``: drop the node's certificates and refuse its id from now on."""
        with self._lock:
            by_key = {k: v for k, v in self._snap.by_key.items() if v.node_id != node_id}
            self._snap = replace(
                self._snap,
                by_key=by_key,
                issuer_by_key=_kept(self._snap.issuer_by_key, by_key),
                removed_nodes=self._snap.removed_nodes | {node_id},
            )

    def revoke_role(self, node_id: str, role: NodeRole) -> list[int]:
        """Revoke the node's certificates of ``role`` (demotion); returns their serials."""
        with self._lock:
            serials = [
                v.serial
                for v in self._snap.by_key.values()
                if v.node_id == node_id and v.role is role
            ]
            by_key = {k: v for k, v in self._snap.by_key.items() if v.serial not in serials}
            self._snap = replace(
                self._snap,
                by_key=by_key,
                issuer_by_key=_kept(self._snap.issuer_by_key, by_key),
                revoked_serials=self._snap.revoked_serials | frozenset(serials),
            )
        return serials

    def revoke_serial(self, serial: int) -> None:
        with self._lock:
            self._snap = replace(self._snap, revoked_serials=self._snap.revoked_serials | {serial})

    def replace_revocations(self, serials: Iterable[int], node_ids: Iterable[str]) -> None:
        """Set the revocation lists (as loaded from the store)."""
        with self._lock:
            self._snap = replace(
                self._snap,
                revoked_serials=frozenset(serials),
                removed_nodes=frozenset(node_ids),
            )

    def prune(self) -> int:
        """Drop expired certificates from the index; returns how many."""
        now = self._clock()
        with self._lock:
            by_key = {k: v for k, v in self._snap.by_key.items() if v.not_after >= now}
            dropped = len(self._snap.by_key) - len(by_key)
            issuers = _kept(self._snap.issuer_by_key, by_key)
            self._snap = replace(self._snap, by_key=by_key, issuer_by_key=issuers)
        return dropped
