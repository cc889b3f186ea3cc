"""Encryption at rest: the data key, its AES-256-GCM cipher, key wrapping and unlock keys.

Rules:
- Each manager has its own random 32-byte *data key* (DEK). `AESGCMCipher` uses it for the
  Raft WAL and snapshots (the ``Cipher`` protocol of ``actors.raft_node.wal``): every call
  draws a fresh 12-byte nonce and returns ``nonce || ciphertext+tag``; a ciphertext that
  does not authenticate raises `DecryptionFailed`, never returns garbage.
- Secrets at rest (the DEK, the node's private keys) are *wrapped* under a key-encryption
  key (KEK) with AES-256-GCM. The wrapped blob names its purpose (a label bound in as
  associated data), so a blob wrapped for one purpose cannot be passed off as another.
- Without autolock the KEK is a random key kept in a 0600 file beside the wrapped keys (as
  SwarmKit keeps its keys when not autolocked). With autolock the KEK is derived (HKDF-SHA256)
  from an *unlock key* ``SWMKEY-1-<base64 of 32 random bytes>`` that only the operator holds.
  Rotating the unlock key re-wraps the same secrets: the DEK never changes, so the Raft log
  stays readable.
- A wrapped file names the KEK it is under by a *key id* (`kek_id`: HKDF-SHA256 of the
  KEK, 16 bytes, revealing nothing of it), so a reader tells a wrong unlock key ("invalid
  unlock key") from a damaged file (the id matches but the blob does not authenticate).
- Randomness comes from an injected ``random_bytes(n)`` (``os.urandom`` by default); nothing
  here touches files (see `actors.ca.keystore`).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DATA_KEY_BYTES",
    "KEK_ID_BYTES",
    "NONCE_BYTES",
    "UNLOCK_KEY_PREFIX",
    "AESGCMCipher",
    "DataKeyRing",
    "DecryptionFailed",
    "EncryptionError",
    "InvalidUnlockKey",
    "MalformedUnlockKey",
    "RandomBytes",
    "RingCipher",
    "UnlockKey",
    "kek_from_unlock_key",
    "kek_id",
    "new_data_key",
    "new_kek",
    "new_unlock_key",
    "parse_unlock_key",
    "unwrap",
    "wrap",
]

RandomBytes = Callable[[int], bytes]
"""A source of secret random bytes: ``os.urandom`` or a seeded stand-in in tests."""

DATA_KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
UNLOCK_KEY_PREFIX: Final = "SWMKEY-1-"
_UNLOCK_KEY_BYTES: Final = 32
_WRAP_MAGIC: Final = b"SWMW\x01"  # format name and version of a wrapped blob
_KEK_INFO: Final = b"swarmnode autolock key-encryption key v1"
_KEK_ID_INFO: Final = b"swarmnode key-encryption key id v1"
KEK_ID_BYTES: Final = 16


class EncryptionError(Exception):
    """Base of the errors of this module."""


class DecryptionFailed(EncryptionError):
    """A ciphertext did not authenticate: wrong key, or the bytes were damaged or altered."""


class InvalidUnlockKey(EncryptionError):
    """The unlock key is well formed but does not unwrap this manager's keys."""

    def __init__(self, message: str = "invalid unlock key") -> None:
        super().__init__(message)


class MalformedUnlockKey(EncryptionError, ValueError):
    """The text is not an unlock key of the form ``SWMKEY-1-<base64>``."""


def _check_key(key: bytes, what: str) -> None:
    if not isinstance(key, bytes) or len(key) != DATA_KEY_BYTES:
        raise ValueError(f"{what} must be {DATA_KEY_BYTES} bytes")


def new_data_key(random_bytes: RandomBytes = os.urandom) -> bytes:
    """A fresh AES-256 data key."""
    key = random_bytes(DATA_KEY_BYTES)
    _check_key(key, "data key")
    return key


def new_kek(random_bytes: RandomBytes = os.urandom) -> bytes:
    """A fresh random key-encryption key (used when autolock is off)."""
    key = random_bytes(DATA_KEY_BYTES)
    _check_key(key, "key-encryption key")
    return key


