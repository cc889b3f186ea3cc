"""``swarmctl cluster engine-cert DIR [--host HOST ...]``: a TLS certificate from the
cluster CA for ``swarm-node --engine-api tcp://... --engine-api-tls DIR`` and for the
docker CLI (``DOCKER_CERT_PATH=DIR DOCKER_TLS_VERIFY=1``).

The private key is made here and never leaves this machine: only a CSR goes to the
manager, which signs it (actors/ca/engine_certs.py). DIR gets ``ca.pem``, ``cert.pem`` and
``key.pem`` (mode 0600, DIR 0700), Docker's layout; existing files are not overwritten.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from cli.connection import ControlConnection
from cli.errors import CliError
from cli.output import write_json, write_text

__all__ = ["FILES", "add_engine_cert_verb"]

FILES = ("ca.pem", "cert.pem", "key.pem")


def add_engine_cert_verb(verbs: Any, common: argparse.ArgumentParser) -> None:
    cert = verbs.add_parser(
        "engine-cert",
        parents=[common],
        help="issue a TLS certificate for the Engine API (--engine-api-tls, DOCKER_CERT_PATH)",
    )
    cert.add_argument("directory", type=Path, metavar="DIR", help="where to write the files")
    cert.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="HOST",
        help="a DNS name or IP address clients reach the node at (repeatable; localhost "
        "and 127.0.0.1 are always included)",
    )
    cert.set_defaults(run=run_engine_cert)


def _key_and_csr() -> tuple[bytes, bytes]:
    # imported here: the rest of swarmctl loads without cryptography
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def run_engine_cert(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    directory: Path = args.directory
    taken = [name for name in FILES if (directory / name).exists()]
    if taken:
        raise CliError(f"{directory} already holds {', '.join(taken)}: choose an empty directory")
    with connection:
        key_pem, csr = _key_and_csr()
        reply = connection.request("control.cluster.engine_cert", {"csr": csr, "hosts": args.host})
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, data in (
        ("ca.pem", reply["ca_cert"]),
        ("cert.pem", reply["cert"]),
        ("key.pem", key_pem),
    ):
        _write(directory / name, data)
    if args.format == "json":
        write_json({"directory": str(directory), "files": list(FILES), "hosts": args.host})
    else:
        write_text(
            f"Wrote {', '.join(FILES)} to {directory}.\n"
            f"  node:   swarm-node --engine-api tcp://HOST:PORT --engine-api-tls {directory}\n"
            f"  docker: DOCKER_HOST=tcp://HOST:PORT DOCKER_TLS_VERIFY=1 "
            f"DOCKER_CERT_PATH={directory} docker service ls"
        )
    return 0
