"""AES-GCM data-key cipher, key wrapping and unlock keys."""

from __future__ import annotations

import os

import pytest

from actors.ca.encryption import (
    NONCE_BYTES,
    AESGCMCipher,
    DecryptionFailed,
    MalformedUnlockKey,
    UnlockKey,
    kek_from_unlock_key,
    new_data_key,
    new_unlock_key,
    parse_unlock_key,
    unwrap,
    wrap,
)
from actors.raft_node.wal import Cipher

PLAINTEXT = b"raft entry: service web replicas=3 " * 4


def test_round_trip_and_protocol() -> None:
    cipher: Cipher = AESGCMCipher(new_data_key())
    assert cipher.decrypt(cipher.encrypt(PLAINTEXT)) == PLAINTEXT
    assert cipher.decrypt(cipher.encrypt(b"")) == b""


def test_no_plaintext_and_fresh_nonce_each_call() -> None:
    cipher = AESGCMCipher(new_data_key())
    a, b = cipher.encrypt(PLAINTEXT), cipher.encrypt(PLAINTEXT)
    assert b"raft entry" not in a
    assert a[:NONCE_BYTES] != b[:NONCE_BYTES] and a != b
    assert len(a) == NONCE_BYTES + len(PLAINTEXT) + 16


def test_tamper_detected() -> None:
    cipher = AESGCMCipher(new_data_key())
    blob = bytearray(cipher.encrypt(PLAINTEXT))
    for index in (0, NONCE_BYTES, len(blob) - 1):
        damaged = bytearray(blob)
        damaged[index] ^= 1
        with pytest.raises(DecryptionFailed, match="does not authenticate"):
            cipher.decrypt(bytes(damaged))
    with pytest.raises(DecryptionFailed, match="too short"):
        cipher.decrypt(bytes(blob[:20]))


def test_wrong_key_and_wrong_associated_data_refused() -> None:
    key = new_data_key()
    blob = AESGCMCipher(key, associated_data=b"wal").encrypt(PLAINTEXT)
    with pytest.raises(DecryptionFailed):
        AESGCMCipher(new_data_key(), associated_data=b"wal").decrypt(blob)
    with pytest.raises(DecryptionFailed):
        AESGCMCipher(key, associated_data=b"snapshot").decrypt(blob)


def test_injected_randomness_is_used() -> None:
    counter = iter(range(1000))

    def fake(n: int) -> bytes:
        return bytes([next(counter)]) * n

    key = new_data_key(fake)
    assert key == b"\x00" * 32
    blob = AESGCMCipher(key, random_bytes=fake).encrypt(b"x")
    assert blob[:NONCE_BYTES] == b"\x01" * NONCE_BYTES


def test_bad_key_length_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        AESGCMCipher(b"short")


def test_wrap_binds_key_and_label() -> None:
    kek, secret = os.urandom(32), os.urandom(32)
    blob = wrap(kek, secret, label="raft-data-key")
    assert secret not in blob
    assert unwrap(kek, blob, label="raft-data-key") == secret
    with pytest.raises(DecryptionFailed, match="does not unwrap"):
        unwrap(os.urandom(32), blob, label="raft-data-key")
    with pytest.raises(DecryptionFailed):
        unwrap(kek, blob, label="node-tls-key")
    with pytest.raises(DecryptionFailed, match="not a wrapped key"):
        unwrap(kek, b"junk" * 10, label="x")


def test_unlock_key_format_round_trip() -> None:
    key = new_unlock_key()
    text = str(key)
    assert text.startswith("SWMKEY-1-")
    assert "=" not in text
    assert parse_unlock_key(text + "\n") == key
    assert key.key.hex() not in repr(key)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("SWMTKN-1-abc", "must start with 'SWMKEY-1-'"),
        ("SWMKEY-1-@@@@", "not base64"),
        ("SWMKEY-1-" + "QUFB", "expected 32 bytes"),
    ],
)
def test_unlock_key_parse_errors(text: str, message: str) -> None:
    with pytest.raises(MalformedUnlockKey, match=message):
        parse_unlock_key(text)


def test_kek_derivation_is_deterministic_and_key_specific() -> None:
    a, b = UnlockKey(b"a" * 32), UnlockKey(b"b" * 32)
    assert kek_from_unlock_key(a) == kek_from_unlock_key(UnlockKey(b"a" * 32))
    assert kek_from_unlock_key(a) != kek_from_unlock_key(b)
    assert kek_from_unlock_key(a) != a.key
