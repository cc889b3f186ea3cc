"""A store larger than a frame reaches a new member: real raft_server processes, real
ZeroMQ with CURVE, real fsync. Two members fill the store past the frame limit with many
objects, each under its budget, and compact their logs; the third starts empty and can only
catch up through the snapshot, which travels as ``raft.chunk`` frames and is assembled
whole. Before, the snapshot went as one frame over the limit: the send failed in silence,
Raft retried forever, and the new member never caught up."""

from __future__ import annotations

import json
from pathlib import Path

from api.limits import MAX_ENTRY_BYTES, MAX_FRAME_BYTES, MAX_OBJECT_BYTES
from tests.support.raft_cluster import RaftCluster
from tests.support.waiting import wait_for

VALUE_BYTES = 400_000
KEYS = MAX_FRAME_BYTES // VALUE_BYTES + 12  # the last snapshot (every 8) is past a frame


def events(cluster: RaftCluster, node_id: int, name: str) -> list[dict[str, object]]:
    path = cluster.root / f"node{node_id}.log"
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if name in line:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return [e for e in out if e.get("event") == name]


def test_a_snapshot_larger_than_a_frame_reaches_a_new_member(tmp_path: Path) -> None:
    assert VALUE_BYTES < MAX_OBJECT_BYTES
    cluster = RaftCluster(tmp_path, 3, snapshot_interval=8, keep_entries=2)
    cluster.start([1, 2])
    try:
        leader = cluster.wait_leader()
        index = 0
        for i in range(KEYS):
            index = cluster.put(leader, f"key{i:03d}", f"{i:03d}" + "v" * VALUE_BYTES, timeout=20)

        def big_snapshot() -> bool:  # written off the loop: logged a moment later
            snapshots = events(cluster, leader, "raft.snapshot.created")
            return any(int(str(e["bytes"])) > MAX_FRAME_BYTES for e in snapshots)

        wait_for(big_snapshot, "a snapshot larger than a frame", 30)

        cluster.start([3])  # empty: the entries it needs are compacted away
        cluster.wait_applied(3, index, timeout=120)
        for i in (0, KEYS // 2, KEYS - 1):
            got = cluster.get(3, f"key{i:03d}")
            assert got["found"] and got["value"] == f"{i:03d}" + "v" * VALUE_BYTES

        chunked = events(cluster, leader, "raft.batch.chunked")
        assert any(e["to"] == 3 and int(str(e["chunks"])) > 4 for e in chunked)
        assembled = events(cluster, 3, "raft.batch.assembled")
        assert any(int(str(e["bytes"])) > MAX_FRAME_BYTES for e in assembled)
        assert events(cluster, 3, "raft.snapshot.installed")
    finally:
        cluster.stop()


def test_a_member_refuses_a_proposal_over_the_entry_budget(tmp_path: Path) -> None:
    """``raft.propose`` from the wire (how a follower forwards) is checked like a local
    proposal: answered ``too_large`` with the sizes, and nothing is appended."""
    with RaftCluster(tmp_path, 1) as cluster:
        leader = cluster.wait_leader()
        # the entry a new leader appends for its term: its log grows by it once, maybe
        # after wait_leader returned
        before = cluster.wait_applied(leader, 1)
        reply = cluster.client(leader).request(
            "raft.propose", {"data": [b"x" * (MAX_ENTRY_BYTES + 1)]}, timeout=10
        )
        assert reply["error"] == "too_large" and reply["index"] == 0
        assert (reply["size"], reply["limit"]) == (MAX_ENTRY_BYTES + 1, MAX_ENTRY_BYTES)
        assert "over the 2 MiB budget of one entry" in reply["message"]
        after = cluster.status(leader)
        assert after is not None and after["last_index"] == before["last_index"]
