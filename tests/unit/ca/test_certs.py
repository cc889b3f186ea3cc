"""Node certificates: issue from a CSR, subject fields, the CURVE extension, verification."""

from __future__ import annotations

import random
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from zmq.utils import z85 as zmq_z85

from actors.ca.certs import (
    CURVE_KEY_OID,
    MANAGER_OU,
    MIN_NODE_CERT_EXPIRY,
    WORKER_OU,
    CertificateError,
    CertificateExpired,
    CertificateNotYetValid,
    InvalidCertExpiry,
    InvalidCSR,
    RoleNotAllowed,
    UntrustedCertificate,
    certificate_matches_key,
    check_node_cert_expiry,
    create_csr,
    generate_node_key,
    issue_node_certificate,
    load_node_key,
    node_key_pem,
    read_node_certificate,
    verify_node_certificate,
)
from actors.ca.root import CAError, CertificateAuthority, load_root_ca
from actors.ca.z85 import z85_decode, z85_encode
from api.enums import NodeRole
from transport.keys import generate_keypair

from .conftest import CLUSTER, DAY, HOUR, NOW, Issue

NODE = "n" * 25


def test_subject_names_node_role_and_cluster(issue: Issue) -> None:
    issued, _, _ = issue(NodeRole.MANAGER, node_id=NODE)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == NODE
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == MANAGER_OU
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == CLUSTER
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    worker, _, _ = issue(NodeRole.WORKER)
    ou = (
        x509.load_pem_x509_certificate(worker.cert_pem)
        .subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0]
        .value
    )
    assert ou == WORKER_OU


def test_curve_key_extension_round_trip(issue: Issue) -> None:
    issued, curve, key = issue()
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    ext = cert.extensions.get_extension_for_oid(CURVE_KEY_OID)
    assert not ext.critical
    assert issued.info.curve_public_key == curve.public
    assert read_node_certificate(issued.cert_pem).curve_public_key == curve.public
    assert certificate_matches_key(issued.cert_pem, key)
    assert not certificate_matches_key(issued.cert_pem, generate_node_key())


def test_verify_extracts_identity(ca: CertificateAuthority, issue: Issue) -> None:
    issued, curve, _ = issue(NodeRole.MANAGER, node_id=NODE)
    info = verify_node_certificate(
        issued.cert_pem, ca, now=NOW + HOUR, cluster_id=CLUSTER, allowed_roles={NodeRole.MANAGER}
    )
    assert (info.node_id, info.role, info.cluster_id, info.curve_public_key) == (
        NODE,
        NodeRole.MANAGER,
        CLUSTER,
        curve.public,
    )
    assert info == issued.info


def test_default_validity_is_90_days(ca: CertificateAuthority) -> None:
    key, curve = generate_node_key(), generate_keypair()
    issued = issue_node_certificate(
        ca,
        create_csr(key, curve.public),
        node_id=NODE,
        role=NodeRole.WORKER,
        cluster_id=CLUSTER,
        now=NOW,
        rng=random.Random(0),
    )
    assert issued.info.not_after == NOW + 90 * DAY
    assert issued.info.not_before <= NOW


def test_minimum_expiry_enforced(issue: Issue) -> None:
    with pytest.raises(InvalidCertExpiry, match="at least 3600"):
        issue(expiry=HOUR - 1)
    with pytest.raises(InvalidCertExpiry):
        check_node_cert_expiry(float("nan"))
    assert check_node_cert_expiry(MIN_NODE_CERT_EXPIRY) == HOUR
    issued, _, _ = issue(expiry=HOUR)
    assert issued.info.not_after == NOW + HOUR


def test_expired_refused(ca: CertificateAuthority, issue: Issue) -> None:
    issued, _, _ = issue(expiry=HOUR)
    with pytest.raises(CertificateExpired, match="expired"):
        verify_node_certificate(issued.cert_pem, ca, now=NOW + HOUR + 1)


def test_not_yet_valid_refused(ca: CertificateAuthority, issue: Issue) -> None:
    issued, _, _ = issue(now=NOW + DAY)
    with pytest.raises(CertificateNotYetValid, match="not valid yet"):
        verify_node_certificate(issued.cert_pem, ca, now=NOW)


