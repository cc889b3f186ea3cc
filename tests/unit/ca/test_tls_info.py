"""A node's own TLS report, and the rule a root rotation completes by (pure): a node counts
as on the new root only when *it reports* a certificate of the new root, whatever the CA
wrote in the store; down or not, as in SwarmKit; never reported (an older node): waiting."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from actors.ca.certs import read_node_certificate
from actors.ca.node_certs import NodeCertificates
from actors.ca.root import CertificateAuthority, create_root_ca
from actors.ca.rotation import MAX_ROOT_PEM, rotation_progress, start_rotation, tls_progress
from actors.ca.tls_info import issuer_identity, node_tls_info, reports_issuer, trusts_only
from actors.ca.tokens import ca_digest
from api.enums import NodeState
from api.node_tls import MAX_ISSUER_BYTES, MAX_TLS_ROOTS, validate_node_tls_info
from api.objects import Node, NodeDescription, NodeStatus, NodeTLSInfo, RootCA
from api.spec_limits import InvalidSpec
from tests.unit.ca.conftest import NOW, Issue

OLD = create_root_ca(NOW, random.Random(11))
NEW = create_root_ca(NOW, random.Random(12))


def report(issuer: CertificateAuthority, *trusted: CertificateAuthority) -> NodeTLSInfo:
    subject, key = issuer_identity(issuer.cert)
    return NodeTLSInfo(
        trust_roots=tuple(root.digest for root in trusted or (issuer,)),
        cert_issuer_subject=subject,
        cert_issuer_public_key=key,
    )


def node(
    node_id: str,
    tls: NodeTLSInfo | None,
    *,
    certificate: bytes = b"",
    state: NodeState = NodeState.READY,
) -> Node:
    return Node(
        id=node_id * 25,
        description=NodeDescription(hostname=node_id, tls_info=tls),
        status=NodeStatus(state),
        certificate=certificate,
    )


def rotating() -> RootCA:
    return start_rotation(OLD.to_api(), OLD, now=NOW, rng=random.Random(3), force_rotate=1, new=NEW)


def test_a_node_reports_the_root_that_issued_its_certificate_and_the_roots_it_trusts(
    issue: Issue, ca: CertificateAuthority
) -> None:
    issued, curve, key = issue()
    certs = NodeCertificates(
        node_id=issued.info.node_id,
        ca=ca,
        cert_pem=issued.cert_pem,
        info=read_node_certificate(issued.cert_pem),
        key=key,
        keypair=curve,
        roots=(ca, NEW),
    )
    info = node_tls_info(certs)
    assert info.trust_roots == (ca.digest, NEW.digest)
    assert (info.cert_issuer_subject, info.cert_issuer_public_key) == issuer_identity(ca.cert)
    assert reports_issuer(info, ca.cert_pem) and not reports_issuer(info, NEW.cert_pem)
    assert not trusts_only(info, ca.cert_pem)  # two roots during a rotation
    validate_node_tls_info(info)


def test_an_issuer_is_its_subject_and_its_key() -> None:
    # the roots the CA makes share their subject: only the key tells them apart
    assert issuer_identity(OLD.cert)[0] == issuer_identity(NEW.cert)[0]
    same_name = replace(report(NEW), cert_issuer_public_key=issuer_identity(OLD.cert)[1])
    assert not reports_issuer(same_name, NEW.cert_pem)
    assert reports_issuer(report(NEW), NEW.cert_pem)
    assert not reports_issuer(None, NEW.cert_pem)
    assert not trusts_only(None, NEW.cert_pem)


def test_the_store_saying_new_does_not_converge_a_node_that_reports_the_old_root(
    issue: Issue,
) -> None:
    # the CA wrote a certificate of the new root, but its reply was lost, or the node
    # failed to install it: the node still reports the old root, and waits
    stored_new = issue(authority=NEW)[0].cert_pem
    stale = node("a", report(OLD, OLD, NEW), certificate=stored_new)
    moved = node("b", report(NEW, OLD, NEW))
    progress = rotation_progress(rotating(), [stale, moved])
    assert progress is not None
    assert (progress.converged, progress.total, progress.waiting) == (1, 2, (stale.id,))
    assert not progress.complete
    done = rotation_progress(rotating(), [replace(stale, description=moved.description), moved])
    assert done is not None and done.complete


def test_down_nodes_and_nodes_that_never_reported_count_as_waiting() -> None:
    down_old = node("c", report(OLD), state=NodeState.DOWN)
    down_new = node("d", report(NEW, OLD, NEW), state=NodeState.DOWN)
    older = node("e", None)  # a node older than the report
    bare = Node(id="f" * 25)  # no description at all (joined, never in session)
    progress = rotation_progress(rotating(), [down_old, down_new, older, bare])
    assert progress is not None
    assert progress.converged == 1  # a down node that did report the new root counts
    assert progress.waiting == tuple(sorted((down_old.id, older.id, bare.id)))
    assert rotation_progress(OLD.to_api(), [older]) is None  # no rotation under way


def test_dockers_two_counts_certificates_then_roots() -> None:
    during = tls_progress(rotating(), [node("a", report(NEW, OLD, NEW)), node("b", report(OLD))])
    assert (during.certificates, during.roots, during.total) == (1, 0, 2)
    assert during.desired_root == ca_digest(NEW.cert_pem)
    after = NEW.to_api()  # completed: the new root is the cluster's
    nodes = [node("a", report(NEW)), node("b", report(NEW, OLD, NEW)), node("c", None)]
    shown = tls_progress(after, nodes)
    assert (shown.certificates, shown.roots, shown.total) == (2, 1, 3)


def test_a_report_is_bounded() -> None:
    good = report(NEW, OLD, NEW)
    for bad, field in (
        (replace(good, trust_roots=("a",) * (MAX_TLS_ROOTS + 1)), "tls.trust_roots"),
        (replace(good, trust_roots=("A-not-base36",)), "tls.trust_roots[0]"),
        (replace(good, trust_roots=("",)), "tls.trust_roots[0]"),
        (replace(good, trust_roots=("a" * 65,)), "tls.trust_roots[0]"),
        (replace(good, cert_issuer_subject=b"x" * (MAX_ISSUER_BYTES + 1)), "cert_issuer_subject"),
        (
            replace(good, cert_issuer_public_key=b"x" * (MAX_ISSUER_BYTES + 1)),
            "cert_issuer_public_key",
        ),
    ):
        with pytest.raises(InvalidSpec) as refused:
            validate_node_tls_info(bad)
        assert field in refused.value.field


def test_every_root_the_ca_takes_can_be_reported() -> None:
    # an operator's root's name is within its PEM, which the CA bounds: a node under it
    # must be able to report it, or it loses its session (with every other node)
    assert MAX_ISSUER_BYTES >= MAX_ROOT_PEM
