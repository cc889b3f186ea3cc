"""Snapshots of a RaftNode: taken off the loop (snapshotter.py) and by bytes as well as
by entries (compaction.py)."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

from actors.raft_node.actor import RaftNode
from actors.raft_node.compaction import SNAPSHOT_LOG_BYTES_MIN
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore
from tests.support.waiting import wait_for
from tests.unit.raft_actor.test_raft_inbox import NoNetwork


class SlowStore(MemoryStore):
    """Encoding a snapshot waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__(clock=time.time)
        self.encoding = threading.Event()
        self.release = threading.Event()

    def encode_snapshot(self, view: Any) -> bytes:  # type: ignore[override]
        self.encoding.set()
        assert self.release.wait(30), "the test never let the encoding go"
        return super().encode_snapshot(view)

    def snapshot(self) -> bytes:
        return self.encode_snapshot(self.snapshot_view())


def single(root: Path, store: MemoryStore, interval: int) -> RaftNode:
    storage = DurableStorage.open(root, initial_conf_state=ConfState(voters=(1,)))
    node = RaftNode(
        1,
        (1,),
        storage,
        store,
        network=NoNetwork(),
        tick_interval=0.01,
        rng=random.Random(1),
        snapshot_interval=interval,
    )
    store.attach_proposer(node)
    return node.start()


def blob(i: int, size: int = 98) -> bytes:
    # a msgpack bin the store skips as "not an entry": Raft payload of `size` bytes
    return b"\xc6" + (size - 5).to_bytes(4, "big") + (b"%d" % i).rjust(size - 5, b"0")


def test_writes_commit_while_a_snapshot_is_encoded(tmp_path: Path) -> None:
    store = SlowStore()
    node = single(tmp_path, store, interval=5)
    try:
        wait_for(lambda: node.is_leader, "leadership", 10)
        for i in range(6):
            node.propose(blob(i)).result(10)
        assert store.encoding.wait(10)
        # the loop is not stuck in the encoding: writes still commit
        last = max(node.propose(blob(100 + i)).result(10) for i in range(20))
        assert node.status().snapshot_index == 0
        store.release.set()
        wait_for(lambda: node.status().snapshot_index >= 5, "the snapshot adopted", 10)
        assert node.status().snapshot_index <= last
    finally:
        store.release.set()
        node.stop()


def test_a_log_of_big_entries_is_snapshotted_before_the_interval(tmp_path: Path) -> None:
    store = MemoryStore(clock=time.time)
    node = single(tmp_path, store, interval=10_000)
    size = 256 * 1024
    try:
        wait_for(lambda: node.is_leader, "leadership", 10)
        for i in range(SNAPSHOT_LOG_BYTES_MIN // size + 2):
            node.propose(blob(i, size)).result(10)
        wait_for(lambda: node.status().snapshot_index > 0, "a snapshot by bytes", 10)
    finally:
        node.stop()
