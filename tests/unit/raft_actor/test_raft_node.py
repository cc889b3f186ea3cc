"""RaftNode over an in-process network: wire encoding, proposals, forwarding, leadership
events, status, snapshots and restart. Real threads and fsync, no sockets; waits poll with a
deadline and nothing asserts timings."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from actors.control.writes import modify
from actors.node.tree.manager_raft import snapshot_interval
from actors.proposal_errors import NotLeader, ProposalDropped
from actors.raft_node.actor import LeadershipChange, RaftNode
from actors.raft_node.proposals import AppliedWaiters, Proposals
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import (
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
)
from actors.raft_node.wire import WireError, decode_batch, encode_batch
from actors.store import MemoryStore, WriteTx, clusters
from actors.store.proposer import LocalProposer
from api.objects import Node, ObjectKind
from tests.support.waiting import wait_for
from tests.unit.store.helpers import cluster as cluster_object

IDS = (1, 2, 3)


class LocalNetwork:
    """Delivers frames straight to the other nodes; `cut` drops everything to/from a node;
    a write forwarded to a node in `hang` is never answered (its future stays pending: a
    leader that died holding it, with a forward timeout that never elapses)."""

    def __init__(
        self,
        nodes: dict[int, RaftNode],
        me: int,
        cut: set[int],
        hang: set[int] | None = None,
        hung: list[Future[int]] | None = None,
    ) -> None:
        self.nodes, self.me, self.cut = nodes, me, cut
        self.hang = hang if hang is not None else set()
        self.hung = hung if hung is not None else []

    def send(self, dst: int, batch: bytes) -> None:
        node = self.nodes.get(dst)
        if node is not None and dst not in self.cut and self.me not in self.cut:
            node.receive(self.me, 0, batch)

    def forward(self, dst: int, datas: Any) -> Future[int]:
        if dst in self.hang:
            self.hung.append(Future())
            return self.hung[-1]
        node = self.nodes.get(dst)
        if node is None or dst in self.cut or self.me in self.cut:
            f: Future[int] = Future()
            f.set_exception(ProposalDropped("unreachable"))
            return f
        return node.propose_forwarded(datas)

    def close(self) -> None:
        pass


class Cluster:
    def __init__(self, root: Path, **kwargs: Any) -> None:
        self.root = root
        self.kwargs = kwargs
        self.nodes: dict[int, RaftNode] = {}
        self.stores: dict[int, MemoryStore] = {}
        self.cut: set[int] = set()
        self.hang: set[int] = set()
        self.hung: list[Future[int]] = []

    def start(self, node_id: int) -> RaftNode:
        storage = DurableStorage.open(
            self.root / str(node_id),
            log_entries_for_slow_followers=5,
            initial_conf_state=ConfState(voters=IDS),
        )
        store = MemoryStore(clock=time.time)
        node = RaftNode(
            node_id,
            IDS,
            storage,
            store,
            network=LocalNetwork(self.nodes, node_id, self.cut, self.hang, self.hung),
            tick_interval=0.01,
            rng=random.Random(node_id),
            **self.kwargs,
        )
        store.attach_proposer(node)
        self.nodes[node_id], self.stores[node_id] = node, store
        return node.start()

    def stop(self, node_id: int) -> None:
        self.nodes.pop(node_id).stop()

    def leader(self, exclude: tuple[int, ...] = ()) -> RaftNode:
        def find() -> RaftNode | None:
            leaders = [n for i, n in self.nodes.items() if n.is_leader and i not in exclude]
            return leaders[0] if len(leaders) == 1 else None

        return wait_for(find, "a leader", 10)


def running(c: Cluster) -> Iterator[Cluster]:
    """Every member started; stopped after the test (``yield from`` it in a fixture)."""
    for i in IDS:
        c.start(i)
    yield c
    for i in list(c.nodes):
        c.stop(i)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    yield from running(Cluster(tmp_path))


def value(i: int) -> bytes:
    return b"\xc4\x03" + b"%03d" % i  # msgpack bin: the store skips it as not an entry


def test_wire_round_trip_and_garbage() -> None:
    snap = Snapshot(SnapshotMetadata(7, 2, ConfState((1, 2), (3,))), b"state")
    msgs = [
        Message(
            MessageType.APPEND,
            1,
            2,
            3,
            log_term=2,
            index=4,
            entries=(Entry(5, 3, b"x"), Entry(6, 3, b"cc", EntryType.CONF_CHANGE)),
            commit=4,
        ),
        Message(MessageType.APPEND_RESPONSE, 2, 1, 3, index=9, reject=True, reject_hint=5),
        Message(MessageType.SNAPSHOT, 1, 3, 3, snapshot=snap),
        Message(MessageType.VOTE, 2, 3, 4, context=b"transfer"),
    ]
    assert decode_batch(encode_batch(msgs)) == msgs
    for junk in (b"", b"\x91\x01", b"\xc1", b"\x91\x9c" + b"\x00" * 12, encode_batch(msgs)[:-3]):
        with pytest.raises(WireError):
            decode_batch(junk)


def test_proposals_succeed_or_fail_by_term() -> None:
    proposals, waiters = Proposals(), AppliedWaiters()
    ok, overwritten, lost = Future(), Future(), Future()
    proposals.add(5, 2, ok)
    proposals.add(6, 2, overwritten)
    proposals.add(7, 2, lost)
    proposals.applied(5, 2)
    proposals.applied(6, 3)
    proposals.fail_all(ProposalDropped("lost leadership"))
    assert ok.result() == 5
    with pytest.raises(ProposalDropped, match="overwritten"):
        overwritten.result()
    with pytest.raises(ProposalDropped, match="lost leadership"):
        lost.result()
    later, sooner = Future(), Future()
    waiters.add(9, later)
    waiters.add(4, sooner)
    waiters.applied(5)
    assert sooner.result(0) == 4 and not later.done()


def test_propose_commits_and_applies_everywhere(cluster: Cluster) -> None:
    leader = cluster.leader()
    futures = [leader.propose(value(i)) for i in range(200)]
    indices = [f.result(10) for f in futures]
    assert indices == sorted(indices) and len(set(indices)) == 200
    last = indices[-1]
    for node_id in IDS:
        wait_for(lambda n=node_id: cluster.stores[n].version >= last, "apply", 10)


def test_follower_forwards_and_reads_its_own_write(cluster: Cluster) -> None:
    leader = cluster.leader()
    follower_id = next(i for i in IDS if i != leader.id)
    store = cluster.stores[follower_id]
    committed = store.update(lambda tx: tx.create(Node(id="n1")), timeout=10)
    # acknowledged through the follower: readable there at once
    assert store.view(lambda tx: tx.get(ObjectKind.NODE, "n1")) is not None
    assert cluster.nodes[follower_id].applied_index >= committed.version


def test_leadership_events_and_status(cluster: Cluster) -> None:
    leader = cluster.leader()
    seen: list[LeadershipChange] = []
    unsubscribe = leader.subscribe(seen.append)
    wait_for(lambda: seen and seen[0].is_leader, "the current leadership", 5)
    status = leader.status()
    assert status.is_leader and status.leader_id == leader.id
    assert set(status.peers) == set(IDS) - {leader.id}
    wait_for(lambda: all(p.reachable for p in leader.status().peers.values()), "peers", 5)

    cluster.cut.add(leader.id)  # isolate it: check-quorum makes it step down
    wait_for(lambda: any(not c.is_leader for c in seen[1:]), "stepping down", 10)
    pending = leader.propose(value(1))
    with pytest.raises((NotLeader, ProposalDropped)):
        pending.result(10)
    cluster.cut.clear()
    new = cluster.leader()
    assert new.propose(value(2)).result(10) > 0
    unsubscribe()


def test_snapshot_compaction_and_restart_catch_up(tmp_path: Path) -> None:
    c = Cluster(tmp_path, snapshot_interval=50)
    for i in IDS:
        c.start(i)
    try:
        leader = c.leader()
        lagging = next(i for i in IDS if i != leader.id)
        c.stop(lagging)
        last = 0
        for i in range(300):
            last = leader.propose(value(i)).result(10)
        # written off the loop, adopted a moment later (snapshotter.py)
        wait_for(lambda: leader.status().snapshot_index >= 250, "snapshots", 10)
        node = c.start(lagging)  # entries it needs are compacted: InstallSnapshot
        wait_for(lambda: c.stores[lagging].version >= last, "catch up", 20)
        assert node.status().snapshot_index > 0
    finally:
        for i in list(c.nodes):
            c.stop(i)


def test_the_cluster_snapshot_interval_reaches_the_loop(tmp_path: Path) -> None:
    """A ``cluster update --snapshot-interval`` applies on the next check: the loop reads
    the cluster's setting from the store (it never did: the default 10,000 stayed)."""
    c = Cluster(tmp_path)
    store = MemoryStore(clock=time.time)
    store.attach_proposer(LocalProposer(store.apply))
    made = cluster_object()
    store.update(lambda tx: tx.create(made))
    c.kwargs["snapshot_interval"] = snapshot_interval(store)
    for i in IDS:
        c.start(i)
    try:
        leader = c.leader()
        for i in range(20):
            leader.propose(value(i)).result(10)
        assert leader.status().snapshot_index == 0
        spec = replace(made.spec, raft=replace(made.spec.raft, snapshot_interval=5))
        store.update(lambda tx: tx.update(replace(clusters.get(tx, made.id), spec=spec)))
        last = leader.propose(value(20)).result(10)
        wait_for(lambda: leader.status().snapshot_index >= last, "a snapshot", 10)
    finally:
        for i in list(c.nodes):
            c.stop(i)


