"""`RaftNode.reencrypt_at_rest`: a running node rewrites its storage under a rotated data
key between two Readies, keeps committing, and restarts with the new key alone. Real
threads and fsync, no sockets."""

from __future__ import annotations

import random
import time
from pathlib import Path

from actors.ca.encryption import DataKeyRing, new_data_key
from actors.raft_node.actor import RaftNode
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore
from tests.support.at_rest import decryptable_by
from tests.support.waiting import wait_for
from tests.unit.raft_actor.test_raft_node import LocalNetwork, value


def start(directory: Path, ring: DataKeyRing) -> RaftNode:
    storage = DurableStorage.open(
        directory,
        cipher=ring.cipher(associated_data=b"swarmnode raft"),
        log_entries_for_slow_followers=5,
        initial_conf_state=ConfState(voters=(1,)),
    )
    nodes: dict[int, RaftNode] = {}
    node = RaftNode(
        1,
        (1,),
        storage,
        MemoryStore(clock=time.time),
        network=LocalNetwork(nodes, 1, set()),
        tick_interval=0.01,
        rng=random.Random(1),
        snapshot_interval=20,
    )
    nodes[1] = node
    node.start()
    wait_for(lambda: node.is_leader, "leader", 10)
    return node


def test_a_running_node_rewrites_its_storage_under_the_new_key(tmp_path: Path) -> None:
    old, new = new_data_key(), new_data_key()
    ring = DataKeyRing(old)
    node = start(tmp_path / "raft", ring)
    for i in range(30):
        node.propose(value(i)).result(10)
    assert decryptable_by(old, tmp_path)  # the same ciphers as a manager's
    ring.begin(new)  # the key store holds the new key: write under it
    node.reencrypt_at_rest().result(10)
    last = node.propose(value(99)).result(10)  # still committing
    status = node.status()
    node.stop()
    assert status.snapshot_index >= 31
    assert decryptable_by(old, tmp_path) == []
    ring.retire()
    again = start(tmp_path / "raft", DataKeyRing(new))
    try:
        assert again.status().last_index >= last
    finally:
        again.stop()
