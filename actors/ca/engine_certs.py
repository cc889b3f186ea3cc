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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from actors.ca.certs import (
    CERT_BACKDATE,
    check_node_cert_expiry,
    load_csr,
    sign_leaf,
)
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
    csr = load_csr(csr_pem)
    public = csr.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    expiry = check_node_cert_expiry(expiry)
    cert = sign_leaf(
        ca,
        public,
        common_name=ENGINE_OU,
        ou=ENGINE_OU,
        cluster_id=cluster_id,
        serial=serial_number(rng),
        not_before=to_datetime(now - CERT_BACKDATE),
        not_after=to_datetime(now) + timedelta(seconds=expiry),
        names=parse_hosts(hosts),
    )
    return cert.public_bytes(serialization.Encoding.PEM)
