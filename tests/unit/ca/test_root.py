"""The root CA: created self-signed as swarm-ca, serialised, loaded and checked."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from actors.ca.root import (
    CA_COMMON_NAME,
    CAError,
    CertificateAuthority,
    create_root_ca,
    load_root_ca,
    root_ca_from_api,
)
from actors.ca.tokens import ca_digest

from .conftest import NOW

KEK = bytes(range(32))
YEAR = 365 * 24 * 3600.0


def test_created_ca_is_self_signed_p256_with_long_validity(ca: CertificateAuthority) -> None:
    cert = ca.cert
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CA_COMMON_NAME
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = cert.not_valid_after_utc.timestamp() - NOW
    assert lifetime >= 19.9 * YEAR
    assert cert.not_valid_before_utc.timestamp() <= NOW


def test_round_trip_plain_key(ca: CertificateAuthority) -> None:
    loaded = load_root_ca(ca.cert_pem, ca.key_pem(), now=NOW)
    assert loaded.cert == ca.cert and loaded.can_sign
    assert b"BEGIN PRIVATE KEY" in ca.key_pem()


def test_round_trip_wrapped_key(ca: CertificateAuthority) -> None:
    wrapped = ca.key_pem(KEK)
    assert b"BEGIN PRIVATE KEY" not in wrapped
    assert b"SWARM WRAPPED PRIVATE KEY" in wrapped
    loaded = load_root_ca(ca.cert_pem, wrapped, now=NOW, wrapping_key=KEK)
    assert loaded.can_sign
    with pytest.raises(CAError, match="does not unwrap"):
        load_root_ca(ca.cert_pem, wrapped, now=NOW, wrapping_key=bytes(32))
    with pytest.raises(CAError, match="no wrapping key"):
        load_root_ca(ca.cert_pem, wrapped, now=NOW)


def test_certificate_only_cannot_sign(ca: CertificateAuthority) -> None:
    loaded = load_root_ca(ca.cert_pem, now=NOW)
    assert not loaded.can_sign
    with pytest.raises(CAError):
        loaded.key_pem()


def test_key_must_match_certificate(
    ca: CertificateAuthority, other_ca: CertificateAuthority
) -> None:
    with pytest.raises(CAError, match="does not match"):
        load_root_ca(ca.cert_pem, other_ca.key_pem(), now=NOW)


def test_expired_and_future_ca_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(CAError, match="expired"):
        load_root_ca(ca.cert_pem, now=NOW + 21 * YEAR)
    with pytest.raises(CAError, match="not valid yet"):
        load_root_ca(ca.cert_pem, now=NOW - 2 * 3600)


def test_garbage_refused() -> None:
    with pytest.raises(CAError, match="not valid PEM"):
        load_root_ca(b"nonsense", now=NOW)


def test_api_value_carries_digest(ca: CertificateAuthority) -> None:
    value = ca.to_api(KEK)
    assert value.ca_cert == ca.cert_pem
    assert value.ca_cert_hash == ca_digest(ca.cert_der) == ca.digest
    assert root_ca_from_api(value, now=NOW, wrapping_key=KEK).can_sign


def test_api_value_with_wrong_digest_refused(ca: CertificateAuthority) -> None:
    value = replace(ca.to_api(), ca_cert_hash="0" * 50)
    with pytest.raises(CAError, match="digest"):
        root_ca_from_api(value, now=NOW)


def test_serial_from_rng_is_reproducible() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    a = create_root_ca(NOW, random.Random(5), key=key)
    b = create_root_ca(NOW, random.Random(5), key=key)
    assert a.cert.serial_number == b.cert.serial_number > 0