def test_write_forwarded_to_a_leader_that_dies_fails_at_the_leader_change(
    cluster: Cluster,
) -> None:
    leader = cluster.leader()
    follower = cluster.nodes[next(i for i in IDS if i != leader.id)]
    cluster.hang.add(leader.id)  # the leader never answers a forward: no timeout elapses
    pending = follower.propose(value(1))
    wait_for(lambda: cluster.hung, "the forward", 5)
    cluster.stop(leader.id)
    with pytest.raises(ProposalDropped, match=r"leader changed.*may or may not have been applied"):
        pending.result(10)
    # it failed at the leader change, not at the forward's answer (there never was one)
    assert not cluster.hung[0].done()
    new = cluster.leader()
    assert new.id != leader.id
    assert follower.propose(value(2)).result(10) > 0  # a write made now reaches the new one


def test_control_write_dropped_by_a_leader_change_is_retried_on_the_new_leader(
    cluster: Cluster,
) -> None:
    leader = cluster.leader()
    follower_id = next(i for i in IDS if i != leader.id)
    store = cluster.stores[follower_id]
    store.update(lambda tx: tx.create(Node(id="n1")), timeout=10)
    attempts = []

    def edit(tx: WriteTx) -> None:
        attempts.append(1)
        node = tx.get(ObjectKind.NODE, "n1")
        assert isinstance(node, Node)
        tx.update(replace(node, certificate=b"new"))

    cluster.hang.add(leader.id)
    with ThreadPoolExecutor(1) as pool:
        write = pool.submit(modify, store, edit, window=30.0)
        wait_for(lambda: cluster.hung, "the forward", 5)
        cluster.stop(leader.id)
        committed = write.result(20)
    assert len(attempts) == 2  # the forward to the dead leader was dropped, then retried
    assert not cluster.hung[0].done()
    node = store.view(lambda tx: tx.get(ObjectKind.NODE, "n1"))
    assert isinstance(node, Node) and node.certificate == b"new"
    assert node.meta.version == committed.version
    assert cluster.leader().id != leader.id


