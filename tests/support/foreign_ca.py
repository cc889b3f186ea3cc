"""Self-signed certificates made outside the cluster's CA, for tests that hand swarmnode a
root of their own (an operator's root CA, a foreign CA a client trusts)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

__all__ = ["pem_private_key", "self_signed"]


def self_signed(
    key: Any,
    *,
    name: str,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    ca: bool = True,
    signer: Any = None,
    serial: int = 1,
    units: Sequence[str] = (),
) -> bytes:
    """A certificate (PEM) naming ``name`` (and the organizational ``units``) as subject
    and issuer, for ``key``'s public key, signed by ``signer`` (by default ``key`` itself)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit) for unit in units),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer or key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_private_key(key: Any) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM."""
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
