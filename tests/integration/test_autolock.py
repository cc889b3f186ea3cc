"""Encryption at rest, autolock and --force-new-cluster on one real manager process.

Real ``swarm-node`` and ``swarmctl`` processes, a tmp state dir, a free port; every wait
is a ``poll`` with a deadline.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from zmq.utils import z85

from actors.ca.encryption import parse_unlock_key
from actors.ca.keystore import CURVE_SECRET, DATA_KEY, NODE_TLS_KEY, KeyStore
from actors.node.startup.keys import KEYSTORE_DIR, NodeKeys
from actors.raft_node.wal import list_segments, scan_segment
from tests.support.at_rest import files_under
from tests.support.swarm import (
    DEADLINE,
    ROOT,
    Swarm,
    SwarmNode,
    free_port,
    free_port_pair,
    poll,
)

SERVICE = "zebracorn-ledger"
ENV_VALUE = "PLUMBAGO_7a1c"
LOCKED_LINE = "swarmctl: this node is locked: run swarmctl unlock"


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def unlock(node: SwarmNode, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.ctl", "--socket", str(node.socket), "unlock"],
        cwd=ROOT,
        input=key + "\n",
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def create_service(
    node: SwarmNode, name: str = SERVICE, env: str = ENV_VALUE, replicas: int = 2
) -> None:
    node.ctl_json(
        "service", "create", "--name", name, "--replicas", str(replicas), "--env",
        f"MARKER={env}", "--detach", "busybox", "sleep", "300",
    )  # fmt: skip
    poll(lambda: len(node.running(name)) == replicas, f"{name}: {replicas} running")


def unlock_key(node: SwarmNode, *extra: str) -> str:
    result = node.ctl("cluster", "unlock-key", "-q", *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def wait_locked(node: SwarmNode) -> None:
    def locked() -> bool:
        node._check_alive()
        result = node.ctl("service", "ls")
        return result.returncode != 0 and result.stderr.strip() == LOCKED_LINE

    poll(locked, f"{node.name}: locked")


def restart(node: SwarmNode) -> None:
    assert node.terminate() == 0
    node.start(wait=False)


def key_forms(pem: bytes) -> list[bytes]:
    """A private key as PEM, PKCS#8 DER and its raw 32-byte scalar."""
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return [pem, der, key.private_numbers().private_value.to_bytes(32, "big")]


def ca_key_pem(raft_dir: Path, keys: NodeKeys, ca_cert: bytes) -> bytes:
    """The CA private key, read from the decrypted Raft log (the Cluster object)."""
    cipher = keys.raft_cipher()
    public = x509.load_pem_x509_certificate(ca_cert).public_key().public_numbers()  # type: ignore[union-attr]
    pem_re = re.compile(rb"-----BEGIN PRIVATE KEY-----\n.*?-----END PRIVATE KEY-----\n", re.S)
    for _seq, _first, path in list_segments(raft_dir):
        for _offset, payload in scan_segment(path).records:
            for pem in pem_re.findall(cipher.decrypt(payload)):
                key = serialization.load_pem_private_key(pem, password=None)
                if key.public_key().public_numbers() == public:  # type: ignore[union-attr]
                    return bytes(pem)
    raise AssertionError(f"no CA key in the Raft log of {raft_dir}")


