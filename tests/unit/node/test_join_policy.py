"""Who may take a ``raft.join`` now (actors/node/membership/join_policy.py): a leader that
cannot commit refuses at once, a manager names no leader that leads a dead group or is the
joiner itself, and a removed manager asks the member that removed it first."""

from __future__ import annotations

from dataclasses import replace

from actors.node.membership.join_policy import (
    LeaderView,
    join_refusal,
    leader_to_name,
    removal_is_demotion,
    remover_first,
)
from api.enums import NodeRole
from api.objects import Node
from api.specs import NodeSpec

# the old group after --force-new-cluster on M2: M1 and M3 came back with their old state
M1_OLD, M2, M3 = 11, 22, 33
NEW = 44  # M1's new Raft id


def test_a_leader_with_a_live_quorum_takes_the_join() -> None:
    view = LeaderView(node_id=M2, voters=(M2, M3, M1_OLD), reachable=frozenset({M3}))
    assert join_refusal(view, NEW, ()) is None
    # a member that lost its Raft state asks under a new id: the other two still commit
    assert join_refusal(view, NEW, {M1_OLD}) is None
    assert (
        join_refusal(LeaderView(node_id=M2, voters=(M2,), reachable=frozenset()), NEW, ()) is None
    )


def test_the_old_group_s_leader_refuses_its_old_member_asking_under_a_new_id() -> None:
    """M3 leads the old group {M1, M2, M3}; it heard M1 a moment ago, but M1 is the node
    asking to join under a new Raft id (it dropped its old state): M3 alone is no quorum,
    and the change would wait for an acknowledgement that never comes."""
    view = LeaderView(node_id=M3, voters=(M1_OLD, M2, M3), reachable=frozenset({M1_OLD}))
    reason = join_refusal(view, NEW, {M1_OLD})
    assert reason is not None
    assert "1 of its 3 voters are live, a quorum is 2" in reason
    assert f"member {M1_OLD} was the joining node's own" in reason


def test_a_leader_that_hears_no_quorum_refuses() -> None:
    view = LeaderView(node_id=M3, voters=(M1_OLD, M2, M3), reachable=frozenset())
    reason = join_refusal(view, NEW, ())
    assert reason is not None and "1 of its 3 voters are live" in reason
    assert "joining node" not in reason


def test_a_leader_told_it_was_removed_refuses() -> None:
    view = LeaderView(
        node_id=M3, voters=(M1_OLD, M2, M3), reachable=frozenset({M1_OLD, M2}), removed_by=M2
    )
    reason = join_refusal(view, NEW, ())
    assert reason is not None
    assert f"removed from the Raft group (member {M2} said so)" in reason


def test_a_member_asking_again_is_not_refused() -> None:
    """Its join was committed but it has not seen it yet: nothing to commit, whoever is
    live (the leader answers that it is a member)."""
    view = LeaderView(
        node_id=M2, voters=(M2, NEW), reachable=frozenset(), learners=(M3,), removed_by=None
    )
    assert join_refusal(view, NEW, ()) is None
    assert join_refusal(view, M3, ()) is None
    assert join_refusal(view, 55, ()) is not None


def test_a_manager_names_no_leader_of_a_dead_group_nor_the_joiner_itself() -> None:
    assert leader_to_name(M2, removed_by=None, joiner_members=()) == M2
    # M3 follows M1's old member, and M1 is the node asking: it would ask itself
    assert leader_to_name(M1_OLD, removed_by=None, joiner_members={M1_OLD}) == 0
    # M3 was told it was removed: the leader it knows leads the old group
    assert leader_to_name(M1_OLD, removed_by=M2, joiner_members=()) == 0


def test_the_member_that_removed_this_one_comes_first() -> None:
    entries = [
        {"addr": "tcp://m1:1", "server_key": "k1", "raft_id": str(M1_OLD)},
        {"addr": "tcp://m3:1", "server_key": "k3", "raft_id": str(M3)},
        {"addr": "tcp://m2:1", "server_key": "k2", "raft_id": str(M2)},
        {"addr": "tcp://m4:1", "server_key": "k4"},
    ]
    ordered = remover_first(entries, M2, own_key="k1")
    assert [m["addr"] for m in ordered] == ["tcp://m2:1", "tcp://m3:1", "tcp://m4:1"]
    # an unknown remover changes nothing but this node's own entry
    assert [m["addr"] for m in remover_first(entries, 99, own_key="k1")] == [
        "tcp://m3:1",
        "tcp://m2:1",
        "tcp://m4:1",
    ]


def test_a_removal_is_a_demotion_when_the_node_is_being_demoted() -> None:
    """A demoted manager was told of its removal before it applied it, took it for a
    removal by --force-new-cluster and asked to rejoin, refused as a worker for good."""
    manager = Node(id="m2", spec=NodeSpec(desired_role=NodeRole.MANAGER), role=NodeRole.MANAGER)
    assert not removal_is_demotion(manager)
    assert removal_is_demotion(replace(manager, spec=NodeSpec(desired_role=NodeRole.WORKER)))
    assert not removal_is_demotion(None)
