"""A manager's secrets at rest: named keys wrapped under a key-encryption key (KEK).

Layout (directory mode 0700, files mode 0600, every write durable: `actors.durable`):
    DIR/secrets.wrapped   ``SWMK\x01``, the 16-byte id of the KEK (`kek_id`), then the named
                          secrets (data key; with autolock also the node TLS key, the CURVE
                          secret and the cluster at init) as one AES-256-GCM blob under the KEK
    DIR/kek               the random KEK, present only when autolock is off

Reading tells its failures apart: a file that is not a key store file or does not
authenticate under the KEK its id names is *damaged* (`KeyStoreError` naming the file); an
unlock key whose KEK has another id is *invalid* (`InvalidUnlockKey`); no unlock key for a
file under one is *locked* (`KeyStoreLocked`). Files written before key ids (the blob
alone) are still read, with a wrong key and damage both reported as a wrong key.

With autolock the KEK is derived from the operator's unlock key and is nowhere on disk, so
nothing in DIR can be read without it. Switching autolock on writes the secrets under the
new KEK first and then deletes the ``kek`` file; switching it off writes the ``kek`` file
first. Either crash window leaves the secrets readable with the key the operator had.
`rewrap` changes the wrapping and may replace the secrets in the same atomic write: a
rotated data key (`DATA_KEY`, with the keys it replaces in `RETIRING_DATA_KEYS` until every
file is rewritten under it, `actors.node.startup.rekey`) is never stored under the old wrapping.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from actors.ca.encryption import (
    DATA_KEY_BYTES,
    KEK_ID_BYTES,
    DecryptionFailed,
    EncryptionError,
    InvalidUnlockKey,
    RandomBytes,
    UnlockKey,
    kek_from_unlock_key,
    kek_id,
    new_kek,
    unwrap,
    wrap,
)
from actors.ca.node_identity import CURVE_SECRET
from actors.durable import DIR_MODE, fsync_dir, write_durable

__all__ = [
    "CURVE_SECRET",
    "DATA_KEY",
    "INITIAL_CLUSTER",
    "NODE_TLS_KEY",
    "RETIRING_DATA_KEYS",
    "KeyStore",
    "KeyStoreError",
    "KeyStoreLocked",
    "read_private_file",
]

DATA_KEY: Final = "raft-data-key"
# the data keys a rotation replaces, concatenated (32 bytes each), while files are under them
RETIRING_DATA_KEYS: Final = "raft-data-keys-retiring"
NODE_TLS_KEY: Final = "node-tls-key"
INITIAL_CLUSTER: Final = "initial-cluster"

SECRETS_FILE: Final = "secrets.wrapped"
KEK_FILE: Final = "kek"
_LABEL: Final = "swarmnode manager secrets"
_FRAME_MAGIC: Final = b"SWMK\x01"
_LEGACY_MAGIC: Final = b"SWMW\x01"  # a bare `wrap` blob: written before key ids


class KeyStoreError(EncryptionError):
    """The key store is missing, unreadable or damaged."""


class KeyStoreLocked(KeyStoreError):
    """Autolock is on and no (valid) unlock key was given."""

    def __init__(self) -> None:
        super().__init__("this manager is locked: give the unlock key (swarmctl unlock)")


def read_private_file(path: Path) -> bytes:
    return path.read_bytes()


def _encode(secrets: Mapping[str, bytes]) -> bytes:
    return json.dumps(
        {name: base64.b64encode(value).decode("ascii") for name, value in sorted(secrets.items())}
    ).encode("utf-8")


def _unframe(path: Path, data: bytes) -> tuple[bytes | None, bytes]:
    """(the KEK id, or None for a file written before key ids; the wrapped blob)."""
    if data.startswith(_FRAME_MAGIC):
        head = len(_FRAME_MAGIC)
        if len(data) < head + KEK_ID_BYTES:
            raise KeyStoreError(f"{path} is damaged: truncated ({len(data)} bytes)")
        return data[head : head + KEK_ID_BYTES], data[head + KEK_ID_BYTES :]
    if data.startswith(_LEGACY_MAGIC):
        return None, data
    raise KeyStoreError(f"{path} is damaged: not a swarmnode key store file")


def _decode(blob: bytes) -> dict[str, bytes]:
    try:
        raw = json.loads(blob)
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        return {str(k): base64.b64decode(v, validate=True) for k, v in raw.items()}
    except (ValueError, TypeError, binascii.Error) as exc:
        raise KeyStoreError(f"unwrapped secrets are malformed: {exc}") from None


class KeyStore:
    """The wrapped secrets of one manager in ``directory``."""

    def __init__(self, directory: Path, *, random_bytes: RandomBytes = os.urandom) -> None:
        self._dir = directory
        self._random_bytes = random_bytes

    @property
    def secrets_path(self) -> Path:
        return self._dir / SECRETS_FILE

    @property
    def kek_path(self) -> Path:
        return self._dir / KEK_FILE

    def exists(self) -> bool:
        return self.secrets_path.exists()

    def is_autolocked(self) -> bool:
        """Whether reading the secrets needs the operator's unlock key."""
        if not self.exists():
            return False
        kek = self._kek_file()
        if kek is None:
            return True
        kid, _ = _unframe(self.secrets_path, read_private_file(self.secrets_path))
        return kid is not None and kid != kek_id(kek)

    def create(self, secrets: Mapping[str, bytes], unlock_key: UnlockKey | None = None) -> None:
        """Store ``secrets`` (replacing any), autolocked when ``unlock_key`` is given."""
        self._dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self._dir, DIR_MODE)
        if unlock_key is None:
            kek = new_kek(self._random_bytes)
            write_durable(self.kek_path, kek)
            self._write(secrets, kek)
        else:
            self._write(secrets, kek_from_unlock_key(unlock_key))
            self._remove_kek_file()

    def load(self, unlock_key: UnlockKey | None = None) -> dict[str, bytes]:
        """The secrets; `KeyStoreLocked` without the needed unlock key, `InvalidUnlockKey`
        with a wrong one, `KeyStoreError` naming the file when it is damaged."""
        return self._unlock(unlock_key)[0]

    def _unlock(self, unlock_key: UnlockKey | None) -> tuple[dict[str, bytes], bytes]:
        """The secrets and the KEK that opened them (see `load`)."""
        if not self.exists():
            raise KeyStoreError(f"no key store in {self._dir}")
        path = self.secrets_path
        kid, blob = _unframe(path, read_private_file(path))
        kek = self._kek_file()
        if kek is not None and (kid is None or kid == kek_id(kek)):
            try:
                return self._open(kek, blob), kek
            except DecryptionFailed:
                if kid is not None:
                    raise KeyStoreError(
                        f"{path} is damaged: it does not authenticate under {self.kek_path}"
                    ) from None
            # a file without key id: maybe already under the unlock key (see the docstring)
        # the secrets are under an unlock key (with a KEK file too: a crash while switching
        # autolock on, the secrets already written under the unlock key)
        if unlock_key is None:
            raise KeyStoreLocked()
        unlock_kek = kek_from_unlock_key(unlock_key)
        if kid is not None and kid != kek_id(unlock_kek):
            raise InvalidUnlockKey()
        try:
            return self._open(unlock_kek, blob), unlock_kek
        except DecryptionFailed:
            if kid is None:
                raise InvalidUnlockKey() from None
            raise KeyStoreError(
                f"{path} is damaged: the unlock key is right but the file does not authenticate"
            ) from None

    def _open(self, kek: bytes, blob: bytes) -> dict[str, bytes]:
        try:
            return _decode(unwrap(kek, blob, label=_LABEL))
        except KeyStoreError as exc:
            raise KeyStoreError(f"{self.secrets_path} is damaged: {exc}") from None

    def _kek_file(self) -> bytes | None:
        try:
            kek = read_private_file(self.kek_path)
        except FileNotFoundError:
            return None
        if len(kek) != DATA_KEY_BYTES:
            raise KeyStoreError(f"{self.kek_path} is damaged: not a {DATA_KEY_BYTES}-byte key")
        return kek

    def update(self, secrets: Mapping[str, bytes], unlock_key: UnlockKey | None = None) -> None:
        """Replace the stored secrets under the current wrapping (e.g. a renewed TLS key)."""
        _, kek = self._unlock(unlock_key)  # proves the caller holds the current key
        self._write(secrets, kek)

    def rewrap(
        self,
        current: UnlockKey | None,
        new: UnlockKey | None,
        secrets: Mapping[str, bytes] | None = None,
    ) -> None:
        """Change the wrapping: autolock on (``new`` given), off (``new`` None) or a rotated
        unlock key. The secrets stay the same unless ``secrets`` replaces them (the node's
        private keys move in or out with autolock)."""
        stored = self.load(current)
        if secrets is None:
            secrets = stored
        if new is None:
            kek = new_kek(self._random_bytes)
            write_durable(self.kek_path, kek)  # first: see the module docstring
            self._write(secrets, kek)
        else:
            self._write(secrets, kek_from_unlock_key(new))
            self._remove_kek_file()

    def _write(self, secrets: Mapping[str, bytes], kek: bytes) -> None:
        blob = wrap(kek, _encode(secrets), label=_LABEL, random_bytes=self._random_bytes)
        write_durable(self.secrets_path, _FRAME_MAGIC + kek_id(kek) + blob)

    def _remove_kek_file(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.kek_path.unlink()
            fsync_dir(self._dir)
