"""Node certificates: issued by the root CA from a CSR, verified, and read back.

A node has two keys: an ECDSA P-256 key for its certificate and the CURVE key it uses on
the wire. The CSR is signed by the ECDSA key and carries the CURVE public key in a private,
non-critical extension; the CA copies that extension into the certificate, binding the
CURVE key to the node's identity:

    CN = node id, OU = swarm-manager | swarm-worker, O = cluster id
    extension CURVE_KEY_OID = DER OCTET STRING holding the raw 32-byte CURVE public key

``CURVE_KEY_OID`` lies under ``2.25.<UUID>`` (ITU-T X.667: an OID made from a UUID needs
no registration): 2.25.238773980468890220347332383063849455170 is swarmnode's arc, and
``.1`` under it the CURVE public key.

The CA decides the subject, the role and the validity; it ignores the CSR's subject.
Validity is ``node_cert_expiry`` (default 90 days, minimum 1 hour), starting a few minutes
before ``now`` to tolerate small clock differences.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from actors.ca.root import (
    CAError,
    CertificateAuthority,
    serial_number,
    to_datetime,
    to_timestamp,
)
from actors.ca.z85 import z85_decode, z85_encode
from api.enums import NodeRole
from api.ids import RandomBits, is_valid_id

__all__ = [
    "CERT_BACKDATE",
    "CURVE_KEY_OID",
    "DEFAULT_NODE_CERT_EXPIRY",
    "MANAGER_OU",
    "MIN_NODE_CERT_EXPIRY",
    "SWARMNODE_OID_ARC",
    "WORKER_OU",
    "CertificateError",
    "CertificateExpired",
    "CertificateNotYetValid",
    "InvalidCSR",
    "InvalidCertExpiry",
    "IssuedCertificate",
    "NodeCertInfo",
    "RoleNotAllowed",
    "Roots",
    "UntrustedCertificate",
    "certificate_matches_key",
    "check_node_cert_expiry",
    "create_csr",
    "generate_node_key",
    "issue_node_certificate",
    "issuing_root",
    "load_node_key",
    "node_key_pem",
    "read_node_certificate",
    "role_from_ou",
    "root_certs",
    "verify_node_certificate",
]

SWARMNODE_OID_ARC: Final = "2.25.238773980468890220347332383063849455170"
CURVE_KEY_OID: Final = x509.ObjectIdentifier(SWARMNODE_OID_ARC + ".1")
MANAGER_OU: Final = "swarm-manager"
WORKER_OU: Final = "swarm-worker"
DEFAULT_NODE_CERT_EXPIRY: Final = 90 * 24 * 3600.0
MIN_NODE_CERT_EXPIRY: Final = 3600.0
CERT_BACKDATE: Final = 300.0

_OU_ROLES: Final = {MANAGER_OU: NodeRole.MANAGER, WORKER_OU: NodeRole.WORKER}
_ROLE_OUS: Final = {role: ou for ou, role in _OU_ROLES.items()}
_CURVE_KEY_BYTES: Final = 32
_Z85_KEY_LEN: Final = 40


class CertificateError(Exception):
    """A node certificate (or CSR) is not acceptable; the message says why."""


class InvalidCSR(CertificateError):
    """The certificate signing request is malformed or not signed by its own key."""


class UntrustedCertificate(CertificateError):
    """Not issued by this cluster's CA (another CA, another cluster, or a forgery)."""


class CertificateExpired(CertificateError):
    pass


class CertificateNotYetValid(CertificateError):
    pass


class RoleNotAllowed(CertificateError):
    """The certificate's role is not allowed here (e.g. a worker on the Raft endpoint)."""


class InvalidCertExpiry(ValueError):
    """A requested node certificate validity below the minimum."""


@dataclass(frozen=True, slots=True)
class NodeCertInfo:
    """What a node certificate says about its holder."""

    node_id: str
    role: NodeRole
    cluster_id: str
    curve_public_key: bytes  # Z85, 40 bytes
    serial: int
    not_before: float
    not_after: float

    @property
    def lifetime(self) -> float:
        return self.not_after - self.not_before


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    cert_pem: bytes
    info: NodeCertInfo


def check_node_cert_expiry(seconds: float) -> float:
    """``seconds`` if it is an acceptable node certificate validity, else raise."""
    if not seconds >= MIN_NODE_CERT_EXPIRY:  # also refuses NaN
        raise InvalidCertExpiry(
            f"node certificate expiry must be at least {MIN_NODE_CERT_EXPIRY:.0f} s (1 hour), "
            f"not {seconds} s"
        )
    return float(seconds)