def assert_unreadable(node: SwarmNode, key: str) -> None:
    """No file anywhere under ``node``'s state dir holds, in the clear, the service's name
    or env, the unlock key, the data key, the node's CURVE secret (Z85 or raw), its
    certificate key or the CA key (PEM, DER or raw scalar); every private key of the node
    is wrapped under the unlock key (no KEK file, no key files)."""
    state = node.state_dir
    assert files_under(state / "raft"), f"{node.name}: no Raft data"
    keystore = KeyStore(state / KEYSTORE_DIR)
    assert not keystore.kek_path.exists()  # autolocked: no KEK on disk
    unlock = parse_unlock_key(key)
    secrets = keystore.load(unlock)
    assert {DATA_KEY, CURVE_SECRET, NODE_TLS_KEY} <= set(secrets)
    assert not (state / "keys" / "curve.key").exists()
    assert not (state / "certificates" / "node.key").exists()
    assert not (state / "cluster_init.json").exists()
    ca_pem = ca_key_pem(state / "raft", NodeKeys(keystore, secrets, unlock),
                        (state / "certificates" / "ca.crt").read_bytes())  # fmt: skip
    needles = {
        "service name": SERVICE.encode(),
        "service env": ENV_VALUE.encode(),
        "unlock key": key.encode(),
        "unlock key (raw)": unlock.key,
        "data key": secrets[DATA_KEY],
        "CURVE secret (Z85)": secrets[CURVE_SECRET],
        "CURVE secret (raw)": z85.decode(secrets[CURVE_SECRET]),
    }
    for what, pem in (("certificate key", secrets[NODE_TLS_KEY]), ("CA key", ca_pem)):
        for form, value in zip(("PEM", "DER", "raw"), key_forms(pem), strict=True):
            needles[f"{what} ({form})"] = value
    files = files_under(state)
    assert any(p.parent.name == "worker" for p in files), f"{node.name}: no worker state"
    for path in files:
        content = path.read_bytes()
        for what, needle in needles.items():
            assert needle not in content, f"{path} holds the {what}"
    # nor do the node's logs hold the unlock key
    for log_path in node.log_dir.glob(f"{node.name}.*.log"):
        assert key not in log_path.read_text()


def test_raft_data_and_keys_are_unreadable_on_disk(swarm: Swarm) -> None:
    node = swarm.start_node("m1", extra=("--autolock",))
    node.wait_ready()
    key = unlock_key(node)
    assert key.startswith("SWMKEY-1-")
    # a manager that joins an autolocked cluster has its own data key, wrapped under the
    # cluster's unlock key once its store holds the Cluster object
    joined = swarm.join("m2", node, node.join_token("manager"))
    swarm.wait_cluster(2, 0)
    create_service(node)
    poll(lambda: [s["name"] for s in joined.ctl_json("service", "ls")] == [SERVICE], "m2: it")
    joined_keys = KeyStore(joined.state_dir / KEYSTORE_DIR)
    poll(joined_keys.is_autolocked, "m2: keys wrapped under the unlock key")
    node_keys = KeyStore(node.state_dir / KEYSTORE_DIR).load(parse_unlock_key(key))
    assert joined_keys.load(parse_unlock_key(key))[DATA_KEY] != node_keys[DATA_KEY]
    # restarted, the joined manager is locked too, until unlocked with the cluster's key
    restart(joined)
    wait_locked(joined)
    assert unlock(joined, key).returncode == 0
    joined.wait_started()
    poll(lambda: len(joined.ctl_json("node", "ls")) == 2, "m2: unlocked and serving")
    assert joined.terminate() == 0
    assert node.terminate() == 0
    assert_unreadable(node, key)
    assert_unreadable(joined, key)


def test_locked_manager_waits_for_the_right_unlock_key(swarm: Swarm) -> None:
    node = swarm.start_node("m1", extra=("--autolock",))
    node.wait_ready()
    create_service(node)
    key = unlock_key(node)
    restart(node)
    wait_locked(node)
    assert_unreadable(node, key)  # a locked manager's state dir, while it waits
    version = node.ctl("version")
    assert version.returncode == 0  # the control endpoint answers while locked
    wrong = unlock(node, str(parse_unlock_key("SWMKEY-1-" + "A" * 43)))
    assert wrong.returncode != 0
    assert wrong.stderr.strip() == "swarmctl: invalid unlock key"
    wait_locked(node)  # still locked
    right = unlock(node, key)
    assert right.returncode == 0, right.stderr
    node.wait_started()
    node.wait_ready()
    poll(lambda: len(node.running(SERVICE)) == 2, f"{SERVICE}: 2 running after unlock")


def test_unlock_returns_once_the_manager_serves_again(swarm: Swarm) -> None:
    """``swarmctl unlock && swarmctl node ls`` failed: right after the unlock, the locked
    endpoint still answered "this node is locked", then the socket was gone ("is
    swarm-node running?") until the unlocked node bound it again."""
    node = swarm.start_node("m1", extra=("--autolock",))
    node.wait_ready()
    key = unlock_key(node)
    restart(node)
    wait_locked(node)
    assert unlock(node, key).returncode == 0
    listed = node.ctl("node", "ls")
    assert listed.returncode == 0, listed.stderr


