"""Who the transport treats as a member (member-sized frames) rather than a stranger: a key
bound to a live certificate, of a node still in the cluster (issue 8, item 2)."""

from __future__ import annotations

from typing import Any

from actors.ca.admission import CertificateAdmission
from actors.ca.authorization import ClusterAdmission
from actors.ca.root import CertificateAuthority
from api.enums import NodeRole
from tests.unit.ca.conftest import CLUSTER, DAY, NOW, Issue
from transport.keys import generate_keypair


class Log:
    def warning(self, event: str, **kw: Any) -> None:
        pass


def test_cluster_admission_members(ca: CertificateAuthority, issue: Issue) -> None:
    now = [NOW]
    policy = ClusterAdmission(ca.cert, CLUSTER, clock=lambda: now[0], logger=Log())
    worker, worker_keys, _ = issue(NodeRole.WORKER, expiry=DAY)
    manager, manager_keys, _ = issue(NodeRole.MANAGER)
    policy.add_certificate(worker.cert_pem, NodeRole.WORKER)
    policy.add_certificate(manager.cert_pem, NodeRole.MANAGER)
    stranger = generate_keypair().public
    assert policy.is_member(worker_keys.public)
    assert policy.is_member(manager_keys.public)
    assert not policy.is_member(stranger)
    assert policy.admit("remote", stranger)  # admitted all the same: as a stranger
    now[0] = NOW + 2 * DAY  # the worker's certificate expired
    assert not policy.is_member(worker_keys.public)
    assert policy.is_member(manager_keys.public)
    policy.remove_node(manager.info.node_id)  # removed while connected: a stranger now
    assert not policy.is_member(manager_keys.public)


def test_certificate_admission_members(ca: CertificateAuthority, issue: Issue) -> None:
    now = [NOW]
    policy = CertificateAdmission(ca, CLUSTER, clock=lambda: now[0], logger=Log())
    issued, keys, _ = issue(NodeRole.WORKER, expiry=DAY)
    assert not policy.is_member(keys.public)
    policy.add(issued.cert_pem)
    assert policy.is_member(keys.public)
    policy.revoke_serial(issued.info.serial)
    assert not policy.is_member(keys.public)
