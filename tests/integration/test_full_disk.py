"""A manager whose disk fills up refuses new writes with an error naming the disk, keeps
serving, loses nothing it acknowledged, and takes writes again once space is freed
(actors/raft_node/wal.py keeps room ahead of the log; forwarding.py refuses for it). The
disk is a real tmpfs of a few MiB (tests/support/small_disk.py)."""

from __future__ import annotations

import contextlib
import random
import re
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from actors.proposal_errors import StorageFull
from actors.raft_node.actor import RaftNode
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore, WriteTx
from api.cluster_specs import ConfigSpec
from api.objects import Config, ObjectKind
from tests.support.ports import free_port_pair
from tests.support.raft_cluster import RaftCluster
from tests.support.small_disk import SmallDisk
from tests.support.swarm import SwarmNode, poll
from tests.support.waiting import wait_for
from tests.unit.raft_actor.test_raft_inbox import NoNetwork

BIG = 200_000  # bytes of data per config: a few fill the room kept ahead of the log


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with SmallDisk.mount(tmp_path / "disk", mib=8) as small:
        yield small


def config(i: int) -> Config:
    return Config(f"config{i:04d}", spec=ConfigSpec(name=f"c{i}", data=bytes([i % 251]) * BIG))


def open_node(directory: Path) -> tuple[RaftNode, MemoryStore]:
    storage = DurableStorage.open(directory, initial_conf_state=ConfState(voters=(1,)))
    store = MemoryStore(clock=time.time)
    node = RaftNode(
        1, (1,), storage, store, network=NoNetwork(), tick_interval=0.01, rng=random.Random(1)
    )
    store.attach_proposer(node)
    node.start()
    wait_for(lambda: node.is_leader, "the single member leading")
    return node, store


def names(store: MemoryStore) -> set[str]:
    configs = store.view(lambda tx: tx.list_objects(ObjectKind.CONFIG))
    return {c.spec.name for c in configs if isinstance(c, Config)}


def test_a_full_disk_refuses_writes_then_takes_them_again(disk: SmallDisk) -> None:
    node, store = open_node(disk.path / "raft")
    acknowledged: set[str] = set()
    try:
        disk.fill()
        refusal: StorageFull | None = None
        for i in range(100):  # the room kept ahead (1-2 MiB) takes a few of them
            try:
                store.update(partial(WriteTx.create, obj=config(i)))
            except StorageFull as exc:
                refusal = exc
                break
            acknowledged.add(f"c{i}")
        assert refusal is not None, "the writes never stopped on a full disk"
        assert "no space left on the disk of the Raft log" in str(refusal)
        assert str(disk.path / "raft") in str(refusal)
        # what is missing, not only the disk's free bytes (0 while the zeros ahead take
        # whatever is freed)
        assert re.search(r"it needs \d+ more ahead of its log", str(refusal)), str(refusal)
        assert node.failure is None and node.is_leader  # refused, not crashed
        assert names(store) == acknowledged

        disk.free()

        def written() -> bool:
            try:
                store.update(lambda tx: tx.create(config(999)))
            except StorageFull:
                return False
            return True

        wait_for(written, "a write taken once space is freed", timeout=15)
        acknowledged.add("c999")
    finally:
        node.stop()
    node, store = open_node(disk.path / "raft")  # everything acknowledged is on disk
    try:
        assert names(store) == acknowledged
    finally:
        node.stop()


def test_swarmctl_names_the_full_disk_and_the_node_keeps_serving(
    disk: SmallDisk, tmp_path: Path
) -> None:
    node = SwarmNode(
        "m1",
        disk.path / "m1",
        tmp_path,
        executor="process",
        port=free_port_pair("127.0.0.1"),
    )
    node.start()
    try:
        node.wait_ready()
        data = tmp_path / "big.conf"
        data.write_bytes(b"x" * BIG)
        node.ctl_json("config", "create", "before", str(data))
        disk.fill()
        created = ["before"]
        for i in range(100):
            result = node.ctl("config", "create", f"c{i}", str(data))
            if result.returncode != 0:
                assert "no space left on the disk of the Raft log" in result.stderr, result
                break
            created.append(f"c{i}")
        else:
            pytest.fail("config create never failed on a full disk")
        shown = {c["name"] for c in node.ctl_json("config", "ls")}
        assert shown == set(created)  # reads still served, nothing lost
        assert node.ctl("node", "ls").returncode == 0

        disk.free()
        poll(
            lambda: node.ctl("config", "create", "after", str(data)).returncode == 0,
            "a config created once space is freed",
            30,
        )
        node.terminate()
        node.start()
        node.wait_ready()
        shown = {c["name"] for c in node.ctl_json("config", "ls")}
        assert shown == {*created, "after"}
    finally:
        node.kill()  # not in a Swarm (its state dir is on the small disk): cleaned up here
        node.remove_task_dirs()  # its work root was left behind in /tmp


def test_a_follower_on_a_full_disk_drops_entries_and_catches_up_once_freed(
    tmp_path: Path,
) -> None:
    cluster = RaftCluster(tmp_path / "cluster", 3)
    with contextlib.ExitStack() as disks:
        disk = {
            i: disks.enter_context(SmallDisk.mount(cluster.data_dir(i), mib=16))
            for i in cluster.ids
        }
        cluster.start()
        try:
            leader = cluster.wait_leader()
            follower = next(i for i in cluster.ids if i != leader)
            disk[follower].fill()
            value = "v" * 100_000
            last = 0
            for n in range(40):  # 4 MB: past the room the follower keeps ahead (1-2 MiB)
                last = cluster.put(leader, f"k{n}", value)  # committed by the other two
            assert cluster.procs[follower].poll() is None  # it dropped them, not crashed
            assert "raft.entries.dropped" in cluster.log_tail(follower, 400)
            disk[follower].free()
            cluster.wait_applied(follower, last, timeout=30)  # and it catches up
            assert cluster.get(follower, "k39")["value"] == value
        finally:
            cluster.stop()
