"""A node's certificate and keys in its state dir.

Layout (directories mode 0700, files mode 0600, every file written atomically), extending
the identity of `actors.ca.node_identity`:
    STATE_DIR/certificates/ca.crt     the root CA certificates the node trusts (PEM): the
                                      one pinned at join; two during a root rotation
    STATE_DIR/certificates/node.key   the node's ECDSA P-256 key (PKCS#8 PEM)
    STATE_DIR/certificates/node.crt   the node's certificate (PEM)
    STATE_DIR/certificates/retired_roots  digests of roots trusted before a root rotation
                                      completed (one a line; trusted no more: only so a
                                      ``--join-token`` made before is known as this
                                      cluster's)
    STATE_DIR/keys/curve.key          the CURVE key pair the certificate binds
    STATE_DIR/node_id                 the node id (written last: it marks a whole identity)

`write_node_certs` writes in that order, so a crash leaves either a whole joined identity or
no node id (and the node joins again). `load_node_certs` checks what it reads: the
certificate was issued by a trusted root, names the node id of ``node_id``, binds the CURVE
public key of ``keys/curve.key`` and matches ``node.key``. Renewal replaces the key and the
certificate (`replace_node_certificate`, key first: an old certificate with a new key fails
the check and is renewed again rather than used). A root rotation changes the trusted
roots (`replace_trusted_roots`): a renewal under a new root writes the roots (old and new)
before the certificate, so a crash in between leaves the old certificate, still trusted;
once the rotation completes the node writes the new root alone.

On an autolocked manager the private keys (``node.key``, the secret of ``curve.key``) are
not files but entries of its key store, reached through the ``vault`` argument
(`actors.ca.node_identity.KeyVault`; `NodeCertificates.vault` carries it to the renewer). Without a
vault, or with autolock off, they are these 0600 files; a worker's always are (workers have
no unlock key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric import ec

from actors.ca.certs import (
    CertificateError,
    NodeCertInfo,
    certificate_matches_key,
    issuing_root,
    load_node_key,
    node_key_pem,
    read_node_certificate,
    verify_node_certificate,
)
from actors.ca.keystore import NODE_TLS_KEY
from actors.ca.node_identity import (
    KEYS_DIR,
    NODE_ID_FILE,
    IdentityError,
    KeyVault,
    ensure_private_dir,
    read_curve_keys,
    write_curve_keys,
)
from actors.ca.root import CAError, CertificateAuthority, load_root_bundle
from actors.durable import write_durable
from transport.keys import KeyPair

__all__ = [
    "CA_CERT_FILE",
    "CERTS_DIR",
    "NODE_CERT_FILE",
    "NODE_KEY_FILE",
    "NodeCertificates",
    "NodeCertsError",
    "load_node_certs",
    "node_certs_exist",
    "replace_node_certificate",
    "replace_trusted_roots",
    "retired_root_digests",
    "write_node_certs",
]

CERTS_DIR: Final = "certificates"
CA_CERT_FILE: Final = "ca.crt"
NODE_CERT_FILE: Final = "node.crt"
NODE_KEY_FILE: Final = "node.key"
RETIRED_ROOTS_FILE: Final = "retired_roots"
MAX_RETIRED_ROOTS: Final = 32


class NodeCertsError(Exception):
    """The certificate files in the state dir are missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class NodeCertificates:
    """A node's certificate material as loaded (and checked) from its state dir."""

    node_id: str
    ca: CertificateAuthority  # the root that issued the certificate (no key)
    cert_pem: bytes
    info: NodeCertInfo
    key: ec.EllipticCurvePrivateKey = field(repr=False)
    keypair: KeyPair
    vault: KeyVault | None = field(default=None, repr=False, compare=False)
    roots: tuple[CertificateAuthority, ...] = ()  # every root trusted (``ca`` among them)

    @property
    def ca_cert_pem(self) -> bytes:
        return self.ca.cert_pem

    @property
    def trusted(self) -> tuple[CertificateAuthority, ...]:
        return self.roots or (self.ca,)

    @property
    def roots_pem(self) -> bytes:
        """The trusted roots as one PEM bundle (what ca.crt holds)."""
        return b"".join(root.cert_pem for root in self.trusted)

    @property
    def root_digests(self) -> tuple[str, ...]:
        return tuple(root.digest for root in self.trusted)


def _dir(state_dir: Path) -> Path:
    return Path(state_dir) / CERTS_DIR


def node_certs_exist(state_dir: Path) -> bool:
    """Whether the state dir holds a node certificate (the node has joined or initialised)."""
    return (_dir(state_dir) / NODE_CERT_FILE).exists()


