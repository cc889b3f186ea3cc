"""Engine API certificates (actors/ca/engine_certs.py)."""

from __future__ import annotations

import ipaddress
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from actors.ca.certs import CURVE_KEY_OID, CertificateError, InvalidCSR, role_from_ou
from actors.ca.engine_certs import ENGINE_OU, issue_engine_certificate
from actors.ca.root import CertificateAuthority
from tests.unit.ca.conftest import CLUSTER, DAY, NOW


def csr() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    built = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    return built.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def issue(ca: CertificateAuthority, hosts: list[str], request: bytes | None = None) -> bytes:
    return issue_engine_certificate(
        ca,
        request or csr(),
        hosts=hosts,
        cluster_id=CLUSTER,
        now=NOW,
        rng=random.Random(2),
        expiry=DAY,
    )


def test_server_and_client_for_the_hosts_and_no_node_identity(ca: CertificateAuthority) -> None:
    cert = x509.load_pem_x509_certificate(issue(ca, ["10.0.0.5", "swarm.example"]))
    cert.verify_directly_issued_by(ca.cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"swarm.example", "localhost"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("10.0.0.5"),
        ipaddress.ip_address("127.0.0.1"),
    }
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usage) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    [ou] = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert ou.value == ENGINE_OU
    with pytest.raises(CertificateError):  # no node role: never a node's identity
        role_from_ou(ENGINE_OU)
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_oid(CURVE_KEY_OID)
    assert cert.not_valid_after_utc.timestamp() == NOW + DAY


def test_refusals(ca: CertificateAuthority) -> None:
    with pytest.raises(ValueError, match="not a host name"):
        issue(ca, ["bad host!"])
    with pytest.raises(ValueError, match="at most"):
        issue(ca, [f"h{i}" for i in range(17)])
    with pytest.raises(InvalidCSR):
        issue(ca, [], b"not a csr")
    rsa_like = ec.generate_private_key(ec.SECP384R1())
    other = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    pem = other.sign(rsa_like, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(InvalidCSR, match="P-256"):
        issue(ca, [], pem)
