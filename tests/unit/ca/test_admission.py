"""CA-backed admission: live certificates with the right role are admitted, all else refused."""

from __future__ import annotations

import random
from typing import Any

import pytest

from actors.ca.admission import CertificateAdmission
from actors.ca.certs import CertificateError, create_csr, issue_node_certificate
from actors.ca.root import CertificateAuthority
from api.enums import NodeRole
from transport.auth import AdmissionPolicy
from transport.keys import fingerprint, generate_keypair

from .conftest import CLUSTER, HOUR, NOW, Issue


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.events.append((event, kw))


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def log() -> RecordingLog:
    return RecordingLog()


@pytest.fixture
def policy(ca: CertificateAuthority, clock: Clock, log: RecordingLog) -> CertificateAdmission:
    return CertificateAdmission(ca, CLUSTER, clock=clock, logger=log)


def test_is_an_admission_policy(policy: CertificateAdmission) -> None:
    assert isinstance(policy, AdmissionPolicy)


def test_live_manager_admitted_everywhere(policy: CertificateAdmission, issue: Issue) -> None:
    issued, curve, _ = issue(NodeRole.MANAGER)
    policy.add(issued.cert_pem)
    for domain in ("raft", "dispatcher", "logs", "remote", "join"):
        assert policy.admit(domain, curve.public), domain
    assert policy.lookup(curve.public) == issued.info


def test_worker_refused_on_raft(
    policy: CertificateAdmission, issue: Issue, log: RecordingLog
) -> None:
    issued, curve, _ = issue(NodeRole.WORKER)
    policy.add(issued.cert_pem)
    assert policy.admit("dispatcher", curve.public)
    assert not policy.admit("raft", curve.public)
    event, fields = log.events[-1]
    assert event == "ca.admission.refused"
    assert fields["domain"] == "raft"
    assert fields["key_fingerprint"] == fingerprint(curve.public)
    assert "worker" in fields["reason"]
    assert curve.public.decode() not in repr(log.events)


def test_unknown_key_refused_except_on_join(
    policy: CertificateAdmission, log: RecordingLog
) -> None:
    stranger = generate_keypair().public
    assert not policy.admit("dispatcher", stranger)
    assert log.events[-1][1]["reason"] == "no certificate for this key"
    assert policy.admit("join", stranger)


def test_unknown_domain_refused(policy: CertificateAdmission, issue: Issue) -> None:
    issued, curve, _ = issue(NodeRole.MANAGER)
    policy.add(issued.cert_pem)
    assert not policy.admit("control", curve.public)


def test_expired_refused(policy: CertificateAdmission, issue: Issue, clock: Clock) -> None:
    issued, curve, _ = issue(NodeRole.MANAGER, expiry=HOUR)
    policy.add(issued.cert_pem)
    clock.now = NOW + HOUR + 1
    refusal = policy.check("raft", curve.public)
    assert refusal is not None and "expired" in refusal.reason
    assert policy.prune() == 1
    assert policy.lookup(curve.public) is None


def test_removed_node_refused_at_once_and_forever(
    policy: CertificateAdmission, issue: Issue, ca: CertificateAuthority
) -> None:
    issued, curve, _ = issue(NodeRole.WORKER)
    policy.add(issued.cert_pem)
    policy.remove_node(issued.info.node_id)
    assert not policy.admit("dispatcher", curve.public)
    policy.add_info(issued.info, ca.cert)  # even if the certificate shows up again
    refusal = policy.check("dispatcher", curve.public)
    assert refusal is not None and "removed" in refusal.reason


def test_revoked_serial_refused(policy: CertificateAdmission, issue: Issue) -> None:
    issued, curve, _ = issue(NodeRole.WORKER)
    policy.add(issued.cert_pem)
    policy.revoke_serial(issued.info.serial)
    refusal = policy.check("dispatcher", curve.public)
    assert refusal is not None and "revoked" in refusal.reason


def test_demoted_manager_loses_raft_and_keeps_worker_access(
    policy: CertificateAdmission, issue: Issue, ca: CertificateAuthority
) -> None:
    manager, curve, key = issue(NodeRole.MANAGER)
    policy.add(manager.cert_pem)
    assert policy.revoke_role(manager.info.node_id, NodeRole.MANAGER) == [manager.info.serial]
    assert not policy.admit("raft", curve.public)
    # the node's new worker certificate, same CURVE key

    worker = issue_node_certificate(
        ca,
        create_csr(key, curve.public),
        node_id=manager.info.node_id,
        role=NodeRole.WORKER,
        cluster_id=CLUSTER,
        now=NOW,
        rng=random.Random(99),
    )
    policy.add(worker.cert_pem)
    assert policy.admit("dispatcher", curve.public)
    assert not policy.admit("raft", curve.public)


def test_replace_revocations(policy: CertificateAdmission, issue: Issue) -> None:
    a, ka, _ = issue(NodeRole.WORKER)
    b, kb, _ = issue(NodeRole.WORKER)
    policy.add(a.cert_pem)
    policy.add(b.cert_pem)
    policy.replace_revocations([a.info.serial], [b.info.node_id])
    assert not policy.admit("dispatcher", ka.public)
    assert not policy.admit("dispatcher", kb.public)
    policy.replace_revocations([], [])
    assert policy.admit("dispatcher", ka.public)


def test_add_verifies(
    policy: CertificateAdmission, issue: Issue, other_ca: CertificateAuthority
) -> None:
    foreign, curve, _ = issue(NodeRole.MANAGER, authority=other_ca)
    with pytest.raises(CertificateError):
        policy.add(foreign.cert_pem)
    other_cluster, _, _ = issue(NodeRole.MANAGER, cluster_id="d" * 25)
    with pytest.raises(CertificateError):
        policy.add(other_cluster.cert_pem)
    assert len(policy) == 0
    assert not policy.admit("raft", curve.public)


def test_not_yet_valid_refused(
    policy: CertificateAdmission, issue: Issue, clock: Clock, ca: CertificateAuthority
) -> None:
    issued, curve, _ = issue(NodeRole.MANAGER)
    policy.add_info(issued.info, ca.cert)
    clock.now = issued.info.not_before - 1
    assert not policy.admit("raft", curve.public)