def role_from_ou(ou: str) -> NodeRole:
    try:
        return _OU_ROLES[ou]
    except KeyError:
        raise CertificateError(f"unknown node role OU {ou[:40]!r}") from None


# --- keys and CSRs ----------------------------------------------------------------------


def generate_node_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 key for a node's certificate."""
    return ec.generate_private_key(ec.SECP256R1())


def node_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM; store it wrapped (`actors.ca.keystore`), never as is."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_node_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"node key is not a readable PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CertificateError("node key is not an ECDSA P-256 key")
    return key


def _curve_extension(curve_public_z85: bytes) -> x509.UnrecognizedExtension:
    if not isinstance(curve_public_z85, bytes) or len(curve_public_z85) != _Z85_KEY_LEN:
        raise ValueError(f"CURVE public key must be {_Z85_KEY_LEN} bytes of Z85")
    raw = z85_decode(curve_public_z85)
    return x509.UnrecognizedExtension(CURVE_KEY_OID, bytes([0x04, _CURVE_KEY_BYTES]) + raw)


def _curve_key_of(extensions: x509.Extensions, what: str) -> bytes:
    try:
        ext = extensions.get_extension_for_oid(CURVE_KEY_OID)
    except x509.ExtensionNotFound:
        raise CertificateError(f"{what} carries no CURVE public key extension") from None
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise CertificateError(f"{what}: unexpected CURVE key extension type")
    data = value.value
    if len(data) != 2 + _CURVE_KEY_BYTES or data[:2] != bytes([0x04, _CURVE_KEY_BYTES]):
        raise CertificateError(f"{what}: CURVE key extension is not a 32-byte OCTET STRING")
    return z85_encode(data[2:])


def create_csr(
    key: ec.EllipticCurvePrivateKey, curve_public_z85: bytes, *, node_id: str = ""
) -> bytes:
    """A PEM CSR signed by ``key`` and carrying the node's CURVE public key."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, node_id)] if node_id else []
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attrs))
        .add_extension(_curve_extension(curve_public_z85), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise InvalidCSR(f"CSR is not valid PEM: {exc}") from None
    if not csr.is_signature_valid:
        raise InvalidCSR("CSR signature does not verify with its own public key")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise InvalidCSR("CSR key must be ECDSA P-256")
    return csr


def sign_leaf(
    ca: CertificateAuthority,
    public: ec.EllipticCurvePublicKey,
    *,
    common_name: str,
    ou: str,
    cluster_id: str,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    names: Sequence[x509.GeneralName],
    extensions: Sequence[x509.ExtensionType] = (),
) -> x509.Certificate:
    """A TLS leaf certificate signed by ``ca`` (server and client auth) for ``public``, named
    CN=common_name, OU=ou, O=cluster_id, with ``names`` as its subject alternative names and
    ``extensions`` added as non-critical: what node and Engine API certificates share."""
    assert ca.key is not None
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
                ]
            )
        )
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(ca.key, hashes.SHA256())


# --- issue ------------------------------------------------------------------------------


def issue_node_certificate(
    ca: CertificateAuthority,
    csr_pem: bytes,
    *,
    node_id: str,
    role: NodeRole,
    cluster_id: str,
    now: float,
    rng: RandomBits,
    expiry: float = DEFAULT_NODE_CERT_EXPIRY,
) -> IssuedCertificate:
    """Sign the CSR's key and CURVE key into a certificate for ``node_id`` as ``role``."""
    if ca.key is None:
        raise CAError("this CA has no private key: only managers issue certificates")
    if not is_valid_id(node_id):
        raise ValueError("node id must be a 25-character base-36 id")
    if not cluster_id:
        raise ValueError("cluster id is empty")
    expiry = check_node_cert_expiry(expiry)
    csr = load_csr(csr_pem)
    curve_key = _curve_key_of(csr.extensions, "CSR")
    public = csr.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    ou = _ROLE_OUS[role]
    serial = serial_number(rng)
    not_before = to_datetime(now - CERT_BACKDATE)
    not_after = to_datetime(now) + timedelta(seconds=expiry)
    cert = sign_leaf(
        ca,
        public,
        common_name=node_id,
        ou=ou,
        cluster_id=cluster_id,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
        names=[x509.DNSName(ou), x509.DNSName(node_id)],
        extensions=(_curve_extension(curve_key),),
    )
    info = NodeCertInfo(
        node_id=node_id,
        role=role,
        cluster_id=cluster_id,
        curve_public_key=curve_key,
        serial=serial,
        not_before=to_timestamp(cert.not_valid_before_utc),
        not_after=to_timestamp(cert.not_valid_after_utc),
    )
    return IssuedCertificate(cert.public_bytes(serialization.Encoding.PEM), info)


