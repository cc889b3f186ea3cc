"""A member removed from the Raft group, started again with its old state, is told so and
stops taking part (etcd's and SwarmKit's ErrMemberRemoved): it neither campaigns nor leads.

Three real `RaftNode`s over CURVE (`CurvePeers`) behind real transport ``Endpoint``s in
this process. Member 3 is stopped, removed by the other two (a committed ``REMOVE``), and
started again on its old storage, which still counts it a member: its frames are answered
with ``raft.removed``, it sends nothing more, and the group of two keeps its leader and
commits. The removal survives a restart of the members that made it (storage.py's
``removed`` file). Waits poll with a deadline; nothing is timed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.raft_node.actor import RaftNode
from actors.raft_node.peers import Peer
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfChange, ConfChangeType, ConfState
from actors.store import MemoryStore
from api.objects import Node
from tests.support.raft_cluster import free_port
from tests.support.waiting import any_error, wait_for
from transport import AllowList, Endpoint, KeyPair, generate_keypair

IDS = (1, 2, 3)
REMOVED = 3


class Group:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys: dict[int, KeyPair] = {i: generate_keypair() for i in IDS}
        self.peers = {
            i: Peer(i, f"tcp://127.0.0.1:{free_port()}", self.keys[i].public) for i in IDS
        }
        self.admission = AllowList([k.public for k in self.keys.values()])
        self.running: dict[int, tuple[RaftNode, MemoryStore, Endpoint, DurableStorage]] = {}

    def start(self, i: int) -> RaftNode:
        storage = DurableStorage.open(self.root / str(i), initial_conf_state=ConfState(voters=IDS))
        store = MemoryStore(clock=time.time)
        node = RaftNode(
            i, self.peers, storage, store, keypair=self.keys[i], tick_interval=0.02,
            rng=random.Random(i),
        )  # fmt: skip
        store.attach_proposer(node)
        endpoint = Endpoint(
            self.peers[i].addr, node.handlers(), keypair=self.keys[i], admission=self.admission,
            name=f"r{i}",
        )  # fmt: skip
        endpoint.start()
        self.running[i] = (node.start(), store, endpoint, storage)
        return node

    def stop(self, i: int) -> None:
        node, _store, endpoint, storage = self.running.pop(i)
        endpoint.stop()
        node.stop()
        storage.close()

    def node(self, i: int) -> RaftNode:
        return self.running[i][0]

    def leader(self, among: tuple[int, ...]) -> RaftNode:
        def find() -> RaftNode | None:
            leaders = [self.node(i) for i in among if self.node(i).is_leader]
            return leaders[0] if len(leaders) == 1 else None

        return wait_for(find, "a leader", 20, tolerate=any_error)

    def commit_one(self, i: int, name: str) -> None:
        store = self.running[i][1]
        store.update(lambda tx: tx.create(Node(name)))


@pytest.fixture
def group(tmp_path: Path) -> Iterator[Group]:
    g = Group(tmp_path)
    try:
        yield g
    finally:
        for i in list(g.running):
            g.stop(i)


def test_a_removed_member_started_again_is_told_and_stops_taking_part(group: Group) -> None:
    for i in IDS:
        group.start(i)
    group.leader(IDS)
    if group.node(REMOVED).is_leader:  # the member to remove must not lead
        group.node(REMOVED).transfer_leadership(1).result(10)
    group.stop(REMOVED)
    staying = (1, 2)
    leader = group.leader(staying)
    leader.propose_conf_change(ConfChange(ConfChangeType.REMOVE, REMOVED)).result(10)
    for i in staying:
        wait_for(lambda i=i: REMOVED in group.node(i).removed_ids, f"{i} knows", 10)

    # its old storage still counts it a member: it campaigns, and is told
    old = group.start(REMOVED)
    wait_for(lambda: old.removed_by in staying, "member 3 told it was removed", 20)
    assert not old.is_leader
    sent = group.node(1).refused_frames, group.node(2).refused_frames
    its_version = group.running[REMOVED][1].view(lambda tx: tx.version)
    group.commit_one(leader.id, "a" * 25)  # the two commit without it
    wait_for(
        lambda: all(group.running[i][1].view(lambda tx: tx.version) > 0 for i in staying),
        "the write on both",
        10,
        tolerate=any_error,
    )
    assert (group.node(1).refused_frames, group.node(2).refused_frames) == sent
    assert group.running[REMOVED][1].view(lambda tx: tx.version) == its_version
    assert group.leader(staying).id == leader.id

    # the removal outlives the log that made it: a member restarted still answers so
    group.stop(REMOVED)
    group.stop(2)
    with DurableStorage.open(group.root / "2") as storage:
        assert REMOVED in storage.removed_members
    group.start(2)
    wait_for(lambda: REMOVED in group.node(2).removed_ids, "2 reloaded the removal", 10)
