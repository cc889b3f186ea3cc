from __future__ import annotations

import random

import pytest

from actors.proposal_errors import NotLeader
from actors.raft_node.core import MemoryStorage, RaftCore
from actors.raft_node.types import RaftState
from actors.store import errors as store_errors
from tests.unit.raft.harness import Cluster


def test_single_node_elects_itself_and_commits() -> None:
    c = Cluster([1])
    c.elect(1)
    idx = c.cores[1].propose(b"x")
    c.settle()
    assert c.cores[1].commit_index == idx
    assert c.data(1) == [b"x"]


def test_three_nodes_replicate() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    for k in range(10):
        c.cores[1].propose(b"v%d" % k)
    c.settle()
    for i in (1, 2, 3):
        assert c.data(i) == [b"v%d" % k for k in range(10)]


def test_propose_on_follower_raises_not_leader_with_leader_id() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    with pytest.raises(NotLeader) as info:
        c.cores[2].propose(b"x")
    assert info.value.leader_id == 1


def test_the_core_refuses_with_the_errors_the_store_hands_on() -> None:
    """One NotLeader and one ProposalDropped for the whole code base: what the core raises
    is what the store's callers and the control API catch, with no translation between."""
    c = Cluster([1, 2, 3])
    c.elect(1)
    with pytest.raises(store_errors.NotLeader, match="the leader is 1"):
        c.cores[2].propose(b"x")
    c.cores[1].transfer_leadership(2)
    with pytest.raises(store_errors.ProposalDropped):
        c.cores[1].propose(b"y")
    assert c.cores[1].state is RaftState.LEADER and c.cores[1].status().state is RaftState.LEADER


def test_election_timeout_is_randomized_in_range() -> None:
    seen = set()
    for seed in range(40):
        core = RaftCore(
            1, [1, 2, 3], MemoryStorage(), rng=random.Random(seed), election_tick=10, pre_vote=False
        )
        for t in range(1, 30):
            core.tick()
            if core.state is RaftState.CANDIDATE:
                seen.add(t)
                break
    assert seen <= set(range(10, 20)) and len(seen) > 3