def write_node_certs(
    state_dir: Path,
    *,
    node_id: str,
    ca_cert: bytes,
    cert: bytes,
    key: ec.EllipticCurvePrivateKey,
    keypair: KeyPair,
    vault: KeyVault | None = None,
) -> None:
    """Write a node's whole identity (see the module docstring for the order)."""
    state_dir = Path(state_dir)
    certs = _dir(state_dir)
    ensure_private_dir(state_dir)
    ensure_private_dir(certs)
    ensure_private_dir(state_dir / KEYS_DIR)
    write_durable(certs / CA_CERT_FILE, ca_cert)
    _write_node_key(certs / NODE_KEY_FILE, node_key_pem(key), vault)
    write_durable(certs / NODE_CERT_FILE, cert)
    write_curve_keys(state_dir, keypair, vault)
    write_durable(state_dir / NODE_ID_FILE, node_id.encode("ascii") + b"\n")


def replace_node_certificate(
    state_dir: Path,
    *,
    cert: bytes,
    key: ec.EllipticCurvePrivateKey | None = None,
    vault: KeyVault | None = None,
) -> None:
    """Renewal: store the new certificate (and its new key, when the key changed)."""
    certs = _dir(Path(state_dir))
    if key is not None:
        _write_node_key(certs / NODE_KEY_FILE, node_key_pem(key), vault)
    write_durable(certs / NODE_CERT_FILE, cert)


def replace_trusted_roots(
    state_dir: Path, roots_pem: bytes, *, retired: Sequence[str] = ()
) -> None:
    """Store the roots the node trusts (a PEM bundle), durably; ``retired``: digests of
    roots it stops trusting (a rotation completed), recorded first."""
    certs = _dir(Path(state_dir))
    if retired:
        known = list(retired_root_digests(state_dir))
        known += [d for d in retired if d not in known]
        text = "".join(f"{d}\n" for d in known[-MAX_RETIRED_ROOTS:])
        write_durable(certs / RETIRED_ROOTS_FILE, text.encode("ascii"))
    write_durable(certs / CA_CERT_FILE, roots_pem)


def retired_root_digests(state_dir: Path) -> tuple[str, ...]:
    """The digests of the roots this node trusted before rotations completed."""
    try:
        text = (_dir(Path(state_dir)) / RETIRED_ROOTS_FILE).read_text("ascii")
    except FileNotFoundError:
        return ()
    except (OSError, ValueError) as exc:
        raise NodeCertsError(f"cannot read {RETIRED_ROOTS_FILE}: {exc}") from None
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _write_node_key(path: Path, pem: bytes, vault: KeyVault | None) -> None:
    if vault is None:
        write_durable(path, pem)
    else:
        vault.put(NODE_TLS_KEY, pem, lambda value: write_durable(path, value))


def _read_node_key(path: Path, vault: KeyVault | None) -> bytes:
    held = vault.get(NODE_TLS_KEY) if vault is not None else None
    return held if held is not None else _read(path)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise NodeCertsError(f"cannot read {path}: {exc.strerror or exc}") from None


def load_node_certs(
    state_dir: Path, *, now: float, vault: KeyVault | None = None
) -> NodeCertificates:
    """Read and check the node's certificate material (private keys from ``vault`` when it
    holds them). A certificate that has expired is still returned (check
    ``info.not_after``): the caller decides to rejoin."""
    state_dir = Path(state_dir)
    certs = _dir(state_dir)
    node_id = _read(state_dir / NODE_ID_FILE).decode("ascii", "replace").strip()
    try:
        roots = load_root_bundle(_read(certs / CA_CERT_FILE), now=now)
        key = load_node_key(_read_node_key(certs / NODE_KEY_FILE, vault))
        cert = _read(certs / NODE_CERT_FILE)
        keypair = read_curve_keys(state_dir, vault)
        info = verify_node_certificate(cert, roots, now=_within(cert, now))
    except (CAError, CertificateError, IdentityError, ValueError, OSError) as exc:
        raise NodeCertsError(f"node certificate files in {certs}: {exc}") from None
    issuer = issuing_root(cert, roots)
    ca = next(root for root in roots if root.cert == issuer)
    if info.node_id != node_id:
        raise NodeCertsError(
            f"the certificate is for node {info.node_id}, the state dir for node {node_id}"
        )
    if info.curve_public_key != keypair.public:
        raise NodeCertsError("the certificate does not bind this node's CURVE key")
    if not certificate_matches_key(cert, key):
        raise NodeCertsError("the certificate does not match the node key")
    return NodeCertificates(node_id, ca, cert, info, key, keypair, vault, roots)


def _within(cert: bytes, now: float) -> float:
    """``now`` clamped into the certificate's validity, so an expired certificate is still
    verified for its signature and returned (its dates are in ``info``)."""
    info = read_node_certificate(cert)
    return min(max(now, info.not_before), info.not_after)
