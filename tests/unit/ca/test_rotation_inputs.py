"""Root CA rotation: what the operator brings in (a root of their own, checked) and what
comes out (an Engine API certificate issued during a rotation, served by the node)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from actors.ca.issuance import JoinRefused
from actors.ca.root import create_root_ca, to_datetime
from actors.engine_api.tls import EngineTLSError, engine_tls_context
from tests.support.foreign_ca import pem_private_key, self_signed
from tests.unit.ca.conftest import NOW
from tests.unit.ca.test_service import World, make_world


@pytest.fixture
def world() -> Iterator[World]:
    w = make_world(seed=5)
    yield w
    w.service.stop()


def test_an_operators_root_about_to_expire_is_refused(world: World) -> None:
    # nodes stop trusting an expired root: one expiring within the hour would take the
    # cluster down soon after the rotation completed
    short = create_root_ca(NOW, random.Random(9), validity=600.0)
    with pytest.raises(JoinRefused, match="expires within an hour") as refused:
        world.service.rotate_root((short.cert_pem, short.key_pem()))
    assert refused.value.code == "invalid_argument"
    assert world.cluster().root_ca.root_rotation is None
    fine = create_root_ca(NOW, random.Random(10))
    world.service.rotate_root((fine.cert_pem, fine.key_pem()))


def test_an_engine_certificate_issued_during_a_rotation_serves(
    world: World, tmp_path: Path
) -> None:
    # issued under the new root with both roots in ca.pem: the node (trusting both) serves
    # it, and once the rotation completed (trusting the new root alone) it still serves
    # it, trusting clients of the new root only
    world.service.rotate_root()
    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    csr = request.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM)
    cert, bundle = world.service.engine_certificate(csr, ["localhost"])
    (tmp_path / "ca.pem").write_bytes(bundle)
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    assert len(engine_tls_context(tmp_path, bundle).get_ca_certs()) == 2
    rotation = world.cluster().root_ca.root_rotation
    assert rotation is not None
    new_only = engine_tls_context(tmp_path, rotation.ca_cert).get_ca_certs()
    assert len(new_only) == 1
    with pytest.raises(EngineTLSError, match="not this cluster's root CA"):
        engine_tls_context(tmp_path, create_root_ca(NOW, random.Random(12)).cert_pem)


def _self_signed(key: Any, *, ca: bool, signer: Any = None) -> bytes:
    return self_signed(
        key,
        name="operator-root",
        not_before=to_datetime(NOW - 60),
        not_after=to_datetime(NOW + 86400 * 365),
        ca=ca,
        signer=signer,
        serial=7,
    )


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("rsa", "ECDSA P-256"),
        ("p384", "ECDSA P-256"),
        ("not_a_ca", "not a CA certificate"),
        ("other_key", "does not match"),
        ("not_self_signed", "not self-signed"),
        ("garbage", "not valid PEM"),
    ],
)
def test_an_operators_root_that_is_no_p256_ca_of_its_own_is_refused(
    world: World, case: str, reason: str
) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    cert, key = _self_signed(p256, ca=True), pem_private_key(p256)
    if case == "rsa":
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert, key = _self_signed(rsa_key, ca=True), pem_private_key(rsa_key)
    elif case == "p384":
        p384 = ec.generate_private_key(ec.SECP384R1())
        cert, key = _self_signed(p384, ca=True), pem_private_key(p384)
    elif case == "not_a_ca":
        cert = _self_signed(p256, ca=False)
    elif case == "other_key":
        key = pem_private_key(ec.generate_private_key(ec.SECP256R1()))
    elif case == "not_self_signed":
        cert = _self_signed(p256, ca=True, signer=ec.generate_private_key(ec.SECP256R1()))
    elif case == "garbage":
        cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    before = world.cluster()
    with pytest.raises(JoinRefused, match=reason) as refused:
        world.service.rotate_root((cert, key))
    assert refused.value.code == "invalid_argument"
    assert world.cluster() == before
