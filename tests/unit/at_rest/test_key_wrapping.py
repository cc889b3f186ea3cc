"""A manager's private keys at rest: which key wraps what, moves in and out of the key
store with autolock, and clear errors for a wrong unlock key or a damaged file. Tmp files
only."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from zmq.utils import z85

from actors.ca.encryption import (
    InvalidUnlockKey,
    UnlockKey,
    kek_from_unlock_key,
    kek_id,
    new_data_key,
    new_unlock_key,
    wrap,
)
from actors.ca.keystore import (
    CURVE_SECRET,
    DATA_KEY,
    INITIAL_CLUSTER,
    NODE_TLS_KEY,
    KeyStore,
    KeyStoreError,
    KeyStoreLocked,
)
from actors.ca.node_certs import load_node_certs
from actors.ca.node_identity import IdentityError
from actors.durable import write_durable
from actors.node.startup.at_rest import open_at_rest
from actors.node.startup.keys import (
    KEYSTORE_DIR,
    LockedKeys,
    NodeKeys,
    PrivateKeyFiles,
    open_node_keys,
)
from actors.node.startup.security import INIT_FILE, encode_initial_cluster, prepare_node
from actors.worker.state import WorkerStateFile
from api.objects import Task

STOPPED = threading.Event()


def every_file(state: Path) -> list[Path]:
    return [p for p in state.rglob("*") if p.is_file()]


def assert_absent(state: Path, needles: dict[str, bytes]) -> None:
    for path in every_file(state):
        data = path.read_bytes()
        for what, needle in needles.items():
            assert needle not in data, f"{path} holds the {what}"


def init(state: Path, unlock: UnlockKey | None) -> NodeKeys:
    """A cluster init as ``swarm-node`` does it: key store first, then the node."""
    keys = open_node_keys(state, new_unlock_key=unlock)
    assert isinstance(keys, NodeKeys)
    prepare_node(state, hostname="m1", advertise_addr="127.0.0.1:1", keys=keys)
    return keys


def private_needles(keys: NodeKeys, state: Path) -> dict[str, bytes]:
    certs = load_node_certs(state, now=time.time(), vault=keys)
    ca = keys.secrets[INITIAL_CLUSTER]
    ca_key = json.loads(ca)["ca_key"].encode()
    return {
        "CURVE secret": certs.keypair.secret,
        "CURVE secret (raw)": z85.decode(certs.keypair.secret),
        "certificate key": keys.secrets.get(NODE_TLS_KEY)
        or (state / "certificates" / "node.key").read_bytes(),
        "CA key": ca_key,
        "data key": keys.secrets[DATA_KEY],
    }


# -- the key store file: key ids tell a wrong key from damage ---------------------------


def test_wrong_unlock_key_and_damage_are_told_apart(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "ks")
    key = new_unlock_key()
    store.create({DATA_KEY: new_data_key()}, unlock_key=key)
    with pytest.raises(KeyStoreLocked):
        store.load(None)
    with pytest.raises(InvalidUnlockKey, match="invalid unlock key"):
        store.load(new_unlock_key())
    data = bytearray(store.secrets_path.read_bytes())
    data[-1] ^= 1
    store.secrets_path.write_bytes(bytes(data))
    with pytest.raises(KeyStoreError, match=r"damaged: the unlock key is right"):
        store.load(key)


def test_damaged_files_are_named(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "ks")
    store.create({DATA_KEY: new_data_key()})
    good = store.secrets_path.read_bytes()
    store.secrets_path.write_bytes(b"garbage")
    with pytest.raises(KeyStoreError, match=r"secrets\.wrapped is damaged: not a swarmnode key"):
        store.load()
    store.secrets_path.write_bytes(good[:10])
    with pytest.raises(KeyStoreError, match="is damaged: truncated"):
        store.load()
    store.secrets_path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(KeyStoreError, match=r"does not authenticate under .*kek"):
        store.load()
    store.secrets_path.write_bytes(good)
    store.kek_path.write_bytes(b"short")
    with pytest.raises(KeyStoreError, match="kek is damaged: not a 32-byte key"):
        store.load()


def test_a_file_written_before_key_ids_is_still_read(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "ks")
    key = new_unlock_key()
    tmp_path.joinpath("ks").mkdir()
    blob = json.dumps({DATA_KEY: "QUFB" * 8}).encode()  # base64 of 24 bytes, not checked
    write_durable(
        store.secrets_path,
        wrap(kek_from_unlock_key(key), blob, label="swarmnode manager secrets"),
    )
    assert store.is_autolocked()
    assert DATA_KEY in store.load(key)
    with pytest.raises(InvalidUnlockKey):
        store.load(new_unlock_key())
    store.update({DATA_KEY: b"x" * 32}, key)  # rewritten with a key id
    assert store.secrets_path.read_bytes()[5:21] == kek_id(kek_from_unlock_key(key))


def test_crash_while_locking_leaves_a_kek_file_that_does_not_open_it(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "ks")
    store.create({DATA_KEY: new_data_key()})
    kek = store.kek_path.read_bytes()
    key = new_unlock_key()
    store.rewrap(None, key)
    write_durable(store.kek_path, kek)  # as if the crash came before its removal
    assert store.is_autolocked()
    with pytest.raises(KeyStoreLocked):
        store.load(None)
    assert DATA_KEY in store.load(key)


# -- the node's private keys follow autolock --------------------------------------------


def test_init_with_autolock_writes_no_private_key_in_the_clear(tmp_path: Path) -> None:
    state = tmp_path / "m1"
    key = new_unlock_key()
    keys = init(state, key)
    assert {DATA_KEY, CURVE_SECRET, NODE_TLS_KEY, INITIAL_CLUSTER} <= set(keys.secrets)
    assert not (state / "keys" / "curve.key").exists()
    assert not (state / "certificates" / "node.key").exists()
    assert not (state / INIT_FILE).exists()
    needles = private_needles(keys, state)
    needles["unlock key"] = str(key).encode()
    assert_absent(state, needles)
    # a restart finds it locked; unlocked, the same node comes back
    locked = open_node_keys(state)
    assert isinstance(locked, LockedKeys)
    with pytest.raises(IdentityError, match="locked: it must be unlocked first"):
        prepare_node(state, hostname="m1", advertise_addr="127.0.0.1:1")
    again = prepare_node(state, hostname="m1", advertise_addr="x:1", keys=locked.unlock(str(key)))
    assert again.mode == "resume" and again.initial_cluster.cluster is not None
    assert again.certs.keypair.secret == needles["CURVE secret"]
    again.initial_cluster.committed()
    assert INITIAL_CLUSTER not in KeyStore(state / KEYSTORE_DIR).load(key)


def test_without_autolock_keys_are_files_and_the_ca_key_is_wrapped(tmp_path: Path) -> None:
    state = tmp_path / "m1"
    keys = init(state, None)
    assert set(keys.secrets) == {DATA_KEY, INITIAL_CLUSTER}
    for path in (state / "keys" / "curve.key", state / "certificates" / "node.key"):
        assert path.stat().st_mode & 0o777 == 0o600
    ca_key = json.loads(keys.secrets[INITIAL_CLUSTER])["ca_key"].encode()
    assert_absent(state, {"CA key": ca_key})


def test_autolock_on_moves_keys_in_and_off_moves_them_out(tmp_path: Path) -> None:
    state = tmp_path / "m1"
    keys = init(state, None)
    files = PrivateKeyFiles.of(state)
    before = files.read()
    key = new_unlock_key()
    assert keys.rewrap(key)
    assert not files.curve.exists() and not files.tls.exists()
    assert not KeyStore(state / KEYSTORE_DIR).kek_path.exists()
    assert_absent(state, {"CURVE secret": before[CURVE_SECRET], "TLS key": before[NODE_TLS_KEY]})
    rotated = new_unlock_key()
    assert keys.rewrap(rotated)
    with pytest.raises(InvalidUnlockKey):
        KeyStore(state / KEYSTORE_DIR).load(key)
    assert KeyStore(state / KEYSTORE_DIR).load(rotated)[CURVE_SECRET] == before[CURVE_SECRET]
    assert keys.rewrap(None)
    assert files.read() == before
    assert set(keys.secrets) == {DATA_KEY, INITIAL_CLUSTER}
    assert not keys.rewrap(None)
    load_node_certs(state, now=time.time())  # files again: no vault needed


def test_a_renewed_key_goes_where_keys_live_now(tmp_path: Path) -> None:
    state = tmp_path / "m1"
    keys = init(state, new_unlock_key())
    written: list[bytes] = []
    keys.put(NODE_TLS_KEY, b"new key", written.append)
    assert written == [] and keys.get(NODE_TLS_KEY) == b"new key"
    assert KeyStore(state / KEYSTORE_DIR).load(keys.unlock_key)[NODE_TLS_KEY] == b"new key"
    keys.rewrap(None)
    keys.put(NODE_TLS_KEY, b"newer", written.append)
    assert written == [b"newer"] and keys.get(NODE_TLS_KEY) is None


def test_unlock_removes_files_a_crash_left_behind(tmp_path: Path) -> None:
    state = tmp_path / "m1"
    keys = init(state, None)
    files = PrivateKeyFiles.of(state)
    before = files.read()
    key = new_unlock_key()
    keys.store.rewrap(None, key, {**keys.secrets, **before})  # crash before files go
    assert files.curve.exists()
    locked = open_node_keys(state)
    assert isinstance(locked, LockedKeys)
    locked.unlock(str(key))
    assert not files.curve.exists() and not files.tls.exists()


def test_a_legacy_init_file_moves_into_the_key_store(tmp_path: Path) -> None:
    state = tmp_path / "m1"
    keys = init(state, None)
    doc = keys.secrets[INITIAL_CLUSTER]
    keys.remove_secret(INITIAL_CLUSTER)
    write_durable(state / INIT_FILE, doc)
    again = prepare_node(state, hostname="m1", advertise_addr="x:1")
    assert again.initial_cluster.cluster is not None
    assert encode_initial_cluster(again.initial_cluster.cluster) == doc
    assert not (state / INIT_FILE).exists()
    assert again.keys is not None and again.keys.secrets[INITIAL_CLUSTER] == doc


def test_open_at_rest_creates_only_at_init(tmp_path: Path) -> None:
    kwargs = {"stop": STOPPED, "version": {}}
    assert open_at_rest(tmp_path / "w", tmp_path / "s", autolock=True, init=False, **kwargs) is None
    keys = open_at_rest(tmp_path / "m", tmp_path / "s", autolock=True, init=True, **kwargs)
    assert keys is not None and keys.autolocked


# -- a manager's worker state ------------------------------------------------------------


def test_worker_state_is_encrypted_with_a_cipher(tmp_path: Path) -> None:
    keys = open_node_keys(tmp_path)
    assert isinstance(keys, NodeKeys)
    task = Task(id="t1", service_id="zebracorn")
    plain = WorkerStateFile(tmp_path / "worker")
    plain.save({"t1": task}, {})
    assert b"zebracorn" in plain.path.read_bytes()
    sealed = WorkerStateFile(tmp_path / "worker", keys.worker_state_cipher())
    assert sealed.load().tasks == {"t1": task}  # a plain file is still read
    sealed.save({"t1": task}, {})
    assert b"zebracorn" not in sealed.path.read_bytes()
    assert sealed.load().tasks == {"t1": task}
