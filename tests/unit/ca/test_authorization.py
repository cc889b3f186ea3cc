"""ZAP admission and per-request authorization of the remote endpoint."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from actors.ca.admission import ANY_NODE, MANAGERS
from actors.ca.authorization import UNAUTHORIZED, ClusterAdmission, access_for, authorize
from actors.ca.certs import create_csr, generate_node_key, issue_node_certificate
from actors.ca.root import CertificateAuthority, create_root_ca
from api.enums import NodeRole
from api.ids import new_id
from api.objects import Cluster, Node, RevokedCertificate
from transport.endpoint import CheckedHandler, InlineHandler, inline
from transport.keys import KeyPair, generate_keypair

NOW = 1_700_000_000.0
CLUSTER = "c" * 25
RNG = random.Random(4)


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.events.append((event, kw))


class FakeRequest:
    def __init__(self, type: str, peer_key: bytes | None) -> None:
        self.type, self.peer_key, self.endpoint = type, peer_key, "remote"
        self.body: dict[str, Any] = {}
        self.errors: list[tuple[str, str]] = []

    def error(self, code: str, message: str) -> None:
        self.errors.append((code, message))


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return create_root_ca(NOW, RNG)


@pytest.fixture
def now() -> list[float]:
    return [NOW]


@pytest.fixture
def policy(ca: CertificateAuthority, now: list[float]) -> ClusterAdmission:
    return ClusterAdmission(ca.cert, CLUSTER, clock=lambda: now[0], logger=Log())


def enrol(
    policy: ClusterAdmission,
    ca: CertificateAuthority,
    role: NodeRole,
    *,
    authority: CertificateAuthority | None = None,
    expiry: float = 90 * 86400.0,
) -> tuple[str, KeyPair, bytes]:
    keys = generate_keypair()
    node_id = new_id(RNG)
    issued = issue_node_certificate(
        authority or ca,
        create_csr(generate_node_key(), keys.public),
        node_id=node_id,
        role=role,
        cluster_id=CLUSTER,
        now=NOW,
        rng=RNG,
        expiry=expiry,
    )
    if authority is None:
        policy.add_certificate(issued.cert_pem, role)
    return node_id, keys, issued.cert_pem


def echo(request: Any) -> Mapping[str, Any]:
    return {"ok": True}


TABLE = {
    name: echo
    for name in (
        "raft.messages",
        "raft.propose",
        "dispatcher.session",
        "dispatcher.heartbeat",
        "logs.listen",
        "logs.publish",
        "logs.subscribe",
        "logs.read",
        "ca.join",
        "ca.root",
        "ca.renew",
        "ping",
    )
}


def call(handlers: Mapping[str, Any], name: str, key: bytes | None) -> str | None:
    request = FakeRequest(name, key)
    result = handlers[name](request)
    if request.errors:
        assert result is None
        code, _ = request.errors[0]
        return code
    assert result == {"ok": True}
    return None


def test_access_table() -> None:
    assert access_for("raft.messages") == MANAGERS
    assert access_for("dispatcher.status") == ANY_NODE
    assert access_for("logs.stream") == ANY_NODE
    assert access_for("logs.subscribe") == MANAGERS and access_for("logs.read") == MANAGERS
    assert access_for("ca.renew") == ANY_NODE
    assert access_for("ca.join") is None and access_for("ca.root") is None
    assert access_for("ping") == ANY_NODE  # not listed: never open to unknown keys
    assert access_for("raftish") == ANY_NODE


def test_managers_reach_everything(policy: ClusterAdmission, ca: CertificateAuthority) -> None:
    _, keys, _ = enrol(policy, ca, NodeRole.MANAGER)
    handlers = authorize(TABLE, policy)
    assert all(call(handlers, name, keys.public) is None for name in TABLE)
    assert policy.admit("remote", keys.public)


def test_workers_are_refused_raft(policy: ClusterAdmission, ca: CertificateAuthority) -> None:
    node_id, keys, _ = enrol(policy, ca, NodeRole.WORKER)
    handlers = authorize(TABLE, policy)
    assert call(handlers, "raft.messages", keys.public) == UNAUTHORIZED
    assert call(handlers, "raft.propose", keys.public) == UNAUTHORIZED
    for name in ("dispatcher.session", "dispatcher.heartbeat", "logs.listen", "ca.renew"):
        assert call(handlers, name, keys.public) is None
    assert call(handlers, "logs.publish", keys.public) is None
    # a subscriber's calls come from a manager relaying them (actors/logs/relay.py)
    assert call(handlers, "logs.subscribe", keys.public) == UNAUTHORIZED
    assert call(handlers, "logs.read", keys.public) == UNAUTHORIZED
    refusal = policy.check_request("raft.messages", keys.public)
    assert refusal is not None and f"node {node_id} is a worker" in refusal.reason


def test_unknown_keys_only_reach_the_join_types(policy: ClusterAdmission) -> None:
    stranger = generate_keypair().public
    assert policy.admit("remote", stranger)  # ZAP lets it in ...
    handlers = authorize(TABLE, policy)
    assert call(handlers, "ca.join", stranger) is None  # ... for joining only
    assert call(handlers, "ca.root", stranger) is None
    for name in ("raft.messages", "dispatcher.session", "logs.subscribe", "ca.renew", "ping"):
        assert call(handlers, name, stranger) == UNAUTHORIZED
    assert call(handlers, "dispatcher.session", None) == UNAUTHORIZED


def test_a_certificate_of_another_ca_is_not_indexed(
    policy: ClusterAdmission, ca: CertificateAuthority
) -> None:
    other = create_root_ca(NOW, random.Random(8))
    _, keys, pem = enrol(policy, ca, NodeRole.MANAGER, authority=other)
    with pytest.raises(Exception, match="not issued by this cluster's CA"):
        policy.add_certificate(pem, NodeRole.MANAGER)
    assert call(authorize(TABLE, policy), "dispatcher.session", keys.public) == UNAUTHORIZED


def test_a_removed_node_is_refused_at_its_next_message_and_at_zap(
    policy: ClusterAdmission, ca: CertificateAuthority
) -> None:
    node_id, keys, _ = enrol(policy, ca, NodeRole.MANAGER)
    handlers = authorize(TABLE, policy)
    assert call(handlers, "raft.messages", keys.public) is None
    policy.remove_node(node_id)
    assert call(handlers, "raft.messages", keys.public) == UNAUTHORIZED
    assert call(handlers, "ca.join", keys.public) == UNAUTHORIZED  # not even a rejoin
    assert not policy.admit("remote", keys.public)
    assert any(e == "ca.admission.refused" for e, _ in policy.log.events)  # type: ignore[attr-defined]


def test_a_demoted_manager_loses_raft_at_once(
    policy: ClusterAdmission, ca: CertificateAuthority
) -> None:
    node_id, keys, _ = enrol(policy, ca, NodeRole.MANAGER)
    handlers = authorize(TABLE, policy)
    policy.set_node_role(node_id, NodeRole.WORKER)
    assert call(handlers, "raft.messages", keys.public) == UNAUTHORIZED
    assert call(handlers, "dispatcher.heartbeat", keys.public) is None
    assert policy.admit("remote", keys.public)


def test_a_promoted_worker_needs_a_manager_certificate(
    policy: ClusterAdmission, ca: CertificateAuthority
) -> None:
    node_id, keys, _ = enrol(policy, ca, NodeRole.WORKER)
    policy.set_node_role(node_id, NodeRole.MANAGER)
    assert policy.check_request("raft.messages", keys.public) is not None


def test_an_expired_certificate_counts_as_unknown(
    policy: ClusterAdmission, ca: CertificateAuthority, now: list[float]
) -> None:
    _, keys, _ = enrol(policy, ca, NodeRole.WORKER, expiry=3600.0)
    now[0] = NOW + 7200
    assert policy.admit("remote", keys.public)
    handlers = authorize(TABLE, policy)
    assert call(handlers, "dispatcher.heartbeat", keys.public) == UNAUTHORIZED
    assert call(handlers, "ca.join", keys.public) is None


def test_inline_handlers_stay_inline(policy: ClusterAdmission) -> None:
    handlers = authorize({"raft.messages": inline(echo), "ca.join": echo}, policy)
    raft, join = handlers["raft.messages"], handlers["ca.join"]
    # the check runs on the I/O thread before either is dispatched
    assert isinstance(raft, CheckedHandler) and isinstance(join, CheckedHandler)
    assert isinstance(raft.handler, InlineHandler)
    assert not isinstance(join.handler, InlineHandler)
    assert call(handlers, "raft.messages", generate_keypair().public) == UNAUTHORIZED


def test_replace_all_loads_nodes_roles_and_revocations(
    policy: ClusterAdmission, ca: CertificateAuthority
) -> None:
    fresh = ClusterAdmission(ca.cert, CLUSTER, clock=lambda: NOW, logger=Log())
    worker_id, worker_keys, worker_pem = enrol(policy, ca, NodeRole.WORKER)
    demoted_id, demoted_keys, demoted_pem = enrol(policy, ca, NodeRole.MANAGER)
    gone_id, gone_keys, _ = enrol(policy, ca, NodeRole.WORKER)
    other = create_root_ca(NOW, random.Random(9))
    foreign_id, _, foreign_pem = enrol(policy, ca, NodeRole.WORKER, authority=other)
    revoked = RevokedCertificate(gone_id, "abc", gone_keys.public.decode(), NOW + 10)
    bad = fresh.replace_all(
        [
            Node(id=worker_id, role=NodeRole.WORKER, certificate=worker_pem),
            Node(id=demoted_id, role=NodeRole.WORKER, certificate=demoted_pem),
            Node(id=foreign_id, role=NodeRole.WORKER, certificate=foreign_pem),
        ],
        Cluster(id=CLUSTER, revoked=(revoked,)),
    )
    assert bad == [foreign_id]
    assert fresh.check_request("dispatcher.status", worker_keys.public) is None
    assert fresh.check_request("raft.messages", demoted_keys.public) is not None
    assert fresh.check_request("dispatcher.status", demoted_keys.public) is None
    assert not fresh.admit("remote", gone_keys.public)
    assert fresh.is_removed(gone_id)
    assert len(fresh) == 2


def test_certified_node_names_the_node_of_the_key(
    policy: ClusterAdmission, ca: CertificateAuthority
) -> None:
    node_id, keys, _ = enrol(policy, ca, NodeRole.WORKER)
    other_id, other, _ = enrol(policy, ca, NodeRole.MANAGER)
    assert policy.certified_node(keys.public) == node_id
    assert policy.certified_node(other.public) == other_id
    assert policy.certified_node(generate_keypair().public) is None
    assert policy.certified_node(None) is None
    policy.remove_node(node_id)
    assert policy.certified_node(keys.public) is None
    assert policy.certified_node(other.public) == other_id
