"""``control.cluster.join_token`` and ``control.cluster.update`` over a local store, and the
node's init files (actors/node/startup/security.py)."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from pathlib import Path

import pytest

from actors.ca.issuance import JoinRefused
from actors.ca.node_certs import load_node_certs
from actors.ca.tokens import parse_join_token, rotate_join_token
from actors.control import ControlError, call
from actors.control.cluster import ClusterControl
from actors.node.startup.security import INIT_FILE, prepare_node, read_managers, write_managers
from actors.store import MemoryStore, WriteTx, clusters
from api.enums import NodeRole


@pytest.fixture
def store_and_control(tmp_path: Path) -> tuple[MemoryStore, ClusterControl]:
    startup = prepare_node(tmp_path / "m1", hostname="m1", advertise_addr="127.0.0.1:1")
    cluster = startup.initial_cluster.cluster
    assert cluster is not None
    store = MemoryStore.local(clock=time.time)
    store.update(lambda tx: tx.create(cluster))
    rng = random.Random(3)

    def rotate(role: NodeRole) -> str:  # what CAService.rotate_token does
        def write(tx: WriteTx) -> str:
            current = clusters.get_default(tx)
            assert current is not None
            tokens = rotate_join_token(current.join_tokens, role, current.root_ca.ca_cert, rng)
            tx.update(replace(current, join_tokens=tokens))
            return tokens.worker if role is NodeRole.WORKER else tokens.manager

        return store.update(write).value

    return store, ClusterControl(store, rotate_token=rotate)


def test_join_tokens_show_and_rotate(store_and_control: tuple[MemoryStore, ClusterControl]) -> None:
    _store, control = store_and_control
    worker = call(control.join_token, {"role": "worker"})["token"]
    manager = call(control.join_token, {"role": "manager"})["token"]
    assert worker != manager
    assert parse_join_token(worker).ca_digest == parse_join_token(manager).ca_digest
    rotated = call(control.join_token, {"role": "worker", "rotate": True})["token"]
    assert rotated != worker
    assert call(control.join_token, {"role": "worker"})["token"] == rotated
    assert call(control.join_token, {"role": "manager"})["token"] == manager
    with pytest.raises(ControlError) as info:
        call(control.join_token, {"role": "admin"})
    assert info.value.code == "invalid_argument"


def test_a_refused_rotation_names_why(
    store_and_control: tuple[MemoryStore, ClusterControl],
) -> None:
    store, _control = store_and_control

    def refuse(role: NodeRole) -> str:  # CAService.rotate_token without a CA certificate
        raise JoinRefused("unavailable", "the cluster has no certificate authority")

    control = ClusterControl(store, rotate_token=refuse)
    with pytest.raises(ControlError) as info:
        call(control.join_token, {"role": "worker", "rotate": True})
    assert info.value.code == "unavailable"
    assert "no certificate authority" in info.value.message


def test_an_update_with_a_version_is_refused_once_the_cluster_moved_on(
    store_and_control: tuple[MemoryStore, ClusterControl],
) -> None:
    store, control = store_and_control

    def version() -> int:
        cluster = store.view(clusters.get_default)
        assert cluster is not None
        return cluster.meta.version

    read = version()
    call(control.update, {"task_history_limit": 2, "version": read})  # still at it: written
    with pytest.raises(ControlError) as info:  # a second writer that read the same version
        call(control.update, {"task_history_limit": 7, "version": read})
    assert info.value.code == "conflict" and f"not {read}" in info.value.message
    cluster = store.view(clusters.get_default)
    assert cluster is not None and cluster.spec.orchestration.task_history_retention_limit == 2
    call(control.update, {"version": version()})  # a version alone only checks


def test_update_validates_then_writes(
    store_and_control: tuple[MemoryStore, ClusterControl],
) -> None:
    store, control = store_and_control
    doc = call(
        control.update,
        {"heartbeat_period": 1.0, "task_history_limit": 2, "service_history_limit": 4},
    )["cluster"]
    assert doc["spec"]["dispatcher"]["heartbeat_period"] == 1.0
    assert "ca_key" not in doc["root_ca"]
    cluster = store.view(clusters.get_default)
    assert cluster is not None
    assert cluster.spec.orchestration.task_history_retention_limit == 2
    assert cluster.spec.orchestration.service_history_limit == 4
    for bad in (
        {"cert_expiry": 60.0},
        {"heartbeat_period": 0.0},
        {"snapshot_interval": 0},
        {"task_history_limit": -1},
        {"service_history_limit": 0},
        {},
    ):
        with pytest.raises(ControlError) as info:
            call(control.update, bad)
        assert info.value.code == "invalid_argument", bad
    assert store.view(clusters.get_default) == cluster  # nothing written


def test_init_writes_certificates_and_a_pending_cluster(tmp_path: Path) -> None:
    state = tmp_path / "m1"
    startup = prepare_node(state, hostname="m1", advertise_addr="127.0.0.1:1")
    assert startup.mode == "init" and startup.role is NodeRole.MANAGER
    certs = load_node_certs(state, now=time.time())
    assert certs.info.cluster_id == startup.cluster_id
    assert certs.keypair.public == startup.identity.keypair.public
    # the pending cluster (with the CA key) waits in the key store, not in a plain file
    assert not (state / INIT_FILE).exists()
    ca_key = startup.initial_cluster.cluster.root_ca.ca_key  # type: ignore[union-attr]
    assert all(ca_key not in p.read_bytes() for p in state.rglob("*") if p.is_file())
    again = prepare_node(state, hostname="m1", advertise_addr="127.0.0.1:1")
    assert again.mode == "resume" and again.initial_cluster.cluster == (
        startup.initial_cluster.cluster
    )
    again.initial_cluster.committed()
    assert not (state / INIT_FILE).exists()
    assert prepare_node(state, hostname="m1", advertise_addr="x:1").initial_cluster.cluster is None


def test_manager_list_file_round_trip(tmp_path: Path) -> None:
    entries = [{"addr": "tcp://127.0.0.1:1", "server_key": "k" * 40, "raft_id": "5"}]
    write_managers(tmp_path, entries)
    assert read_managers(tmp_path) == tuple(entries)
    assert read_managers(tmp_path / "none") == ()
