"""A node's CURVE key pair file: `transport.keys`' format (public line, secret line),
written durably with mode 0600 (`actors.durable`). It lives here, not in transport/,
because transport/ may not import actors/ (the client's import closure) and writing a
state-dir file durably is the actors' shell."""

from __future__ import annotations

import os

from actors.durable import write_durable
from transport.keys import KeyPair, keypair_file_bytes

__all__ = ["write_keypair"]


def write_keypair(path: str | os.PathLike[str], keypair: KeyPair) -> None:
    """Replace ``path`` with ``keypair`` (0600; every byte, fsync, rename, fsync the dir)."""
    write_durable(path, keypair_file_bytes(keypair))