def test_other_ca_refused(
    ca: CertificateAuthority, other_ca: CertificateAuthority, issue: Issue
) -> None:
    issued, _, _ = issue(authority=other_ca)
    with pytest.raises(UntrustedCertificate, match="not issued by this cluster's CA"):
        verify_node_certificate(issued.cert_pem, ca, now=NOW)


def test_other_cluster_refused(ca: CertificateAuthority, issue: Issue) -> None:
    issued, _, _ = issue(cluster_id="d" * 25)
    with pytest.raises(UntrustedCertificate, match="another cluster"):
        verify_node_certificate(issued.cert_pem, ca, now=NOW, cluster_id=CLUSTER)


def test_wrong_role_refused(ca: CertificateAuthority, issue: Issue) -> None:
    issued, _, _ = issue(NodeRole.WORKER)
    with pytest.raises(RoleNotAllowed, match="worker"):
        verify_node_certificate(issued.cert_pem, ca, now=NOW, allowed_roles={NodeRole.MANAGER})


def test_ca_certificate_is_not_a_node_certificate(ca: CertificateAuthority) -> None:
    with pytest.raises(UntrustedCertificate):
        verify_node_certificate(ca.cert_pem, ca, now=NOW)


def test_self_signed_impostor_refused(ca: CertificateAuthority, issue: Issue) -> None:
    # a forged certificate with the CA's name, signed by another key
    issued, _, key = issue()
    real = x509.load_pem_x509_certificate(issued.cert_pem)
    forged = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(ca.cert.subject)
        .public_key(real.public_key())
        .serial_number(real.serial_number)
        .not_valid_before(real.not_valid_before_utc)
        .not_valid_after(real.not_valid_after_utc)
        .add_extension(real.extensions.get_extension_for_oid(CURVE_KEY_OID).value, critical=False)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(UntrustedCertificate):
        verify_node_certificate(forged, ca, now=NOW)


def test_csr_must_carry_curve_key_and_valid_signature(ca: CertificateAuthority) -> None:
    key = generate_node_key()
    bare = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    kwargs: dict[str, Any] = dict(
        node_id=NODE, role=NodeRole.WORKER, cluster_id=CLUSTER, now=NOW, rng=random.Random(0)
    )
    with pytest.raises(CertificateError, match="no CURVE public key"):
        issue_node_certificate(ca, bare, **kwargs)
    with pytest.raises(InvalidCSR, match="not valid PEM"):
        issue_node_certificate(ca, b"junk", **kwargs)


def test_csr_subject_is_ignored(ca: CertificateAuthority) -> None:
    key, curve = generate_node_key(), generate_keypair()
    csr = create_csr(key, curve.public, node_id="z" * 25)
    issued = issue_node_certificate(
        ca,
        csr,
        node_id=NODE,
        role=NodeRole.WORKER,
        cluster_id=CLUSTER,
        now=NOW,
        rng=random.Random(0),
    )
    assert issued.info.node_id == NODE


def test_only_a_ca_with_its_key_issues(ca: CertificateAuthority) -> None:
    public_only = load_root_ca(ca.cert_pem, now=NOW)
    key, curve = generate_node_key(), generate_keypair()
    with pytest.raises(CAError, match="only managers"):
        issue_node_certificate(
            public_only,
            create_csr(key, curve.public),
            node_id=NODE,
            role=NodeRole.WORKER,
            cluster_id=CLUSTER,
            now=NOW,
            rng=random.Random(0),
        )


def test_node_key_pem_round_trip() -> None:
    key = generate_node_key()
    assert load_node_key(node_key_pem(key)).private_numbers() == key.private_numbers()
    with pytest.raises(CertificateError):
        load_node_key(b"junk")


def test_serials_differ(issue: Issue) -> None:
    serials = {issue()[0].info.serial for _ in range(5)}
    assert len(serials) == 5


def test_z85_matches_zeromq() -> None:
    for _ in range(20):
        raw = random.Random(_).randbytes(32)
        assert z85_encode(raw) == zmq_z85.encode(raw)
        assert z85_decode(zmq_z85.encode(raw)) == raw
    with pytest.raises(ValueError):
        z85_decode(b"~~~~~")