class AESGCMCipher:
    """AES-256-GCM under one data key; implements ``actors.raft_node.wal.Cipher``.

    ``associated_data`` (optional) is authenticated with every record, binding the
    ciphertexts to their use (e.g. ``b"wal"`` vs ``b"snapshot"``).
    """

    def __init__(
        self,
        key: bytes,
        *,
        associated_data: bytes = b"",
        random_bytes: RandomBytes = os.urandom,
    ) -> None:
        _check_key(key, "data key")
        self._aead = AESGCM(key)
        self._aad = associated_data
        self._random_bytes = random_bytes

    def __repr__(self) -> str:
        return "AESGCMCipher(<key hidden>)"

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = self._random_bytes(NONCE_BYTES)
        if len(nonce) != NONCE_BYTES:
            raise ValueError(f"random source returned {len(nonce)} bytes, not {NONCE_BYTES}")
        return nonce + self._aead.encrypt(nonce, plaintext, self._aad or None)

    def decrypt(self, ciphertext: bytes) -> bytes:
        if len(ciphertext) < NONCE_BYTES + _TAG_BYTES:
            raise DecryptionFailed(
                f"ciphertext too short ({len(ciphertext)} bytes): not written by this cipher"
            )
        nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, self._aad or None)
        except InvalidTag:
            raise DecryptionFailed(
                "ciphertext does not authenticate: wrong data key, or damaged or altered data"
            ) from None


class DataKeyRing:
    """The data keys of one manager: the first encrypts, every one decrypts.

    Shared by every cipher made with `cipher` (the WAL's, the worker state's), so `begin`
    and `retire` take effect for all of them at once. The keys tuple is swapped whole, so
    readers on other threads see one ring or the other, never half of a change."""

    def __init__(self, current: bytes, retiring: Sequence[bytes] = ()) -> None:
        for key in (current, *retiring):
            _check_key(key, "data key")
        self._keys: tuple[bytes, ...] = _unique((current, *retiring))

    def __repr__(self) -> str:
        return f"DataKeyRing(<{len(self._keys)} keys hidden>)"

    @property
    def current(self) -> bytes:
        return self._keys[0]

    @property
    def retiring(self) -> tuple[bytes, ...]:
        """The older keys some file may still be under."""
        return self._keys[1:]

    @property
    def keys(self) -> tuple[bytes, ...]:
        return self._keys

    def begin(self, key: bytes) -> None:
        """Write under ``key`` from now on; the keys before it still read."""
        _check_key(key, "data key")
        self._keys = _unique((key, *self._keys))

    def retire(self) -> None:
        """Drop every key but the current one (nothing is under them any more)."""
        self._keys = self._keys[:1]

    def cipher(self, *, associated_data: bytes = b"") -> RingCipher:
        return RingCipher(self, associated_data=associated_data)


def _unique(keys: Sequence[bytes]) -> tuple[bytes, ...]:
    return tuple(dict.fromkeys(keys))


class RingCipher:
    """AES-256-GCM over a `DataKeyRing`: encrypts under its current key, decrypts under any
    of its keys (`DecryptionFailed` when none authenticates)."""

    def __init__(
        self,
        ring: DataKeyRing,
        *,
        associated_data: bytes = b"",
        random_bytes: RandomBytes = os.urandom,
    ) -> None:
        self._ring = ring
        self._aad = associated_data
        self._random_bytes = random_bytes
        self._ciphers: dict[bytes, AESGCMCipher] = {}

    def __repr__(self) -> str:
        return "RingCipher(<keys hidden>)"

    def _ciphers_of(self, keys: tuple[bytes, ...]) -> list[AESGCMCipher]:
        """A cipher per key of the ring (built once; a retired key's is dropped)."""
        cache = self._ciphers
        if len(cache) > len(keys) or any(key not in cache for key in keys):
            cache = {
                key: cache.get(key)
                or AESGCMCipher(key, associated_data=self._aad, random_bytes=self._random_bytes)
                for key in keys
            }
            self._ciphers = cache
        return [cache[key] for key in keys]

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._ciphers_of(self._ring.keys)[0].encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        for cipher in self._ciphers_of(self._ring.keys):
            try:
                return cipher.decrypt(ciphertext)
            except DecryptionFailed:
                continue
        raise DecryptionFailed(
            "ciphertext does not authenticate under any data key of this manager"
        )


