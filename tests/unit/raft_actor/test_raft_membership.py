"""RaftNode membership: a new member joins with the group's bootstrap voters and no log,
is added as a learner by `add_member` (address and key in the change's context, followed by
every member's peer table), catches up from the log or a snapshot and is promoted."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.proposal_errors import ProposalError
from actors.raft_node.actor import RaftNode
from actors.raft_node.peers import Peer, decode_peer_context, encode_peer_context
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfChange, ConfChangeType, ConfState
from actors.store import MemoryStore
from tests.support.waiting import wait_for
from tests.unit.raft_actor.test_raft_node import LocalNetwork, value


class RecordingNetwork(LocalNetwork):
    def __init__(self, nodes: dict[int, RaftNode], me: int, cut: set[int]) -> None:
        super().__init__(nodes, me, cut)
        self.peers: dict[int, Peer] = {}

    def set_peer(self, peer: Peer) -> None:
        self.peers[peer.id] = peer

    def remove_peer(self, node_id: int) -> None:
        self.peers.pop(node_id, None)


class Group:
    def __init__(self, root: Path, **kwargs: Any) -> None:
        self.root, self.kwargs = root, kwargs
        self.nodes: dict[int, RaftNode] = {}
        self.stores: dict[int, MemoryStore] = {}
        self.networks: dict[int, RecordingNetwork] = {}

    def start(self, node_id: int, voters: tuple[int, ...]) -> RaftNode:
        storage = DurableStorage.open(
            self.root / str(node_id),
            log_entries_for_slow_followers=5,
            initial_conf_state=ConfState(voters=voters),
        )
        store = MemoryStore(clock=time.time)
        network = RecordingNetwork(self.nodes, node_id, set())
        node = RaftNode(
            node_id,
            [node_id],
            storage,
            store,
            network=network,
            tick_interval=0.01,
            rng=random.Random(node_id),
            voters=voters,
            **self.kwargs,
        )
        store.attach_proposer(node)
        self.nodes[node_id], self.stores[node_id] = node, store
        self.networks[node_id] = network
        return node.start()

    def close(self) -> None:
        for node in self.nodes.values():
            node.stop()


@pytest.fixture
def group(tmp_path: Path) -> Iterator[Group]:
    g = Group(tmp_path, snapshot_interval=20)
    yield g
    g.close()


def peer(node_id: int) -> Peer:
    return Peer(node_id, f"tcp://127.0.0.1:{4000 + node_id}", b"k" * 40)


def grow(group: Group, new: int) -> None:
    leader = next(n for n in group.nodes.values() if n.is_leader)
    node = group.start(new, voters=(1,))

    def added() -> bool:
        try:  # the previous change may still be pending, or leadership moving
            return leader.add_member(peer(new)).result(5) >= 0
        except ProposalError:
            return False

    wait_for(added, "added", 10)
    wait_for(lambda: new in node.status().learners, "learner", 10)
    leader.propose_conf_change(ConfChange(ConfChangeType.PROMOTE, new)).result(5)
    wait_for(lambda: new in node.status().voters, "voter", 10)


def test_peer_context_round_trip() -> None:
    assert decode_peer_context(7, encode_peer_context(peer(7))) == peer(7)
    assert decode_peer_context(7, b"") is None
    assert decode_peer_context(7, b"not json") is None


def test_a_new_member_joins_from_the_log_or_a_snapshot_and_is_promoted(group: Group) -> None:
    first = group.start(1, voters=(1,))
    wait_for(lambda: first.is_leader, "founder leads", 10)
    last = 0
    for i in range(60):  # past the snapshot interval: the joiner needs a snapshot
        last = first.propose(value(i)).result(10)
    # the snapshot is written off the loop and adopted a moment later (snapshotter.py)
    wait_for(lambda: first.status().snapshot_index > 0, "a snapshot", 10)
    grow(group, 2)
    assert group.networks[1].peers[2] == peer(2)  # the leader's table followed the change
    wait_for(lambda: group.stores[2].version >= last, "caught up", 10)
    assert group.nodes[2].status().voters == (1, 2)
    grow(group, 3)  # from the log this time (a recent snapshot, entries kept)
    for n in (1, 2, 3):
        wait_for(lambda n=n: group.nodes[n].status().voters == (1, 2, 3), "3 voters", 10)
    assert group.networks[2].peers[3] == peer(3)
    # already a member: nothing proposed, the address is refreshed
    leader = next(n for n in group.nodes.values() if n.is_leader)
    assert leader.add_member(peer(3)).result(5) == 0
    # the group commits with the new voters: stop the founder, the others elect and write
    group.nodes.pop(1).stop()
    wait_for(lambda: any(n.is_leader for n in group.nodes.values()), "a new leader", 10)
    new_leader = next(n for n in group.nodes.values() if n.is_leader)
    assert new_leader.propose(value(999)).result(10) > last


# "A joiner alone never elects itself" is a simulated case: tests/sim/test_raft_scenarios.py
