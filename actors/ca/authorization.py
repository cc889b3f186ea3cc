"""Who may send what on a node's remote endpoint: ZAP admission plus per-request checks.

A node has one remote ROUTER. Two layers guard it:

- **ZAP** (`ClusterAdmission.admit`, run once per CURVE handshake) admits (a) keys bound to
  a live certificate of this cluster's CA and (b) unknown keys (which can then only reach
  the join types); it refuses at once a key whose certificate was revoked (its node was
  removed) or whose node id is blocked.
- **Authorization** (`authorize`) puts every handler of the table behind a check the
  endpoint runs on its I/O thread (a refused request is never queued): the request's
  ``peer_key`` is checked against the index with the roles its message type needs
  (`access_for`): ``raft.*``, ``logs.subscribe``, ``logs.read`` and ``logs.close`` managers;
  ``dispatcher.*``, the other ``logs.*``, ``ca.renew`` and anything not listed any node
  with a live certificate; ``ca.join``, ``ca.root``,
  ``ca.hello`` anyone. Others get an ``unauthorized`` error naming why. As ZAP only runs at
  the handshake, this is what cuts off a node removed or demoted while connected, at its
  very next message.

A node's effective role is the lesser of its certificate's role and its current role in
the store (``set_node_role``): a demoted manager loses Raft access before it renews, and a
promoted worker gains it only with a manager certificate.

`ClusterAdmission` composes `CertificateAdmission` (the key → certificate index, expiry,
removed node ids) with the revoked keys and the nodes' current roles. Writers publish a new
immutable snapshot under a lock; readers (the ZAP thread, the I/O thread of inline
handlers, handler threads) read the current one without locking.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

from cryptography import x509

from actors.ca.admission import ANY_NODE, ANYONE, MANAGERS, CertificateAdmission, Refusal
from actors.ca.certs import CertificateError, NodeCertInfo, Roots, root_certs
from actors.ca.rotation import cluster_roots
from api.enums import NodeRole
from api.objects import Cluster, Node, RevokedCertificate
from transport.endpoint import Handler, Request, checked
from transport.keys import fingerprint
from transport.trust import RefusalTally

__all__ = [
    "ACCESS_BY_PREFIX",
    "ACCESS_BY_TYPE",
    "UNAUTHORIZED",
    "ClusterAdmission",
    "access_for",
    "authorize",
]

UNAUTHORIZED: Final = "unauthorized"

Access = frozenset[NodeRole] | None  # None: anyone, even an unknown key

ACCESS_BY_TYPE: Final[Mapping[str, Access]] = {
    "ca.hello": ANYONE,
    "ca.root": ANYONE,
    "ca.join": ANYONE,
    "ca.renew": ANY_NODE,
    # a follower relaying a subscriber to the leader's log broker (actors/logs/relay.py)
    "logs.subscribe": MANAGERS,
    "logs.read": MANAGERS,
    "logs.close": MANAGERS,
}
ACCESS_BY_PREFIX: Final[tuple[tuple[str, Access], ...]] = (
    ("raft.", MANAGERS),
    ("dispatcher.", ANY_NODE),
    ("logs.", ANY_NODE),
)
DEFAULT_ACCESS: Final[Access] = ANY_NODE

# the CertificateAdmission underneath checks certificates per "domain"; these are ours
_DOMAIN_MANAGERS: Final = "managers"
_DOMAIN_NODES: Final = "nodes"
_DOMAINS: Final[Mapping[str, frozenset[NodeRole] | None]] = {
    _DOMAIN_MANAGERS: MANAGERS,
    _DOMAIN_NODES: ANY_NODE,
}


def access_for(message_type: str) -> Access:
    """The roles a message type needs (None: anyone). Exact names, then prefixes, then
    any node: a type nobody listed is never open to unknown keys."""
    if message_type in ACCESS_BY_TYPE:
        return ACCESS_BY_TYPE[message_type]
    for prefix, access in ACCESS_BY_PREFIX:
        if message_type.startswith(prefix):
            return access
    return DEFAULT_ACCESS


class _Logger(Protocol):
    def warning(self, event: str, **kw: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class _State:
    certs: CertificateAdmission
    revoked_keys: frozenset[bytes] = frozenset()
    removed_nodes: frozenset[str] = frozenset()
    node_roles: Mapping[str, NodeRole] = field(default_factory=dict)
    keys_by_node: Mapping[str, frozenset[bytes]] = field(default_factory=dict)


class ClusterAdmission:
    """The ZAP policy of a node's remote endpoint and the index `authorize` checks."""

    def __init__(
        self,
        ca: Roots,
        cluster_id: str,
        *,
        clock: Callable[[], float],
        logger: _Logger,
    ) -> None:
        self.cluster_id = cluster_id
        self._roots = root_certs(ca)
        self._clock = clock
        self.log = logger
        self._lock = threading.Lock()
        self._state = _State(self._new_index())

    def _new_index(self) -> CertificateAdmission:
        return CertificateAdmission(
            self._roots, self.cluster_id, clock=self._clock, logger=self.log, domain_roles=_DOMAINS
        )

    # --- ZAP (transport.auth.AdmissionPolicy) ------------------------------------------

    def admit(self, domain: str, client_public_key_z85: bytes) -> bool:
        refusal = self.check_handshake(client_public_key_z85)
        if refusal is None:
            return True
        self.log.warning(
            "ca.admission.refused",
            domain=domain,
            key_fingerprint=fingerprint(client_public_key_z85),
            reason=refusal.reason,
        )
        return False

    def check_handshake(self, key: bytes) -> Refusal | None:
        """None when ZAP lets the key connect: live certificates and unknown keys do (an
        expired certificate counts as unknown); revoked keys and removed nodes do not."""
        state = self._state
        if key in state.revoked_keys:
            return Refusal("the certificate of this key was revoked (node removed)")
        info = state.certs.lookup(key)
        if info is not None and info.node_id in state.removed_nodes:
            return Refusal(f"node {info.node_id} was removed")
        return None

    def is_member(self, key: bytes) -> bool:
        """A key with a live certificate of a node in the cluster (transport's test for
        member-sized frames; any other key is a stranger's)."""
        state = self._state
        if key in state.revoked_keys:
            return False
        info = state.certs.lookup(key)
        return (
            info is not None
            and info.node_id in state.node_roles
            and state.certs.check(_DOMAIN_NODES, key) is None
        )

    # --- authorization ------------------------------------------------------------------

    def check_request(self, message_type: str, key: bytes | None) -> Refusal | None:
        """None when ``key`` may send ``message_type`` now, else why not."""
        state = self._state
        access = access_for(message_type)
        if key is not None and key in state.revoked_keys:
            return Refusal("the certificate of this key was revoked (node removed)")
        if access is None:
            return None
        if key is None:
            return Refusal(f"{message_type} needs a CURVE identity")
        info = state.certs.lookup(key)
        if info is None:
            return Refusal(f"{message_type} needs a node certificate; this key has none")
        domain = _DOMAIN_MANAGERS if access == MANAGERS else _DOMAIN_NODES
        refusal = state.certs.check(domain, key)
        if refusal is not None:
            return Refusal(f"{message_type}: {refusal.reason}")
        current = state.node_roles.get(info.node_id)
        if current is None:
            return Refusal(f"{message_type}: node {info.node_id} is not in the cluster")
        if current not in access:
            return Refusal(
                f"{message_type}: node {info.node_id} is now a {current.value}, "
                "not allowed to send it"
            )
        return None

    def lookup(self, key: bytes) -> NodeCertInfo | None:
        """The indexed certificate of a key (live or not)."""
        return self._state.certs.lookup(key)

    def certified_node(self, key: bytes | None) -> str | None:
        """The node a request from ``key`` speaks for: the node id of the certificate the
        CA issued for the key, or None (no certificate, revoked, node removed). Handlers
        take identities from here, never from a body (DESIGN.md §7)."""
        if key is None:
            return None
        state = self._state
        info = state.certs.lookup(key)
        if info is None or key in state.revoked_keys or info.node_id in state.removed_nodes:
            return None
        return info.node_id

    def role_of(self, node_id: str) -> NodeRole | None:
        return self._state.node_roles.get(node_id)

    def is_revoked(self, key: bytes) -> bool:
        return key in self._state.revoked_keys

    def is_removed(self, node_id: str) -> bool:
        return node_id in self._state.removed_nodes

    # --- updates ------------------------------------------------------------------------

    def add_certificate(self, cert: bytes | x509.Certificate, role: NodeRole) -> NodeCertInfo:
        """Verify and index a node's certificate; ``role``: its current role in the store.
        Raises `CertificateError` for a certificate this cluster's CA did not issue."""
        with self._lock:
            info = self._state.certs.add(cert)
            self._note(info, role)
        return info

    def add_issued(self, info: NodeCertInfo, role: NodeRole, issuer: x509.Certificate) -> None:
        """Index a certificate this manager has just issued under ``issuer`` (known good)."""
        with self._lock:
            self._state.certs.add_info(info, issuer)
            self._note(info, role)

    def set_roots(self, roots: Roots) -> None:
        """The cluster's trusted roots changed (a root rotation started or completed):
        certificates of a root no longer trusted stop being accepted."""
        with self._lock:
            self._roots = root_certs(roots)
            dropped = self._state.certs.set_roots(self._roots)
        if dropped:
            self.log.warning("ca.admission.roots_dropped_certificates", count=dropped)

    def _note(self, info: NodeCertInfo, role: NodeRole) -> None:
        state = self._state
        roles = {**state.node_roles, info.node_id: role}
        keys = dict(state.keys_by_node)
        keys[info.node_id] = keys.get(info.node_id, frozenset()) | {info.curve_public_key}
        self._state = replace(state, node_roles=roles, keys_by_node=keys)

    def set_node_role(self, node_id: str, role: NodeRole) -> None:
        with self._lock:
            state = self._state
            self._state = replace(state, node_roles={**state.node_roles, node_id: role})

    def remove_node(self, node_id: str, keys: Iterable[bytes] = ()) -> None:
        """The node was removed: refuse its id and its keys from now on."""
        with self._lock:
            state = self._state
            revoked = state.revoked_keys | set(keys) | state.keys_by_node.get(node_id, set())
            self._state = replace(
                state,
                revoked_keys=frozenset(revoked),
                removed_nodes=state.removed_nodes | {node_id},
                node_roles={n: r for n, r in state.node_roles.items() if n != node_id},
                keys_by_node={n: k for n, k in state.keys_by_node.items() if n != node_id},
            )
            state.certs.remove_node(node_id)

    def replace_all(self, nodes: Iterable[Node], cluster: Cluster | None) -> list[str]:
        """Rebuild from the store: every node's certificate and role, and the revocations.
        Returns the ids of nodes whose stored certificate could not be indexed (each
        logged as ``ca.admission.certificate_skipped``)."""
        revoked: tuple[RevokedCertificate, ...] = cluster.revoked if cluster is not None else ()
        if cluster is not None and cluster.root_ca.ca_cert:
            self._roots = cluster_roots(cluster.root_ca)
        removed = frozenset(r.node_id for r in revoked)
        certs = self._new_index()
        certs.replace_revocations((int(r.serial, 16) for r in revoked if r.serial), removed)
        bad: list[str] = []
        roles: dict[str, NodeRole] = {}
        keys: dict[str, frozenset[bytes]] = {}
        for node in nodes:
            roles[node.id] = node.role
            if not node.certificate:
                continue
            try:
                info = certs.add(node.certificate)
            except (CertificateError, ValueError) as exc:
                bad.append(node.id)
                self.log.warning("ca.admission.certificate_skipped", node=node.id, reason=str(exc))
                continue
            keys[node.id] = frozenset({info.curve_public_key})
        revoked_keys = frozenset(r.curve_public_key.encode("ascii") for r in revoked)
        with self._lock:
            self._state = _State(certs, revoked_keys, removed, roles, keys)
        return bad

    def __len__(self) -> int:
        return len(self._state.certs)


def authorize(handlers: Mapping[str, Handler], policy: ClusterAdmission) -> dict[str, Handler]:
    """The handler table with each handler behind ``policy.check_request``, checked on the
    endpoint's I/O thread (`transport.endpoint.checked`: the check only reads a snapshot),
    so a refused request is answered at once and never queued; inline handlers stay
    inline. Refusals are logged at most once a second per type, with their count."""
    return {name: _guard(name, handler, policy) for name, handler in handlers.items()}


def _guard(name: str, handler: Handler, policy: ClusterAdmission) -> Handler:
    log = policy.log
    tally = RefusalTally()

    def allowed(request: Request) -> bool:
        refusal = policy.check_request(request.type, request.peer_key)
        if refusal is None:
            return True
        count = tally.refuse(refusal.reason, time.monotonic())
        if count is not None:
            log.warning(
                "ca.authorization.refused",
                type=request.type,
                endpoint=request.endpoint,
                key_fingerprint=fingerprint(request.peer_key) if request.peer_key else None,
                reason=refusal.reason,
                count=count,
            )
        request.error(UNAUTHORIZED, refusal.reason)
        return False

    allowed.__name__ = f"authorized_{name.replace('.', '_')}"
    return checked(allowed, handler)
