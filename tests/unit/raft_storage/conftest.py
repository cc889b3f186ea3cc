"""Helpers for the durable Raft storage tests: real files in tmp_path, real fsync."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import Entry

Opener = Callable[..., DurableStorage]


class AesGcmCipher:
    """AES-GCM with a random 96-bit nonce per record, prefixed to the ciphertext."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or AESGCM.generate_key(bit_length=256)
        self._aead = AESGCM(self.key)

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, None)

    def decrypt(self, ciphertext: bytes) -> bytes:
        return self._aead.decrypt(ciphertext[:12], ciphertext[12:], None)


def ents(lo: int, hi: int, term: int = 1, size: int = 20) -> list[Entry]:
    """Entries lo..hi inclusive whose data names their index and term."""
    return [Entry(i, term, f"{i}:{term}:".encode().ljust(size, b".")) for i in range(lo, hi + 1)]


@pytest.fixture
def wal_dir(tmp_path: Path) -> Path:
    return tmp_path / "raft"


@pytest.fixture
def open_storage(wal_dir: Path) -> Iterator[Opener]:
    """Opens DurableStorage over wal_dir and closes whatever is still open at the end."""
    opened: list[DurableStorage] = []

    def opener(directory: Path | None = None, **kwargs: Any) -> DurableStorage:
        storage = DurableStorage.open(directory or wal_dir, **kwargs)
        opened.append(storage)
        return storage

    yield opener
    for storage in opened:
        storage.close()
