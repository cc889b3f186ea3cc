"""CURVE key pairs: Z85-encoded (40 characters) public and secret keys, as ZeroMQ takes them."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import zmq
from zmq.utils import z85

__all__ = ["KeyPair", "fingerprint", "generate_keypair", "keypair_file_bytes", "read_keypair"]

_Z85_KEY_LEN = 40


def _check_key(what: str, key: bytes) -> None:
    if type(key) is not bytes or len(key) != _Z85_KEY_LEN:
        raise ValueError(f"{what} key must be {_Z85_KEY_LEN} bytes of Z85")
    try:
        z85.decode(key)
    except (ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"{what} key is not valid Z85") from exc


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A CURVE key pair, both halves Z85-encoded. The secret never appears in ``repr``."""

    public: bytes
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_key("public", self.public)
        _check_key("secret", self.secret)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)


def generate_keypair() -> KeyPair:
    public, secret = zmq.curve_keypair()
    return KeyPair(public, secret)


def fingerprint(public_z85: bytes) -> str:
    """A short, loggable name for a public key (first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(public_z85).hexdigest()[:16]


def keypair_file_bytes(keypair: KeyPair) -> bytes:
    """A key pair as its file holds it: the public line, then the secret line. (The file is
    written by `actors.keypair_file.write_keypair`, durably: transport/ does no state-dir
    I/O of its own.)"""
    return keypair.public + b"\n" + keypair.secret + b"\n"


def read_keypair(path: str | os.PathLike[str]) -> KeyPair:
    lines = Path(path).read_bytes().split()
    if len(lines) != 2:
        raise ValueError(f"{path}: expected a public and a secret key line")
    return KeyPair(lines[0], lines[1])
