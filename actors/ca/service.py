"""The manager side of the CA over the store: it reads and writes the store and keeps the
admission index in step; the rules it follows are pure and live beside it.

- `CAService` answers ``ca.root``, ``ca.join`` and ``ca.renew`` on the remote endpoint
  (guard the table with `actors.ca.authorization.authorize`) and ``ca.hello`` on the
  join-hello endpoint (`hello_handlers`). A join (rules: actors/ca/issuance.py) creates the
  Node, role from its token, with its certificate; a renewal re-issues for the same node
  id and CURVE key, with the role the Node in the store gives, so promotion and demotion
  take effect at the renewal the node's session prompts. Either indexes the certificate at
  once. Replies carry the CA *certificate* only: its key stays in the store, which only
  managers hold (cluster init's material: actors/ca/bootstrap.py).
- Root CA rotation: `rotate_root` starts one (actors/ca/rotation_start.py); while it runs
  the CA signs with the new root and every reply that names the root (hello, root, join,
  renew) also carries the new root and its cross-signature (``rotation``);
  `finish_rotation` makes it the cluster's root with new join tokens (the leader's
  rotation keeper calls it).
- Revocation: `remove_node` records a `RevokedCertificate` (actors/ca/revocation.py) in
  ``Cluster.revoked`` and deletes the Node in one write (`record_removal` does the same
  inside a caller's transaction, for the control API), then updates the index at once.
- The admission index (`ClusterAdmission`) is rebuilt from the store in `start` and kept
  current by a store watch (actors/ca/admission_sync.py), which follows the cluster's roots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from actors.ca.admission_sync import AdmissionSync
from actors.ca.authorization import ClusterAdmission
from actors.ca.certs import IssuedCertificate, read_node_certificate
from actors.ca.engine_certs import issue_engine_certificate
from actors.ca.issuance import (
    JoinRefused,
    check_key_holder,
    issue_to_peer,
    join_description,
    join_role,
    renewal_role,
    signing_authority,
)
from actors.ca.revocation import revoked_certificate
from actors.ca.root import CertificateAuthority
from actors.ca.rotation import (
    desired_issuer_digest,
    finish_rotation,
    trust_fields,
    trusted_root_pems,
)
from actors.ca.rotation_start import given_root, rotation_started
from actors.ca.tokens import rotate_join_token
from actors.log import get_logger
from actors.store import (
    AlreadyExists,
    ConflictError,
    MemoryStore,
    NotLeader,
    ProposalError,
    StoreError,
    WriteTx,
    clusters,
    nodes,
)
from api.enums import NodeRole
from api.ids import RandomBits, is_valid_id, new_id
from api.objects import Cluster, Node, NodeStatus, RootCA
from api.specs import NodeSpec
from transport.endpoint import Handler, Request

__all__ = ["NODE_WRITE_ATTEMPTS", "CAService", "record_removal"]

_log = get_logger("ca")

NODE_WRITE_ATTEMPTS: Final = 5

ManagerList = Callable[[], Sequence[Mapping[str, str]]]


def record_removal(tx: WriteTx, node: Node, *, now: float, reason: str = "node removed") -> None:
    """In the caller's transaction: list the node's certificate as revoked and delete the
    node (the control API's ``node rm`` calls this)."""
    cluster = clusters.get_default(tx)
    if cluster is None:
        raise StoreError("the cluster object is missing")
    revoked = revoked_certificate(node, now=now, reason=reason)
    tx.update(replace(cluster, revoked=(*cluster.revoked, revoked)))
    tx.delete(node)


class CAService:
    """Handlers and helpers of the manager-side CA over the store (see module docstring)."""

    HELLO: Final = "ca.hello"
    ROOT: Final = "ca.root"
    JOIN: Final = "ca.join"
    RENEW: Final = "ca.renew"

    def __init__(
        self,
        store: MemoryStore,
        admission: ClusterAdmission,
        *,
        manager_cert: bytes | Callable[[], bytes],
        clock: Callable[[], float],
        rng: RandomBits,
        managers: ManagerList = lambda: (),
        advertise_addr: str = "",
        wrapping_key: bytes | None = None,
    ) -> None:
        self._store = store
        self._admission = admission
        self._manager_cert = manager_cert
        self._clock = clock
        self._rng = rng
        self._managers = managers
        self._advertise_addr = advertise_addr
        self._wrapping_key = wrapping_key
        self._ca_cache: tuple[RootCA, CertificateAuthority] | None = None
        self._sync = AdmissionSync(store, admission)

    # --- handler tables -------------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        """For the remote endpoint (wrap with `authorize`)."""
        return {self.ROOT: self._on_root, self.JOIN: self._on_join, self.RENEW: self._on_renew}

    def hello_handlers(self) -> dict[str, Handler]:
        """For the join-hello endpoint (see actors/ca/join.py)."""
        return {self.HELLO: self._on_hello}

    def _cert_pem(self) -> bytes:
        cert = self._manager_cert
        return cert() if callable(cert) else cert

    def _on_hello(self, request: Request) -> Mapping[str, Any] | None:
        return self._guarded(request, self._hello_body)

    def _hello_body(self) -> Mapping[str, Any]:
        return {
            **trust_fields(self._cluster().root_ca),
            "manager_cert": self._cert_pem(),
            "addr": self._advertise_addr,
        }

    def _on_root(self, request: Request) -> Mapping[str, Any] | None:
        return self._guarded(
            request,
            lambda: {**trust_fields(self._cluster().root_ca), "manager_cert": self._cert_pem()},
        )

    def _on_join(self, request: Request) -> Mapping[str, Any] | None:
        return self._guarded(request, lambda: self.join(request.body, request.peer_key))

    def _on_renew(self, request: Request) -> Mapping[str, Any] | None:
        return self._guarded(request, lambda: self.renew(request.body["csr"], request.peer_key))

    def _guarded(
        self, request: Request, fn: Callable[[], Mapping[str, Any]]
    ) -> Mapping[str, Any] | None:
        try:
            return fn()
        except JoinRefused as exc:
            _log.warning("ca.request.refused", type=request.type, code=exc.code, reason=exc.message)
            request.error(exc.code, exc.message)
        except NotLeader as exc:
            request.error("not_leader", str(exc))
        except ProposalError as exc:
            request.error("unavailable", f"the write was not committed: {exc}")
        return None

    # --- join and renew -------------------------------------------------------------

    def _cluster(self) -> Cluster:
        cluster = self._store.view(clusters.get_default)
        if cluster is None or not cluster.root_ca.ca_cert:
            raise JoinRefused("unavailable", "the cluster has no certificate authority yet")
        return cluster

    def _authority(self, cluster: Cluster) -> CertificateAuthority:
        """The CA this manager signs with (`signing_authority`), kept while the cluster's
        root CA stays the same."""
        cached = self._ca_cache
        if cached is not None and cached[0] == cluster.root_ca:
            return cached[1]
        ca = signing_authority(cluster.root_ca, now=self._clock(), wrapping_key=self._wrapping_key)
        self._ca_cache = (cluster.root_ca, ca)
        return ca

    def _issue(
        self, cluster: Cluster, csr: bytes, node_id: str, role: NodeRole, peer_key: bytes | None
    ) -> IssuedCertificate:
        return issue_to_peer(
            self._authority(cluster),
            cluster,
            csr,
            node_id=node_id,
            role=role,
            peer_key=peer_key,
            now=self._clock(),
            rng=self._rng,
        )

    def join(self, body: Mapping[str, Any], peer_key: bytes | None) -> Mapping[str, Any]:
        """``ca.join``: check the token, issue, create the Node, index the certificate."""
        cluster = self._cluster()
        role = join_role(str(body["token"]), cluster.join_tokens)
        if peer_key is not None and self._admission.is_revoked(peer_key):
            raise JoinRefused("unauthorized", "this CURVE key belongs to a removed node")
        description, addr = join_description(body)
        node_id = self._choose_id(str(body.get("node_id") or ""))
        issued = self._issue(cluster, body["csr"], node_id, role, peer_key)
        holder = self._admission.lookup(issued.info.curve_public_key)
        check_key_holder(holder, node_id, self._clock())
        node = Node(
            id=node_id,
            spec=NodeSpec(desired_role=role),
            description=description,
            status=NodeStatus(addr=addr),
            role=role,
            certificate=issued.cert_pem,
        )
        try:
            self._store.update(lambda tx: tx.create(node))
        except AlreadyExists:
            raise JoinRefused("invalid_argument", f"node id {node_id} is taken") from None
        self._admission.add_issued(issued.info, role, self._authority(cluster).cert)
        _log.info("ca.node.joined", node=node_id, role=role.value, hostname=node.hostname[:64])
        return {
            "node_id": node_id,
            "role": role.value,
            "cluster_id": cluster.id,
            "certificate": issued.cert_pem,
            **trust_fields(cluster.root_ca),
            "managers": [dict(m) for m in self._managers()],
        }

    def _choose_id(self, requested: str) -> str:
        if not requested:
            return new_id(self._rng)
        if not is_valid_id(requested):
            raise JoinRefused("invalid_argument", "node_id must be a 25-character base-36 id")
        taken = self._store.view(lambda tx: nodes.get(tx, requested)) is not None
        if taken or self._admission.is_removed(requested):
            raise JoinRefused("invalid_argument", f"node id {requested} is taken")
        return requested

    def renew(self, csr: bytes, peer_key: bytes | None) -> Mapping[str, Any]:
        """``ca.renew``: a new certificate for the caller's node id and CURVE key, with the
        role `api.roles.issued_role` gives (authorization has checked the caller's
        certificate is live)."""
        info = self._admission.lookup(peer_key) if peer_key is not None else None
        if info is None or peer_key is None:
            raise JoinRefused("unauthorized", "ca.renew needs a node certificate")
        cluster = self._cluster()
        current = self._store.view(lambda tx: nodes.get(tx, info.node_id))
        role = renewal_role(current, info.node_id)
        issued = self._issue(cluster, csr, info.node_id, role, peer_key)

        def write(tx: WriteTx) -> None:
            node = nodes.get(tx, info.node_id)
            if node is None:
                raise JoinRefused("unauthorized", f"node {info.node_id} is not in the cluster")
            tx.update(replace(node, certificate=issued.cert_pem))

        self._write_node(write)
        self._admission.add_issued(issued.info, role, self._authority(cluster).cert)
        _log.info("ca.node.renewed", node=info.node_id, role=role.value)
        return {
            "node_id": info.node_id,
            "role": role.value,
            "certificate": issued.cert_pem,
            **trust_fields(cluster.root_ca),
        }

    def _write_node(self, write: Callable[[WriteTx], None]) -> None:
        """A read-modify-write of a Node, which has other writers (its session's status,
        the control API): a write that lost the race reads the node again and retries."""
        for attempt in range(1, NODE_WRITE_ATTEMPTS + 1):
            try:
                self._store.update(write)
                return
            except ConflictError:
                if attempt == NODE_WRITE_ATTEMPTS:
                    raise JoinRefused("unavailable", "the node kept changing; retry") from None

    # --- control API helpers --------------------------------------------------------

    def engine_certificate(self, csr: bytes, hosts: Sequence[str]) -> tuple[bytes, bytes]:
        """An Engine API certificate for ``hosts`` and the CA certificate (PEM); JoinRefused
        when this manager cannot sign, CertificateError or ValueError for a bad request."""
        cluster = self._cluster()
        ca = self._authority(cluster)
        cert = issue_engine_certificate(
            ca,
            csr,
            hosts=hosts,
            cluster_id=cluster.id,
            now=self._clock(),
            rng=self._rng,
            expiry=cluster.spec.ca_config.node_cert_expiry,
        )
        _log.info("ca.engine_cert.issued", hosts=list(hosts))
        return cert, b"".join(trusted_root_pems(cluster.root_ca))

    def rotate_token(self, role: NodeRole) -> str:
        """A new join token for ``role``; the old one stops working, joined nodes keep
        their certificates."""

        def write(tx: WriteTx) -> str:
            cluster = clusters.get_default(tx)
            if cluster is None or not cluster.root_ca.ca_cert:
                raise JoinRefused("unavailable", "the cluster has no certificate authority")
            tokens = rotate_join_token(
                cluster.join_tokens, role, cluster.root_ca.ca_cert, self._rng
            )
            tx.update(replace(cluster, join_tokens=tokens))
            return tokens.manager if role is NodeRole.MANAGER else tokens.worker

        token = self._store.update(write).value
        _log.info("ca.token.rotated", role=role.value)
        return token

    def rotate_root(self, new_root: tuple[bytes, bytes] | None = None) -> Cluster:
        """Start a root CA rotation to ``new_root`` (the certificate and key PEM the
        operator gave; None: a root made here), as actors/ca/rotation_start.py says; the
        rotation keeper (actors/ca/rotation_keeper.py) completes it."""
        given = given_root(new_root, now=self._clock()) if new_root is not None else None

        def write(tx: WriteTx) -> Cluster:
            cluster = clusters.get_default(tx)
            if cluster is None or not cluster.root_ca.ca_cert:
                raise JoinRefused("unavailable", "the cluster has no certificate authority")
            updated = rotation_started(
                cluster,
                now=self._clock(),
                rng=self._rng,
                wrapping_key=self._wrapping_key,
                given=given,
            )
            tx.update(updated)
            return updated

        cluster = self._store.update(write).value
        _log.info("ca.root.rotation_started", new_root=desired_issuer_digest(cluster.root_ca))
        return cluster

    def finish_rotation(self, expected: RootCA) -> bool:
        """Complete the rotation in ``expected`` (the rotation keeper found every node
        reporting a certificate of the new root): the new root becomes the cluster's, the
        join tokens are made again. False when the cluster's root CA is no longer
        ``expected`` (another rotation started, or one already completed it)."""

        def write(tx: WriteTx) -> bool:
            cluster = clusters.get_default(tx)
            if cluster is None or cluster.root_ca != expected:
                return False
            root_ca, tokens = finish_rotation(cluster.root_ca, self._rng)
            tx.update(replace(cluster, root_ca=root_ca, join_tokens=tokens))
            return True

        done = bool(self._store.update(write).value)
        if done:
            _log.info("ca.root.rotation_complete", root=desired_issuer_digest(expected))
        return done

    def remove_node(self, node_id: str, *, reason: str = "node removed") -> None:
        """Revoke the node's certificate and delete it; refused at once afterwards."""
        keys: list[bytes] = []

        def write(tx: WriteTx) -> None:
            node = nodes.get(tx, node_id)
            if node is None:
                return
            if node.certificate:
                keys.append(read_node_certificate(node.certificate).curve_public_key)
            record_removal(tx, node, now=self._clock(), reason=reason)

        self._store.update(write)
        self._admission.remove_node(node_id, keys)
        _log.info("ca.node.revoked", node=node_id, reason=reason)

    # --- the admission index, kept in step with the store (actors/ca/admission_sync.py) --

    def start(self) -> None:
        """Build the admission index from the store and keep it current by a watch."""
        self._sync.start()

    def stop(self) -> None:
        self._sync.stop()

    def trust_summary(self) -> Mapping[str, Any] | None:
        """The root the cluster issues under and the roots it trusts (digests), as the
        dispatcher's heartbeats tell workers; kept current by the store watch."""
        return self._sync.trust_summary()
