"""The key store: wrapped secrets on disk, autolock on/off, rotation keeps the data key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from actors.ca.encryption import InvalidUnlockKey, new_data_key, new_unlock_key
from actors.ca.keystore import (
    DATA_KEY,
    NODE_TLS_KEY,
    KeyStore,
    KeyStoreError,
    KeyStoreLocked,
)
from actors.durable import write_durable

TLS_KEY = b"-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n"


def secrets() -> dict[str, bytes]:
    return {DATA_KEY: new_data_key(), NODE_TLS_KEY: TLS_KEY}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_nothing_readable(directory: Path, values: dict[str, bytes]) -> None:
    for path in directory.iterdir():
        data = path.read_bytes()
        for value in values.values():
            assert value not in data, path
        assert b"PRIVATE KEY" not in data


def test_without_autolock_kek_beside_it(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    values = secrets()
    store.create(values)
    assert not store.is_autolocked()
    assert mode(store.kek_path) == 0o600 and mode(store.secrets_path) == 0o600
    assert mode(tmp_path / "keys") == 0o700
    assert store.load() == values
    assert_nothing_readable(tmp_path / "keys", values)


def test_autolock_needs_the_unlock_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    values, unlock = secrets(), new_unlock_key()
    store.create(values, unlock)
    assert store.is_autolocked()
    assert not store.kek_path.exists()
    assert_nothing_readable(tmp_path, values)
    with pytest.raises(KeyStoreLocked, match="locked"):
        store.load()
    with pytest.raises(InvalidUnlockKey, match="invalid unlock key"):
        store.load(new_unlock_key())
    assert store.load(unlock) == values


def test_rotation_keeps_data_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    values, first, second = secrets(), new_unlock_key(), new_unlock_key()
    store.create(values, first)
    before = store.secrets_path.read_bytes()
    store.rewrap(first, second)
    assert store.secrets_path.read_bytes() != before
    with pytest.raises(InvalidUnlockKey):
        store.load(first)
    assert store.load(second)[DATA_KEY] == values[DATA_KEY]


def test_rotation_needs_the_current_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.create(secrets(), new_unlock_key())
    with pytest.raises(InvalidUnlockKey):
        store.rewrap(new_unlock_key(), new_unlock_key())


def test_autolock_on_and_off(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    values, unlock = secrets(), new_unlock_key()
    store.create(values)
    store.rewrap(None, unlock)
    assert store.is_autolocked()
    with pytest.raises(KeyStoreLocked):
        store.load()
    store.rewrap(unlock, None)
    assert not store.is_autolocked()
    assert store.load() == values


def test_crash_while_turning_autolock_off_still_unlocks(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    values, unlock = secrets(), new_unlock_key()
    store.create(values, unlock)
    write_durable(store.kek_path, new_data_key())  # kek written, secrets not yet
    with pytest.raises(KeyStoreLocked):
        store.load()
    assert store.load(unlock) == values


def test_update_replaces_secrets_under_same_wrapping(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    values, unlock = secrets(), new_unlock_key()
    store.create(values, unlock)
    renewed = dict(values, **{NODE_TLS_KEY: b"new tls key"})
    store.update(renewed, unlock)
    assert store.load(unlock) == renewed


def test_missing_and_damaged(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    with pytest.raises(KeyStoreError, match="no key store"):
        store.load()
    store.create(secrets())
    write_durable(store.kek_path, b"short")
    with pytest.raises(KeyStoreError, match="32-byte"):
        store.load()