# --- read and verify --------------------------------------------------------------------


def _as_cert(cert: bytes | x509.Certificate) -> x509.Certificate:
    if isinstance(cert, x509.Certificate):
        return cert
    try:
        return x509.load_pem_x509_certificate(cert)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from None


def _one(name: x509.Name, oid: x509.ObjectIdentifier, what: str) -> str:
    attrs = name.get_attributes_for_oid(oid)
    if len(attrs) != 1:
        raise CertificateError(f"certificate subject must have exactly one {what}")
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def read_node_certificate(cert: bytes | x509.Certificate) -> NodeCertInfo:
    """What the certificate claims, *without* checking who signed it or when."""
    parsed = _as_cert(cert)
    node_id = _one(parsed.subject, NameOID.COMMON_NAME, "CN (node id)")
    if not is_valid_id(node_id):
        raise CertificateError("certificate CN is not a node id")
    role = role_from_ou(_one(parsed.subject, NameOID.ORGANIZATIONAL_UNIT_NAME, "OU (role)"))
    cluster_id = _one(parsed.subject, NameOID.ORGANIZATION_NAME, "O (cluster id)")
    return NodeCertInfo(
        node_id=node_id,
        role=role,
        cluster_id=cluster_id,
        curve_public_key=_curve_key_of(parsed.extensions, "certificate"),
        serial=parsed.serial_number,
        not_before=to_timestamp(parsed.not_valid_before_utc),
        not_after=to_timestamp(parsed.not_valid_after_utc),
    )


Roots = CertificateAuthority | x509.Certificate | Sequence[CertificateAuthority | x509.Certificate]


def root_certs(roots: Roots) -> tuple[x509.Certificate, ...]:
    """The root certificates of ``roots`` (one or several, CAs or certificates)."""
    if isinstance(roots, CertificateAuthority | x509.Certificate):
        roots = [roots]
    return tuple(r.cert if isinstance(r, CertificateAuthority) else r for r in roots)


def issuing_root(cert: bytes | x509.Certificate, roots: Roots) -> x509.Certificate | None:
    """The root among ``roots`` that signed ``cert`` directly, or None."""
    parsed = _as_cert(cert)
    for root in root_certs(roots):
        if parsed == root:
            continue
        try:
            parsed.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return root
    return None


def verify_node_certificate(
    cert: bytes | x509.Certificate,
    ca: Roots,
    *,
    now: float,
    cluster_id: str | None = None,
    allowed_roles: Collection[NodeRole] | None = None,
) -> NodeCertInfo:
    """Check the certificate was issued by ``ca`` (one root, or any of several: during a
    root rotation a node trusts two), is valid at ``now``, belongs to ``cluster_id`` (when
    given) and has one of ``allowed_roles`` (when given)."""
    parsed = _as_cert(cert)
    if any(parsed == root for root in root_certs(ca)):
        raise UntrustedCertificate("the CA certificate is not a node certificate")
    if issuing_root(parsed, ca) is None:
        raise UntrustedCertificate("certificate was not issued by this cluster's CA")
    try:
        constraints = parsed.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and constraints.ca:
        raise UntrustedCertificate("a CA certificate is not a node certificate")
    info = read_node_certificate(parsed)
    if now < info.not_before:
        raise CertificateNotYetValid(
            f"certificate of node {info.node_id} is not valid yet "
            f"({info.not_before - now:.0f} s to go; check the clocks)"
        )
    if now > info.not_after:
        raise CertificateExpired(
            f"certificate of node {info.node_id} expired {now - info.not_after:.0f} s ago"
        )
    if cluster_id is not None and info.cluster_id != cluster_id:
        raise UntrustedCertificate(f"certificate of node {info.node_id} is for another cluster")
    if allowed_roles is not None and info.role not in allowed_roles:
        raise RoleNotAllowed(f"node {info.node_id} is a {info.role.value}: role not allowed here")
    return info


def certificate_matches_key(
    cert: bytes | x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> bool:
    """Whether ``key`` is the private half of the certificate's public key."""
    public = _as_cert(cert).public_key()
    return (
        isinstance(public, ec.EllipticCurvePublicKey)
        and public.public_numbers() == key.public_key().public_numbers()
    )