def test_write_waits_for_a_leader_while_none_is_known(tmp_path: Path) -> None:
    c = Cluster(tmp_path, leader_wait=60.0)
    try:
        first = c.start(1)  # alone: no quorum, no leader
        waiting = first.propose(value(1))
        c.start(2)  # a quorum: a leader is elected and the held write goes through it
        assert waiting.result(20) > 0
    finally:
        for i in list(c.nodes):
            c.stop(i)


def test_write_without_a_leader_fails_once_it_waited_long_enough(tmp_path: Path) -> None:
    c = Cluster(tmp_path, leader_wait=0.0)
    try:
        alone = c.start(1)
        with pytest.raises(NotLeader, match="no leader is known"):
            alone.propose(value(1)).result(10)
    finally:
        for i in list(c.nodes):
            c.stop(i)


def test_control_retry_of_a_lost_write_is_bounded_by_its_window() -> None:
    now = [0.0]
    errors: list[Exception] = [NotLeader(None), ProposalDropped("leader changed")]

    class Flaky:
        calls = 0

        def update(self, fn: Any) -> Any:
            Flaky.calls += 1
            now[0] += 1.0
            raise errors[Flaky.calls % 2]

    pauses: list[float] = []
    with pytest.raises(ProposalDropped):
        modify(Flaky(), lambda tx: None, window=5.0, clock=lambda: now[0], sleep=pauses.append)  # type: ignore[arg-type]
    assert Flaky.calls == 5 and pauses == [0.0, 0.02, 0.04, 0.08]
