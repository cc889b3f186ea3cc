"""``--engine-api-tls DIR``: the Engine API's TLS context, from certificates the cluster CA
issued (``swarmctl cluster engine-cert DIR``: ``ca.pem``, ``cert.pem``, ``key.pem``).

Rules (checked when the node starts; a failure stops the start with the reason):
- ``ca.pem`` must hold a root CA certificate the node trusts (during a root rotation
  ``cluster engine-cert`` writes both roots), and ``cert.pem`` be signed by one of those
  for the key in ``key.pem``: the node never serves under another authority.
- Clients must present a certificate from a root of ``ca.pem`` the node trusts (mutual
  TLS, as Docker's ``--tlsverify``); a root it no longer trusts (a rotation completed) is
  left out. TLS 1.2 at least.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from actors.ca.root import MAX_TRUSTED_ROOTS

__all__ = ["EngineTLSError", "engine_tls_context"]


class EngineTLSError(ValueError):
    """The TLS directory cannot serve the Engine API; the message says why."""


def _read(directory: Path, name: str) -> bytes:
    try:
        return (directory / name).read_bytes()
    except OSError as exc:
        raise EngineTLSError(
            f"--engine-api-tls {directory}: cannot read {name}: {exc.strerror or exc} "
            "(swarmctl cluster engine-cert DIR writes ca.pem, cert.pem and key.pem)"
        ) from None


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
        cert.verify_directly_issued_by(ca)
    except (AssertionError, ValueError, TypeError, InvalidSignature):
        return False
    return True


def engine_tls_context(directory: Path, cluster_ca_pem: bytes) -> ssl.SSLContext:
    """The server context for ``directory``; EngineTLSError names what is wrong."""
    ca_pem = _read(directory, "ca.pem")
    cert_pem = _read(directory, "cert.pem")
    _read(directory, "key.pem")
    try:
        given = x509.load_pem_x509_certificates(ca_pem)
        cert = x509.load_pem_x509_certificate(cert_pem)
        trusted = x509.load_pem_x509_certificates(cluster_ca_pem)
    except ValueError as exc:
        raise EngineTLSError(
            f"--engine-api-tls {directory}: not a PEM certificate: {exc}"
        ) from None
    if len(given) > MAX_TRUSTED_ROOTS:
        raise EngineTLSError(
            f"--engine-api-tls {directory}: ca.pem holds more than {MAX_TRUSTED_ROOTS} certificates"
        )
    roots = [ca for ca in given if ca in trusted]
    if not roots:
        raise EngineTLSError(
            f"--engine-api-tls {directory}: ca.pem is not this cluster's root CA certificate"
        )
    if not any(_issued_by(cert, ca) for ca in roots):
        raise EngineTLSError(
            f"--engine-api-tls {directory}: cert.pem was not issued by this cluster's CA"
        )
    cadata = "".join(ca.public_bytes(Encoding.PEM).decode("ascii") for ca in roots)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=cadata)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    except ssl.SSLError as exc:
        raise EngineTLSError(
            f"--engine-api-tls {directory}: key.pem does not match cert.pem ({exc.reason})"
        ) from None
    return context
