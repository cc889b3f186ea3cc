"""The cluster's root CA: an ECDSA P-256 key and a self-signed certificate, CN ``swarm-ca``.

Created once at cluster init; its certificate (PEM) and key go into the store's
``Cluster.root_ca``. The key never leaves managers; it may be stored wrapped under a
key-encryption key (`actors.ca.encryption.wrap`), in a PEM block of its own type
``SWARM WRAPPED PRIVATE KEY`` so a wrapped key is never mistaken for a plain one.
`load_root_ca` checks what it loads: a CA certificate, self-signed, P-256, valid now, and a
key that matches it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from actors.ca.encryption import DecryptionFailed, unwrap, wrap
from actors.ca.tokens import ca_digest
from api.ids import RandomBits
from api.objects import RootCA

__all__ = [
    "CA_COMMON_NAME",
    "MAX_TRUSTED_ROOTS",
    "ROOT_CA_VALIDITY",
    "CAError",
    "CertificateAuthority",
    "create_root_ca",
    "cross_sign",
    "load_root_bundle",
    "load_root_ca",
    "root_ca_from_api",
    "serial_number",
    "to_datetime",
    "to_timestamp",
]

CA_COMMON_NAME: Final = "swarm-ca"
ROOT_CA_VALIDITY: Final = 20 * 365 * 24 * 3600.0
ROOT_CA_BACKDATE: Final = 3600.0  # tolerate clocks of other nodes running a little behind
_WRAPPED_PEM_TYPE: Final = "SWARM WRAPPED PRIVATE KEY"
_CA_KEY_LABEL: Final = "swarm-ca-key"
_SERIAL_BITS: Final = 127
MAX_TRUSTED_ROOTS: Final = 4  # the current root and a rotation's (more is a malformed file)


class CAError(Exception):
    """The root CA material is missing, malformed or inconsistent."""


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def to_timestamp(dt: datetime) -> float:
    return dt.timestamp()


def serial_number(rng: RandomBits) -> int:
    """A positive random serial of at most 16 bytes (RFC 5280 allows 20)."""
    return rng.getrandbits(_SERIAL_BITS) + 1


@dataclass(frozen=True)
class CertificateAuthority:
    """The root CA certificate and, on managers, its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)

    @property
    def can_sign(self) -> bool:
        return self.key is not None

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def digest(self) -> str:
        """The 50-digit base-36 SHA-256 of the certificate, as in join tokens."""
        return ca_digest(self.cert)

    def key_pem(self, wrapping_key: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, or wrapped under ``wrapping_key`` when given."""
        if self.key is None:
            raise CAError("this CA has no private key (not a manager)")
        if wrapping_key is None:
            return self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        der = self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return _pem_block(_WRAPPED_PEM_TYPE, wrap(wrapping_key, der, label=_CA_KEY_LABEL))

    def to_api(self, wrapping_key: bytes | None = None) -> RootCA:
        """The store's ``RootCA`` value (``ca_cert_hash`` is the token digest)."""
        key = self.key_pem(wrapping_key) if self.key is not None else b""
        return RootCA(ca_cert=self.cert_pem, ca_key=key, ca_cert_hash=self.digest)


def _pem_block(kind: str, data: bytes) -> bytes:
    body = base64.encodebytes(data).decode("ascii")
    return f"-----BEGIN {kind}-----\n{body}-----END {kind}-----\n".encode("ascii")


def _read_pem_block(kind: str, pem: bytes) -> bytes:
    text = pem.decode("ascii", "replace").strip()
    begin, end = f"-----BEGIN {kind}-----", f"-----END {kind}-----"
    if not (text.startswith(begin) and text.endswith(end)):
        raise CAError(f"not a {kind} PEM block")
    try:
        return base64.b64decode("".join(text[len(begin) : -len(end)].split()), validate=True)
    except (binascii.Error, ValueError):
        raise CAError(f"{kind}: body is not base64") from None


def create_root_ca(
    now: float,
    rng: RandomBits,
    *,
    validity: float = ROOT_CA_VALIDITY,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> CertificateAuthority:
    """A new self-signed root CA valid from a little before ``now`` for ``validity`` s.

    ``key`` defaults to a fresh P-256 key (drawn by OpenSSL from the OS; only the serial
    number comes from ``rng``).
    """
    if validity <= 0:
        raise CAError("root CA validity must be positive")
    private = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    public = private.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(serial_number(rng))
        .not_valid_before(to_datetime(now - ROOT_CA_BACKDATE))
        .not_valid_after(to_datetime(now) + timedelta(seconds=validity))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(private, hashes.SHA256())
    )
    return CertificateAuthority(cert, private)


def cross_sign(
    signer: CertificateAuthority, new_root: x509.Certificate, rng: RandomBits
) -> x509.Certificate:
    """``new_root``'s name and key certified by ``signer`` (the current root): what lets a
    node that trusts only ``signer`` accept the new root during a rotation. Valid as long
    as both the new root and the signer are."""
    if signer.key is None:
        raise CAError("this CA has no private key: it cannot cross-sign")
    public = new_root.public_key()
    not_after = min(new_root.not_valid_after_utc, signer.cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(new_root.subject)
        .issuer_name(signer.cert.subject)
        .public_key(public)
        .serial_number(serial_number(rng))
        .not_valid_before(new_root.not_valid_before_utc)
        .not_valid_after(not_after)
    )
    for extension in new_root.extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    return builder.sign(signer.key, hashes.SHA256())


def load_root_bundle(pem: bytes, *, now: float) -> tuple[CertificateAuthority, ...]:
    """Every root CA certificate in a PEM bundle (a node trusts two during a rotation),
    each checked as `load_root_ca` does; at least one."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CAError(f"the CA certificate is not valid PEM: {exc}") from None
    if len(certs) > MAX_TRUSTED_ROOTS:
        raise CAError(f"more than {MAX_TRUSTED_ROOTS} root CA certificates in one bundle")
    return tuple(
        load_root_ca(cert.public_bytes(serialization.Encoding.PEM), now=now) for cert in certs
    )


def _load_key(key_pem: bytes, wrapping_key: bytes | None) -> ec.EllipticCurvePrivateKey:
    if key_pem.lstrip().startswith(f"-----BEGIN {_WRAPPED_PEM_TYPE}-----".encode()):
        if wrapping_key is None:
            raise CAError("the CA key is wrapped and no wrapping key was given")
        try:
            der = unwrap(
                wrapping_key, _read_pem_block(_WRAPPED_PEM_TYPE, key_pem), label=_CA_KEY_LABEL
            )
        except DecryptionFailed:
            raise CAError("the CA key does not unwrap with this key") from None
        loaded = serialization.load_der_private_key(der, password=None)
    else:
        try:
            loaded = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise CAError(f"the CA key is not a readable PEM private key: {exc}") from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
        raise CAError("the CA key is not an ECDSA P-256 key")
    return loaded


def load_root_ca(
    cert_pem: bytes,
    key_pem: bytes | None = None,
    *,
    now: float,
    wrapping_key: bytes | None = None,
) -> CertificateAuthority:
    """Load and check a root CA (certificate, and the key on managers)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise CAError(f"the CA certificate is not valid PEM: {exc}") from None
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise CAError("the CA certificate does not hold an ECDSA P-256 key")
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise CAError("the CA certificate has no basic constraints") from None
    if not constraints.ca:
        raise CAError("the certificate is not a CA certificate")
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        raise CAError("the CA certificate is not self-signed") from None
    if now < to_timestamp(cert.not_valid_before_utc):
        raise CAError("the CA certificate is not valid yet (check the clock)")
    if now > to_timestamp(cert.not_valid_after_utc):
        raise CAError("the CA certificate has expired")
    key = None
    if key_pem:
        key = _load_key(key_pem, wrapping_key)
        if key.public_key().public_numbers() != public.public_numbers():
            raise CAError("the CA key does not match the CA certificate")
    return CertificateAuthority(cert, key)


def root_ca_from_api(
    root: RootCA, *, now: float, wrapping_key: bytes | None = None
) -> CertificateAuthority:
    """The CA held in the store's ``Cluster.root_ca`` (checks the stored digest too)."""
    if not root.ca_cert:
        raise CAError("the cluster has no root CA")
    ca = load_root_ca(root.ca_cert, root.ca_key or None, now=now, wrapping_key=wrapping_key)
    if root.ca_cert_hash and root.ca_cert_hash != ca.digest:
        raise CAError("the stored CA digest does not match the CA certificate")
    return ca
