"""A node's identity in its state dir: node id and CURVE key pair, kept across restarts.

Layout (state dir mode 0700, files mode 0600):
    STATE_DIR/node_id            the 25-character base-36 node id and a newline
    STATE_DIR/keys/curve.key     the CURVE key pair, Z85 (public line, secret line)

The key pair is written first and the node id last, so the node id file marks a complete
identity: without it, a fresh identity is created (replacing any stray key file); with it,
a missing or corrupt key file is an error rather than a silent change of keys. Existing
files with looser permissions are tightened and the change is logged.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import zmq

from actors.log import get_logger
from api.ids import is_valid_id, new_id
from transport.keys import KeyPair, generate_keypair, read_keypair, write_keypair

__all__ = ["IdentityError", "NodeIdentity", "ensure_private_dir", "load_or_create_identity"]

NODE_ID_FILE = "node_id"
KEYS_DIR = "keys"
KEY_FILE = "curve.key"
DIR_MODE = 0o700
FILE_MODE = 0o600

_log = get_logger("identity")


class IdentityError(Exception):
    """The state dir holds an identity that cannot be read or is not valid."""


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


def load_or_create_identity(state_dir: Path) -> NodeIdentity:
    """The identity stored in ``state_dir``, created on first use."""
    ensure_private_dir(state_dir)
    ensure_private_dir(state_dir / KEYS_DIR)
    id_path = state_dir / NODE_ID_FILE
    key_path = state_dir / KEYS_DIR / KEY_FILE
    if not id_path.exists():
        return _create(id_path, key_path)
    node_id = _read_node_id(id_path)
    keypair = _read_keys(key_path)
    _log.info("identity.loaded", node_id=node_id, public_key=keypair.public.decode())
    return NodeIdentity(node_id, keypair)


def _create(id_path: Path, key_path: Path) -> NodeIdentity:
    keypair = generate_keypair()
    node_id = new_id()
    try:
        write_keypair(key_path, keypair)
        _write_private(id_path, (node_id + "\n").encode())
    except OSError as exc:
        raise IdentityError(f"cannot write identity in {id_path.parent}: {exc}") from exc
    _log.info("identity.created", node_id=node_id, public_key=keypair.public.decode())
    return NodeIdentity(node_id, keypair)


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
            f"{path} is missing but the state dir has a node id; restore the key file "
            "or start with an empty state dir"
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


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        path.chmod(mode)
        _log.warning(
            "identity.permissions.tightened", path=str(path), was=oct(current), now=oct(mode)
        )
