"""Raft with real processes: `raft_server` members on 127.0.0.1, CURVE, durable storage.

Issue 3 item 7: elect a leader; acknowledged writes survive `kill -9` of the leader; the
killed member restarts and catches up (through a snapshot once the entries it needs are
compacted); a corrupted WAL tail is truncated on restart and the member rejoins.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.errors import TransportError
from tests.support.raft_cluster import RaftCluster
from tests.support.waiting import any_error, wait_for


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[type[RaftCluster]]:
    made: list[RaftCluster] = []

    def make(size: int, **kwargs: object) -> RaftCluster:
        cluster = RaftCluster(tmp_path / f"cluster{len(made)}", size, **kwargs)  # type: ignore[arg-type]
        made.append(cluster)
        return cluster.start()

    yield make  # type: ignore[misc]
    for cluster in made:
        cluster.stop()


def write_many(cluster: RaftCluster, prefix: str, count: int, via: int) -> dict[str, str]:
    """Write `count` keys through member `via`; returns the acknowledged ones."""
    acked = {}
    for i in range(count):
        key, value = f"{prefix}{i:05d}", f"value-{prefix}-{i}"
        cluster.put(via, key, value)
        acked[key] = value
    return acked


def write_until_failure(cluster: RaftCluster, prefix: str, via: int) -> dict[str, str]:
    """Write through `via` until a write is not acknowledged (its member was killed)."""
    acked = {}
    i = 0
    while True:
        key, value = f"{prefix}{i:05d}", f"v{i}"
        try:
            cluster.put(via, key, value, timeout=2.0)
        except (TransportError, RuntimeError):
            return acked
        acked[key] = value
        i += 1


def assert_all_present(cluster: RaftCluster, node_id: int, acked: dict[str, str]) -> None:
    items = cluster.dump(node_id)["items"]
    missing = {k: v for k, v in acked.items() if items.get(k) != v}
    assert not missing, f"{len(missing)} acknowledged writes missing on {node_id}"


def put_retrying(cluster: RaftCluster, key: str, value: str, timeout: float = 20.0) -> int:
    def attempt() -> int | None:
        lead = cluster.leader()
        if lead is None:
            return None
        return cluster.put(lead, key, value, timeout=2.0)

    return wait_for(attempt, f"write {key}", timeout, tolerate=any_error)


@pytest.mark.parametrize("size", [3, 5])
def test_leader_killed_no_acknowledged_write_lost(cluster_factory, size: int) -> None:
    cluster = cluster_factory(size)
    leader = cluster.wait_leader()
    follower = next(i for i in cluster.ids if i != leader)
    acked = write_many(cluster, "a", 50, via=leader)
    acked |= write_many(cluster, "f", 20, via=follower)  # forwarded to the leader
    # a forwarded write is readable on the member that made it once acknowledged
    assert cluster.get(follower, "f00019")["value"] == acked["f00019"]

    cluster.kill(leader)
    new_leader = cluster.wait_leader(exclude=[leader])
    assert new_leader != leader
    assert_all_present(cluster, new_leader, acked)
    index = put_retrying(cluster, "after-failover", "yes")

    cluster.restart(leader)
    cluster.wait_applied(leader, index)
    assert_all_present(cluster, leader, acked | {"after-failover": "yes"})


def test_kill_during_writes_then_catch_up_through_snapshot(cluster_factory) -> None:
    cluster = cluster_factory(3, snapshot_interval=40, keep_entries=10)
    leader = cluster.wait_leader()
    acked = write_many(cluster, "pre", 30, via=leader)

    # kill the leader while a writer is mid-flight: every acknowledged write must survive
    result: dict[str, str] = {}
    writer = threading.Thread(
        target=lambda: result.update(write_until_failure(cluster, "mid", leader))
    )
    writer.start()
    wait_for(lambda: cluster.status(leader)["commit"] > 60, "writes", 20, tolerate=any_error)
    cluster.kill(leader)
    writer.join(30)
    acked |= result
    new_leader = cluster.wait_leader(exclude=[leader])
    assert_all_present(cluster, new_leader, acked)

    # while the old leader is down, write far past a snapshot interval so that the entries it
    # needs are compacted on the others: it can only catch up through InstallSnapshot
    acked |= write_many(cluster, "post", 120, via=new_leader)
    index = cluster.status(new_leader)["commit"]
    cluster.restart(leader)
    cluster.wait_applied(leader, index)
    assert_all_present(cluster, leader, acked)
    log = (cluster.root / f"node{leader}.log").read_text()
    assert "raft.snapshot.installed" in log


def test_corrupted_wal_tail_is_truncated_and_member_rejoins(cluster_factory) -> None:
    cluster = cluster_factory(3)
    leader = cluster.wait_leader()
    victim = next(i for i in cluster.ids if i != leader)
    acked = write_many(cluster, "k", 40, via=leader)
    cluster.wait_applied(victim, cluster.status(leader)["commit"])
    cluster.kill(victim)

    segments = sorted(p for p in cluster.data_dir(victim).iterdir() if p.name.startswith("wal-"))
    assert segments, list(cluster.data_dir(victim).iterdir())
    # a crash in the middle of writing a record that was never acknowledged: a garbled
    # record (its CRC does not match) followed by a torn one (it runs past the end)
    payload = b"\x93\x01garbled-by-the-test" * 4
    header = struct.pack("<II", len(payload), 0xDEADBEEF)
    with open(segments[-1], "ab") as f:
        f.write(header + payload + struct.pack("<II", 4096, 0) + b"torn")

    acked |= write_many(cluster, "later", 20, via=leader)
    index = cluster.status(leader)["commit"]
    cluster.restart(victim)
    cluster.wait_applied(victim, index)
    assert_all_present(cluster, victim, acked)
    log = (cluster.root / f"node{victim}.log").read_text()
    assert "raft.storage.tail_truncated" in log
