"""What the manager-side CA signs, for whom, and why it refuses: pure rules of ``ca.join``
and ``ca.renew`` (the CA service, actors/ca/service.py, reads and writes the store).

- A manager signs with the cluster's root, or the new root during a root CA rotation
  (`signing_authority`); a manager that cannot unwrap the CA key refuses (``unavailable``).
- A certificate is issued only for a CSR that binds the CURVE key the request comes from
  (`issue_to_peer`): proof that the requester holds that key (``invalid_csr``).
- A join's role comes from its token (`join_role`: ``invalid_token`` / ``wrong_cluster``);
  its hostname and address are checked as a Node's (`join_description`); a CURVE key whose
  live certificate names another node is refused (`check_key_holder`).
- A renewal keeps the node id and CURVE key, with the role `api.roles.issued_role` decides
  from the Node in the store (`renewal_role`): refused (``unavailable``, retried) while a
  demotion is under way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from actors.ca.certs import (
    CertificateError,
    IssuedCertificate,
    NodeCertInfo,
    issue_node_certificate,
)
from actors.ca.root import CAError, CertificateAuthority, load_root_ca, root_ca_from_api
from actors.ca.tokens import (
    InvalidJoinToken,
    MalformedJoinToken,
    WrongClusterToken,
    role_for_token,
)
from api.enums import NodeRole
from api.ids import RandomBits
from api.objects import Cluster, JoinTokens, Node, NodeDescription, RootCA
from api.roles import issued_role
from api.spec_limits import InvalidSpec, check_string
from api.validation import validate_node_description

__all__ = [
    "JoinRefused",
    "check_key_holder",
    "current_authority",
    "issue_to_peer",
    "join_description",
    "join_role",
    "renewal_role",
    "signing_authority",
]


class JoinRefused(Exception):
    """A CA request refused; ``code`` is the wire error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def signing_authority(
    root_ca: RootCA, *, now: float, wrapping_key: bytes | None
) -> CertificateAuthority:
    """The CA a manager signs with: the new root's during a rotation."""
    rotation = root_ca.root_rotation
    if rotation is None:
        return current_authority(root_ca, now=now, wrapping_key=wrapping_key)
    return _signer(
        lambda: load_root_ca(
            rotation.ca_cert, rotation.ca_key or None, now=now, wrapping_key=wrapping_key
        )
    )


def current_authority(
    root_ca: RootCA, *, now: float, wrapping_key: bytes | None
) -> CertificateAuthority:
    """The cluster's current root with its key, rotation or not."""
    return _signer(lambda: root_ca_from_api(root_ca, now=now, wrapping_key=wrapping_key))


def _signer(load: Callable[[], CertificateAuthority]) -> CertificateAuthority:
    try:
        ca = load()
    except CAError as exc:
        raise JoinRefused("unavailable", f"this manager cannot sign: {exc}") from None
    if not ca.can_sign:
        raise JoinRefused("unavailable", "this manager holds no CA key")
    return ca


def issue_to_peer(
    ca: CertificateAuthority,
    cluster: Cluster,
    csr: bytes,
    *,
    node_id: str,
    role: NodeRole,
    peer_key: bytes | None,
    now: float,
    rng: RandomBits,
) -> IssuedCertificate:
    """A certificate for ``csr`` under the cluster's expiry, which must bind ``peer_key``
    (the CURVE key the request comes from)."""
    try:
        issued = issue_node_certificate(
            ca,
            csr,
            node_id=node_id,
            role=role,
            cluster_id=cluster.id,
            now=now,
            rng=rng,
            expiry=cluster.spec.ca_config.node_cert_expiry,
        )
    except (CertificateError, ValueError) as exc:
        raise JoinRefused("invalid_csr", str(exc)) from None
    if peer_key is None or issued.info.curve_public_key != peer_key:
        raise JoinRefused(
            "invalid_csr",
            "the CSR must carry the CURVE public key this request comes from",
        )
    return issued


def join_role(token: str, tokens: JoinTokens) -> NodeRole:
    """The role a join token admits to."""
    try:
        return role_for_token(token, tokens)
    except MalformedJoinToken as exc:
        raise JoinRefused("invalid_token", str(exc)) from None
    except WrongClusterToken as exc:
        raise JoinRefused("wrong_cluster", str(exc)) from None
    except InvalidJoinToken as exc:
        raise JoinRefused("invalid_token", str(exc)) from None


def join_description(body: Mapping[str, Any]) -> tuple[NodeDescription, str]:
    """The joining node's description and address, checked as a Node's."""
    description = NodeDescription(hostname=str(body["hostname"]))
    addr = str(body.get("addr") or "")
    try:
        validate_node_description(description)
        check_string(addr, "addr")
    except InvalidSpec as exc:
        raise JoinRefused("invalid_argument", str(exc)) from None
    return description, addr


def check_key_holder(holder: NodeCertInfo | None, node_id: str, now: float) -> None:
    """Refuse a CURVE key whose live certificate names another node."""
    if holder is not None and holder.node_id != node_id and holder.not_after > now:
        raise JoinRefused(
            "invalid_argument", f"this CURVE key already belongs to node {holder.node_id}"
        )


def renewal_role(node: Node | None, node_id: str) -> NodeRole:
    """The role a renewed certificate of ``node`` (as in the store) carries."""
    if node is None:
        raise JoinRefused("unauthorized", f"node {node_id} is not in the cluster")
    role = issued_role(node.role, node.spec.desired_role)
    if role is None:
        raise JoinRefused(
            "unavailable",
            f"node {node_id} is being demoted: it keeps its manager certificate "
            "until it has left the Raft group",
        )
    return role