@pytest.mark.parametrize("taken", ["hello", "engine"], ids=["join-hello port", "Engine API port"])
def test_an_unlock_is_refused_naming_a_port_taken_while_locked(swarm: Swarm, taken: str) -> None:
    """A port the manager binds as it starts, taken while it was locked, left ``swarmctl
    unlock`` reporting success (or, later, that the node did not come back) for a node
    about to stop. The unlock is refused naming the port and what it is for, the node stays
    locked, and once the port is free the next unlock succeeds."""
    engine_port = free_port()
    node = swarm.start_node(
        "m1", extra=("--autolock", "--engine-api", f"tcp://127.0.0.1:{engine_port}")
    )
    node.wait_ready()
    key = unlock_key(node)
    restart(node)
    wait_locked(node)
    port = node.port + 1 if taken == "hello" else engine_port
    what = "the join-hello endpoint" if taken == "hello" else "the Engine API (--engine-api)"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        refused = unlock(node, key)
        assert refused.returncode == 1
        assert what in refused.stderr and f"127.0.0.1:{port}" in refused.stderr
        assert "in use" in refused.stderr and "stays locked" in refused.stderr
        wait_locked(node)  # alive, and still locked
    assert unlock(node, key).returncode == 0
    node.wait_started()
    listed = node.ctl("node", "ls")
    assert listed.returncode == 0, listed.stderr
    with urllib.request.urlopen(f"http://127.0.0.1:{engine_port}/_ping", timeout=10) as reply:
        assert reply.status == 200


def test_autolock_on_off_and_rotation(swarm: Swarm) -> None:
    node = swarm.start_node("m1")
    node.wait_ready()
    refused = node.ctl("cluster", "unlock-key")
    assert refused.returncode != 0 and "no unlock key is set" in refused.stderr
    on = node.ctl("cluster", "update", "--autolock=true")
    assert on.returncode == 0, on.stderr
    assert "SWMKEY-1-" in on.stdout
    old = unlock_key(node)
    new = unlock_key(node, "--rotate")
    assert new != old and unlock_key(node) == new
    keystore = KeyStore(node.state_dir / KEYSTORE_DIR)
    poll(lambda: keystore.load(parse_unlock_key(new)), "keys rewrapped under the new key")
    create_service(node)
    restart(node)
    wait_locked(node)
    stale = unlock(node, old)
    assert stale.returncode != 0 and stale.stderr.strip() == "swarmctl: invalid unlock key"
    assert unlock(node, new).returncode == 0
    node.wait_started()
    node.wait_ready()
    off = node.ctl("cluster", "update", "--autolock=false")
    assert off.returncode == 0, off.stderr
    poll(lambda: not keystore.is_autolocked(), "keys wrapped under a KEK file again")
    assert node.terminate() == 0
    node.start()  # not locked any more
    node.wait_ready()
    poll(lambda: len(node.running(SERVICE)) == 2, f"{SERVICE}: 2 running")


def test_force_new_cluster_keeps_the_services(swarm: Swarm) -> None:
    node = swarm.start_node("m1")
    node.wait_ready()
    create_service(node)
    assert node.terminate() == 0
    node.extra = (*node.extra, "--force-new-cluster")
    node.start()
    node.wait_ready()
    assert any(e.get("event") == "raft.force_new_cluster" for e in node.log_events())
    poll(lambda: len(node.running(SERVICE)) == 2, f"{SERVICE}: 2 running")
    services = node.ctl_json("service", "ls")
    assert [s["name"] for s in services] == [SERVICE]


def test_a_state_dir_without_encryption_at_rest_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "old"
    (state / "raft").mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "cli.node_main", "--state-dir", str(state),
         "--listen-remote-api", f"127.0.0.1:{free_port_pair()}", "--executor", "process"],
        cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE,
    )  # fmt: skip
    assert result.returncode == 1
    assert "without encryption at rest" in result.stderr.splitlines()[-1]
