"""Engine API certificates: TLS for ``swarm-node --engine-api tcp://...`` (pure).

One certificate serves both sides of Docker's TLS, as ``DOCKER_CERT_PATH`` holds it
(``ca.pem``, ``cert.pem``, ``key.pem``): the node presents it as a server and requires
clients to present one from the same CA.

    CN = swarm-engine-api, OU = swarm-engine-api, O = cluster id
    SAN = the hosts asked for (DNS names or IP addresses) and localhost, 127.0.0.1

Rules:
- It carries no CURVE key and an OU that names no node role, so it can never stand for a
  node on the cluster's ZeroMQ endpoints (their admission reads only node certificates).
- The CA decides subject and validity (the cluster's ``node_cert_expiry``); the CSR only
  brings its ECDSA P-256 public key. At most `MAX_HOSTS` hosts, each checked.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from actors.ca.certs import CERT_BACKDATE, InvalidCSR, check_node_cert_expiry
from actors.ca.root import CAError, CertificateAuthority, serial_number, to_datetime
from api.ids import RandomBits

__all__ = ["ENGINE_OU", "MAX_HOSTS", "issue_engine_certificate", "parse_hosts"]

ENGINE_OU: Final = "swarm-engine-api"
MAX_HOSTS: Final = 16
_DNS = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_ALWAYS: Final = ("localhost", "127.0.0.1")


def parse_hosts(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """The SAN entries for ``hosts`` (plus localhost and 127.0.0.1); ValueError names a
    bad one."""
    if len(hosts) > MAX_HOSTS:
        raise ValueError(f"at most {MAX_HOSTS} hosts, got {len(hosts)}")
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for host in (*hosts, *_ALWAYS):
        text = str(host).strip().strip("[]")
        if text in seen:
            continue
        seen.add(text)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(text)))
            continue
        except ValueError:
            pass
        if not _DNS.match(text):
            raise ValueError(f"not a host name or IP address: {host!r}")
        names.append(x509.DNSName(text.lower()))
    return names


def issue_engine_certificate(
    ca: CertificateAuthority,
    csr_pem: bytes,
    *,
    hosts: Sequence[str],
    cluster_id: str,
    now: float,
    rng: RandomBits,
    expiry: float,
) -> bytes:
    """Sign the CSR's key into an Engine API certificate (PEM) for ``hosts``."""
    if ca.key is None:
        raise CAError("this CA has no private key: only managers issue certificates")
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise InvalidCSR(f"CSR is not valid PEM: {exc}") from None
    if not csr.is_signature_valid:
        raise InvalidCSR("CSR signature does not verify with its own public key")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise InvalidCSR("CSR key must be ECDSA P-256")
    expiry = check_node_cert_expiry(expiry)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, ENGINE_OU),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ENGINE_OU),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
                ]
            )
        )
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(serial_number(rng))
        .not_valid_before(to_datetime(now - CERT_BACKDATE))
        .not_valid_after(to_datetime(now) + timedelta(seconds=expiry))
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
        .add_extension(x509.SubjectAlternativeName(parse_hosts(hosts)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