def wrap(
    kek: bytes, plaintext: bytes, *, label: str, random_bytes: RandomBytes = os.urandom
) -> bytes:
    """``plaintext`` encrypted and authenticated under ``kek``, bound to ``label``."""
    _check_key(kek, "key-encryption key")
    nonce = random_bytes(NONCE_BYTES)
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"random source returned {len(nonce)} bytes, not {NONCE_BYTES}")
    aad = _WRAP_MAGIC + label.encode("utf-8")
    return _WRAP_MAGIC + nonce + AESGCM(kek).encrypt(nonce, plaintext, aad)


def unwrap(kek: bytes, blob: bytes, *, label: str) -> bytes:
    """The plaintext of a `wrap` blob; `DecryptionFailed` for a wrong key, label or damage."""
    _check_key(kek, "key-encryption key")
    if not blob.startswith(_WRAP_MAGIC):
        raise DecryptionFailed(f"{label}: not a wrapped key (unknown format or version)")
    head = len(_WRAP_MAGIC)
    if len(blob) < head + NONCE_BYTES + _TAG_BYTES:
        raise DecryptionFailed(f"{label}: wrapped key is truncated")
    nonce, body = blob[head : head + NONCE_BYTES], blob[head + NONCE_BYTES :]
    try:
        return AESGCM(kek).decrypt(nonce, body, _WRAP_MAGIC + label.encode("utf-8"))
    except InvalidTag:
        raise DecryptionFailed(f"{label}: wrapped key does not unwrap with this key") from None


@dataclass(frozen=True, slots=True)
class UnlockKey:
    """An autolock unlock key. ``str()`` gives ``SWMKEY-1-…``; ``repr`` hides the secret."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, bytes) or len(self.key) != _UNLOCK_KEY_BYTES:
            raise MalformedUnlockKey(f"an unlock key holds {_UNLOCK_KEY_BYTES} bytes")

    def __str__(self) -> str:
        return UNLOCK_KEY_PREFIX + base64.b64encode(self.key).decode("ascii").rstrip("=")


def new_unlock_key(random_bytes: RandomBytes = os.urandom) -> UnlockKey:
    return UnlockKey(random_bytes(_UNLOCK_KEY_BYTES))


def parse_unlock_key(text: str) -> UnlockKey:
    """The unlock key written as ``text`` (surrounding whitespace ignored).

    Errors name what is wrong without echoing the key.
    """
    text = text.strip()
    if not text:
        raise MalformedUnlockKey("unlock key is empty")
    if not text.startswith(UNLOCK_KEY_PREFIX):
        raise MalformedUnlockKey(f"unlock key must start with {UNLOCK_KEY_PREFIX!r}")
    body = text[len(UNLOCK_KEY_PREFIX) :]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedUnlockKey("unlock key: the part after the prefix is not base64") from None
    if len(raw) != _UNLOCK_KEY_BYTES:
        raise MalformedUnlockKey(
            f"unlock key: expected {_UNLOCK_KEY_BYTES} bytes after the prefix, got {len(raw)}"
        )
    return UnlockKey(raw)


def kek_from_unlock_key(unlock_key: UnlockKey) -> bytes:
    """The key-encryption key an unlock key stands for (HKDF-SHA256; the key is random)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=DATA_KEY_BYTES, salt=None, info=_KEK_INFO)
    return hkdf.derive(unlock_key.key)


def kek_id(kek: bytes) -> bytes:
    """A 16-byte name for ``kek`` (HKDF-SHA256 with its own label): stored beside what the
    KEK wraps so a wrong key is told from damaged data. Computing the KEK back from it is as
    hard as guessing the KEK."""
    _check_key(kek, "key-encryption key")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEK_ID_BYTES, salt=None, info=_KEK_ID_INFO)
    return hkdf.derive(kek)
