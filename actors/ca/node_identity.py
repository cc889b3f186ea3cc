"""A node's identity in its state dir: node id and CURVE key pair, kept across restarts.

Layout (state dir mode 0700, files mode 0600):
    STATE_DIR/node_id            the 25-character base-36 node id and a newline
    STATE_DIR/keys/curve.key     the CURVE key pair, Z85 (public line, secret line)

A manager whose keys are autolocked keeps the CURVE secret in its key store instead of
``keys/curve.key`` (`KeyVault`, implemented by the node's key store): then the file is
absent and the key pair comes from the vault. A worker has no unlock key (as in SwarmKit,
workers are not locked): its private keys are always these 0600 files.

The key pair is written first and the node id last, so the node id file marks a complete
identity: without it, a fresh identity is created at start-up (replacing any stray key
file); with it, a missing or corrupt key file is an error rather than a silent change of
keys. Existing files with looser permissions are tightened and the change is logged. The
CA's certificate files extend this layout (actors/ca/node_certs.py).
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import zmq

from actors.keypair_file import write_keypair
from actors.log import get_logger
from api.ids import is_valid_id
from transport.keys import KeyPair, read_keypair

__all__ = [
    "CURVE_SECRET",
    "IdentityError",
    "KeyVault",
    "NodeIdentity",
    "ensure_private_dir",
    "keypair_from_secret",
    "read_curve_keys",
    "read_node_id",
    "write_curve_keys",
]

NODE_ID_FILE = "node_id"
KEYS_DIR = "keys"
KEY_FILE = "curve.key"
DIR_MODE = 0o700
FILE_MODE = 0o600
CURVE_SECRET: Final = "curve-secret"  # the vault's name for the CURVE secret (Z85)

_log = get_logger("identity")


class IdentityError(Exception):
    """The state dir holds an identity that cannot be read or is not valid."""


class KeyVault(Protocol):
    """Where an autolocked manager keeps its private keys instead of their files."""

    def get(self, name: str) -> bytes | None:
        """The key named ``name`` if the vault holds it (None: read its file)."""
        ...

    def put(self, name: str, value: bytes, write_file: Callable[[bytes], None]) -> None:
        """Keep ``value`` in the vault, or call ``write_file`` when keys live in files now
        (decided and done under the vault's lock)."""
        ...


def keypair_from_secret(secret: bytes) -> KeyPair:
    """The CURVE key pair of a Z85 secret key."""
    try:
        return KeyPair(zmq.curve_public(secret), secret)
    except (ValueError, zmq.ZMQError) as exc:
        raise IdentityError(f"the stored CURVE secret key is not valid: {exc}") from None


@dataclass(frozen=True)
class NodeIdentity:
    node_id: str
    keypair: KeyPair


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if needed and make sure only its owner can use it."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        _tighten(path, DIR_MODE)
    except OSError as exc:
        raise IdentityError(f"cannot use state dir {path}: {exc.strerror or exc}") from exc
    if not path.is_dir():
        raise IdentityError(f"state dir {path} is not a directory")


def read_node_id(state_dir: Path) -> str:
    """The node id in ``state_dir`` (`IdentityError` when missing or invalid)."""
    return _read_node_id(Path(state_dir) / NODE_ID_FILE)


def read_curve_keys(state_dir: Path, vault: KeyVault | None = None) -> KeyPair:
    """The node's CURVE key pair: from ``vault`` when it holds the secret, else its file."""
    secret = vault.get(CURVE_SECRET) if vault is not None else None
    if secret is not None:
        return keypair_from_secret(secret)
    return _read_keys(Path(state_dir) / KEYS_DIR / KEY_FILE)


def write_curve_keys(state_dir: Path, keypair: KeyPair, vault: KeyVault | None = None) -> None:
    """Store the node's CURVE key pair: in ``vault`` when it keeps keys, else its file."""
    path = Path(state_dir) / KEYS_DIR / KEY_FILE
    if vault is None:
        write_keypair(path, keypair)
    else:
        vault.put(CURVE_SECRET, keypair.secret, lambda _: write_keypair(path, keypair))


def _read_node_id(path: Path) -> str:
    try:
        _tighten(path, FILE_MODE)
        node_id = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IdentityError(f"cannot read node id from {path}: {exc}") from exc
    if not is_valid_id(node_id):
        raise IdentityError(f"{path} does not hold a valid node id (25 base-36 characters)")
    return node_id


def _read_keys(path: Path) -> KeyPair:
    if not path.exists():
        raise IdentityError(
            f"{path} is missing but the state dir has a node id (and no unlocked key store "
            "holds the key); restore the key file or start with an empty state dir"
        )
    try:
        _tighten(path, FILE_MODE)
        keypair = read_keypair(path)
    except OSError as exc:
        raise IdentityError(f"cannot read key pair from {path}: {exc}") from exc
    except ValueError as exc:
        raise IdentityError(f"{path} does not hold a valid CURVE key pair: {exc}") from exc
    if zmq.curve_public(keypair.secret) != keypair.public:
        raise IdentityError(f"{path}: the public key does not match the secret key")
    return keypair


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        path.chmod(mode)
        _log.warning(
            "identity.permissions.tightened", path=str(path), was=oct(current), now=oct(mode)
        )
