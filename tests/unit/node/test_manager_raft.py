"""A manager's other parts reach Raft through the `RaftHolder` (actors/node/tree/
manager_raft.py): a missing or unanswering member is an answer, never a crash."""

from __future__ import annotations

import time
from queue import Queue
from types import SimpleNamespace
from typing import cast

import pytest

from actors.control.errors import ControlCode, ControlError
from actors.control.readiness import StartupState
from actors.node.tree.leader_group import RaftHolder
from actors.node.tree.manager_raft import (
    leader_id,
    raft_handlers,
    raft_status,
    raft_view,
    snapshot_interval,
    startup_state,
)
from actors.proposal_errors import ProposalDropped
from actors.raft_node.actor import RaftNode, RaftStatus
from actors.raft_node.core import RaftCore
from actors.raft_node.handlers import RaftHandlers
from actors.raft_node.types import RaftState
from actors.store import MemoryStore
from api.specs import RaftConfig


class FakeMember:
    """What the helpers read of a RaftNode: its leader, its leaderless time, its status."""

    def __init__(self, answer: RaftStatus | BaseException, leader: int = 0) -> None:
        self.answer = answer
        self.leader_id = leader
        self.leaderless_seconds = 0.0 if leader else 7.5
        self.timeouts: list[float] = []

    def status(self, timeout: float = 5.0) -> RaftStatus:
        self.timeouts.append(timeout)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def holding(member: FakeMember | None) -> RaftHolder:
    holder = RaftHolder()
    holder.node = cast(RaftNode, member)
    return holder


def a_status(me: int = 1, leader: int = 1) -> RaftStatus:
    return RaftStatus(
        node_id=me,
        state=RaftState.LEADER if me == leader else RaftState.FOLLOWER,
        term=2,
        leader_id=leader,
        is_leader=me == leader,
        commit=5,
        applied=5,
        last_index=5,
        snapshot_index=0,
        voters=(1, 2),
        learners=(3,),
        peers={},
    )


def store() -> MemoryStore:
    return MemoryStore(clock=lambda: 1000.0)


def test_without_a_member_the_view_is_refused_as_unavailable() -> None:
    with pytest.raises(ControlError) as caught:
        raft_view(holding(None))
    assert caught.value.code == ControlCode.UNAVAILABLE
    assert "not running" in caught.value.message


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (TimeoutError(), "did not say its members within 2s; retry"),
        (ProposalDropped("x"), "stopped; retry"),
    ],
)
def test_a_member_that_does_not_answer_is_unavailable_with_a_retry(
    error: BaseException, said: str
) -> None:
    with pytest.raises(ControlError) as caught:
        raft_view(holding(FakeMember(error, leader=1)))
    assert caught.value.code == ControlCode.UNAVAILABLE
    assert caught.value.message.endswith(said)


def test_the_view_is_the_members_own() -> None:
    member = FakeMember(a_status(me=2, leader=1), leader=1)
    view = raft_view(holding(member))
    assert (view.raft_id, view.leader_id) == (2, 1)
    assert view.voters == frozenset({1, 2}) and view.learners == frozenset({3})
    assert member.timeouts == [2.0]


@pytest.mark.parametrize("member", [None, FakeMember(RuntimeError("stopping"))])
def test_a_scrape_skips_raft_without_an_answer(member: FakeMember | None) -> None:
    assert raft_status(holding(member)) is None


def test_a_scrape_gets_the_members_status() -> None:
    answer = a_status()
    assert raft_status(holding(FakeMember(answer))) is answer


def test_the_leader_is_zero_without_a_member() -> None:
    assert leader_id(holding(None)) == 0
    assert leader_id(holding(FakeMember(a_status(), leader=4))) == 4


def test_the_startup_state_says_what_is_missing() -> None:
    assert startup_state(holding(None), store()) == StartupState(
        raft_running=False, leader_id=0, has_cluster=False, leaderless_for=0.0
    )
    assert startup_state(holding(FakeMember(a_status())), store()) == StartupState(
        raft_running=True, leader_id=0, has_cluster=False, leaderless_for=7.5
    )


def test_the_snapshot_interval_is_the_default_before_a_cluster_exists() -> None:
    assert snapshot_interval(store())() == RaftConfig().snapshot_interval


def test_the_remote_endpoint_serves_every_handler_of_the_raft_node() -> None:
    """Each Raft message type goes to the running member: ``raft.chunk`` (a snapshot over
    a frame, in pieces) was left out, so a manager that needed a snapshot bigger than one
    batch (a join or promotion once the store outgrew 4 MiB) answered each piece
    ``unsupported`` and never caught up, while the leader sent it again and again."""
    node = SimpleNamespace(run_handed_in=lambda: None)
    served = RaftHandlers(cast(RaftNode, node), Queue(), cast(RaftCore, None), time.time, None)
    assert set(raft_handlers(RaftHolder())) == set(served.table())
