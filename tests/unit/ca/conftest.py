"""Shared CA fixtures: a root CA at a fixed instant, and a way to issue node certificates."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from actors.ca.certs import IssuedCertificate, create_csr, generate_node_key, issue_node_certificate
from actors.ca.root import CertificateAuthority, create_root_ca
from api.enums import NodeRole
from api.ids import new_id
from transport.keys import KeyPair, generate_keypair

NOW = 1_700_000_000.0
CLUSTER = "c" * 25
HOUR = 3600.0
DAY = 24 * HOUR

Issue = Callable[..., tuple[IssuedCertificate, KeyPair, ec.EllipticCurvePrivateKey]]


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return create_root_ca(NOW, random.Random(1))


@pytest.fixture(scope="module")
def other_ca() -> CertificateAuthority:
    return create_root_ca(NOW, random.Random(2))


@pytest.fixture
def issue(ca: CertificateAuthority) -> Issue:
    rng = random.Random(7)

    def _issue(
        role: NodeRole = NodeRole.WORKER,
        *,
        authority: CertificateAuthority | None = None,
        now: float = NOW,
        expiry: float = 90 * DAY,
        cluster_id: str = CLUSTER,
        node_id: str | None = None,
    ) -> tuple[IssuedCertificate, KeyPair, ec.EllipticCurvePrivateKey]:
        key = generate_node_key()
        curve = generate_keypair()
        issued = issue_node_certificate(
            authority or ca,
            create_csr(key, curve.public),
            node_id=node_id or new_id(rng),
            role=role,
            cluster_id=cluster_id,
            now=now,
            rng=rng,
            expiry=expiry,
        )
        return issued, curve, key

    return _issue
