"""Manager decisions and manager status from Raft's membership (actors/control/raft_members.py
and api/roles.py `check_demotion`), and the node calls that use them against a local store
with a given Raft view: the store's node roles alone never decide."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.control import ControlError, call
from actors.control.nodes import NodeControl
from actors.control.raft_members import (
    RaftView,
    check_removal,
    live_manager_status,
    member_views,
    raft_view_of,
    stored_raft_view,
)
from actors.raft_node.status import PeerInfo, RaftStatus
from actors.raft_node.types import RaftState
from actors.store import MemoryStore, nodes
from api.enums import NodeRole, NodeState, Reachability
from api.objects import Cluster, ManagerStatus, Node, NodeDescription, NodeStatus
from api.roles import ManagerView, check_demotion
from api.specs import NodeSpec

R, U, UNK = Reachability.REACHABLE, Reachability.UNREACHABLE, Reachability.UNKNOWN


def recorded(node: Node) -> ManagerStatus:
    assert node.manager_status is not None
    return node.manager_status


def manager(
    name: str,
    raft_id: int,
    *,
    leader: bool = False,
    reach: Reachability = R,
    state: NodeState = NodeState.READY,
    desired: NodeRole = NodeRole.MANAGER,
) -> Node:
    return Node(
        id=f"{name}-id",
        description=NodeDescription(hostname=name),
        spec=NodeSpec(desired_role=desired),
        status=NodeStatus(state=state),
        role=NodeRole.MANAGER,
        manager_status=ManagerStatus(
            raft_id=raft_id, addr=f"10.0.0.{raft_id}:4242", leader=leader, reachability=reach
        ),
    )


def status(
    me: int,
    leader: int,
    voters: tuple[int, ...],
    heard: dict[int, bool],
    learners: tuple[int, ...] = (),
) -> RaftStatus:
    peers = {pid: PeerInfo(pid, f"tcp://10.0.0.{pid}:4242", ok, 0.1) for pid, ok in heard.items()}
    return RaftStatus(
        node_id=me,
        state=RaftState.LEADER if me == leader else RaftState.FOLLOWER,
        term=3,
        leader_id=leader,
        is_leader=me == leader,
        commit=10,
        applied=10,
        last_index=10,
        snapshot_index=0,
        voters=voters,
        learners=tuple(learners),
        peers=peers,
    )


# --- the view ------------------------------------------------------------------------------


def test_the_leader_knows_every_members_reachability_a_follower_only_the_leaders() -> None:
    on_leader = raft_view_of(status(1, 1, (1, 2, 3), {2: True, 3: False}))
    assert on_leader.heard == {2: True, 3: False}
    on_follower = raft_view_of(status(2, 1, (1, 2, 3), {1: True, 3: False}))
    assert on_follower.heard == {1: True}  # its silence from 3 says nothing: 3 is no leader
    assert on_follower.reachability(3, U) is U  # what the leader recorded
    assert on_follower.reachability(2, U) is R  # itself


def test_a_restarted_managers_stale_record_is_shown_as_raft_says_now() -> None:
    """m1 led before it restarted: its store still says so, and that m1 itself was
    unreachable (the new leader m2 recorded it while m1 was down)."""
    view = raft_view_of(status(1, 2, (1, 2, 3), {2: True}))
    stale_m1 = manager("m1", 1, leader=True, reach=U)
    stale_m2 = manager("m2", 2, leader=False, reach=R)
    m3 = manager("m3", 3, reach=R)
    assert live_manager_status(stale_m1, view) == replace(
        recorded(stale_m1), leader=False, reachability=R
    )
    assert live_manager_status(stale_m2, view) == replace(recorded(stale_m2), leader=True)
    assert live_manager_status(m3, view) == m3.manager_status  # as the leader recorded it


def test_a_node_raft_no_longer_has_is_no_leader_and_of_unknown_reachability() -> None:
    view = RaftView(raft_id=2, leader_id=2, voters=frozenset({2}))
    old = manager("m1", 1, leader=True, reach=R)
    assert live_manager_status(old, view) == replace(recorded(old), leader=False, reachability=UNK)
    worker = Node(id="w1")
    assert live_manager_status(worker, view) is None


# --- demotion ------------------------------------------------------------------------------


def after_force_new_cluster() -> tuple[RaftView, list[Node]]:
    """m2 forced a new cluster: the store still holds m1 and m3 as managers (and, from
    before m1 and m3 went away, reachable), Raft has m2 alone."""
    view = raft_view_of(status(2, 2, (2,), {}))
    return view, [manager("m1", 1, reach=R), manager("m2", 2, leader=True), manager("m3", 3)]


def test_managers_the_group_lost_can_be_demoted_but_not_its_last_voter() -> None:
    view, stored = after_force_new_cluster()
    members = member_views(view, stored)
    assert members == [ManagerView("m2-id", True)]
    assert check_demotion(members, "m1-id") is None
    assert check_demotion(members, "m3-id") is None
    refusal = check_demotion(members, "m2-id")
    assert refusal is not None and "last manager" in refusal
    # what the store's roles alone said: three managers, two of them unreachable
    as_recorded = [
        n if n.id == "m2-id" else replace(n, manager_status=replace(recorded(n), reachability=U))
        for n in stored
    ]
    by_roles = member_views(stored_raft_view(as_recorded), as_recorded)
    assert check_demotion(by_roles, "m1-id") is not None


def test_demotion_counts_the_raft_members_reachability() -> None:
    view = raft_view_of(status(1, 1, (1, 2, 3), {2: True, 3: False}))
    stored = [manager("m1", 1, leader=True), manager("m2", 2), manager("m3", 3)]
    members = member_views(view, stored)
    refusal = check_demotion(members, "m2-id")  # leaves {m1, m3}: only m1 reachable
    assert refusal is not None and "loss of quorum" in refusal
    assert check_demotion(members, "m3-id") is None


def test_a_learner_has_no_vote_to_lose() -> None:
    view = raft_view_of(status(1, 1, (1, 2), {2: True, 3: False}, learners=(3,)))
    stored = [manager("m1", 1, leader=True), manager("m2", 2), manager("m3", 3)]
    members = member_views(view, stored)
    assert ManagerView("m3-id", False, voter=False) in members
    assert check_demotion(members, "m3-id") is None
    assert check_demotion(members, "m2-id") is None  # leaves {m1}: reachable, quorum 1


def test_a_member_no_node_names_still_votes() -> None:
    view = raft_view_of(status(1, 1, (1, 2, 3), {2: True, 3: False}))
    members = member_views(view, [manager("m1", 1, leader=True), manager("m2", 2)])
    assert ManagerView("raft:3", False) in members
    refusal = check_demotion(members, "m2-id")
    assert refusal is not None and "quorum" in refusal


# --- removal -------------------------------------------------------------------------------


def test_a_node_is_removed_once_it_is_no_raft_member() -> None:
    view, (m1, m2, _m3) = after_force_new_cluster()
    down_m1 = replace(m1, status=NodeStatus(state=NodeState.DOWN))
    assert check_removal(down_m1, view, force=False) is None
    refusal = check_removal(m1, view, force=False)
    assert refusal is not None and "is not down" in refusal
    assert check_removal(m1, view, force=True) is None
    refusal = check_removal(replace(m2, status=NodeStatus(state=NodeState.DOWN)), view, force=True)
    assert refusal is not None and "demote it first" in refusal


def test_a_member_being_demoted_is_removed_only_once_it_left() -> None:
    view = raft_view_of(status(1, 1, (1, 2, 3), {2: True, 3: True}))
    leaving = manager("m3", 3, desired=NodeRole.WORKER, state=NodeState.DOWN)
    refusal = check_removal(leaving, view, force=True)
    assert refusal is not None and "still a member of the Raft cluster" in refusal
    left = RaftView(raft_id=1, leader_id=1, voters=frozenset({1, 2}))
    assert check_removal(leaving, left, force=False) is None


# --- the node calls ------------------------------------------------------------------------


def store_with(stored: list[Node]) -> MemoryStore:
    store = MemoryStore.local(clock=lambda: 1_000.0)

    def create(tx: object) -> None:
        tx.create(Cluster(id="c" * 25))  # type: ignore[attr-defined]
        for n in stored:
            tx.create(n)  # type: ignore[attr-defined]

    store.update(create)
    return store


def test_after_force_new_cluster_old_managers_are_demoted_and_removed() -> None:
    view, stored = after_force_new_cluster()
    stored = [
        n if n.id == "m2-id" else replace(n, status=NodeStatus(NodeState.DOWN)) for n in stored
    ]
    store = store_with(stored)
    control = NodeControl(store, raft_view=lambda: view)
    rows = {r["hostname"]: r["manager_status"] for r in call(control.ls, {})["nodes"]}
    assert rows == {
        "m1": {"leader": False, "reachability": "unknown", "addr": "10.0.0.1:4242"},
        "m2": {"leader": True, "reachability": "reachable", "addr": "10.0.0.2:4242"},
        "m3": {"leader": False, "reachability": "unknown", "addr": "10.0.0.3:4242"},
    }
    assert call(control.update, {"node": "m1-id", "role": "worker"})["changed"]
    assert call(control.rm, {"node": "m1-id"})["id"] == "m1-id"
    assert call(control.rm, {"node": "m3-id", "force": True})["id"] == "m3-id"
    with pytest.raises(ControlError) as refused:
        call(control.update, {"node": "m2-id", "role": "worker"})
    assert "last manager" in refused.value.message
    assert [n.id for n in store.view(nodes.list_all)] == ["m2-id"]


def test_inspect_shows_the_live_leader() -> None:
    store = store_with([manager("m1", 1, leader=True, reach=U), manager("m2", 2)])
    control = NodeControl(store, raft_view=lambda: raft_view_of(status(1, 2, (1, 2), {2: True})))
    reply = call(control.inspect, {"node": "m1"})
    assert reply["summary"]["manager_status"]["leader"] is False
    assert reply["summary"]["manager_status"]["reachability"] == "reachable"
    assert reply["node"]["manager_status"]["leader"] is False
    full = call(control.ls, {"full": True})["nodes"]
    assert [r["object"]["manager_status"]["leader"] for r in full] == [False, True]


def test_node_updates_row_shows_the_live_manager_status_as_ls_does() -> None:
    store = store_with([manager("m1", 1, leader=True, reach=U), manager("m2", 2)])
    control = NodeControl(store, raft_view=lambda: raft_view_of(status(1, 2, (1, 2), {2: True})))
    for body in ({"node": "m1", "label_add": {"a": "b"}}, {"node": "m1"}):  # changed, or not
        row = call(control.update, body)["node"]
        assert row["manager_status"]["leader"] is False
        assert row["manager_status"]["reachability"] == "reachable"


def test_no_raft_view_no_decision() -> None:
    """A manager whose Raft member cannot say its members refuses, never guesses."""
    store = store_with([manager("m1", 1, leader=True), manager("m2", 2)])

    def silent() -> RaftView:
        raise ControlError("unavailable", "this manager's Raft member did not answer")

    control = NodeControl(store, raft_view=silent)
    for fn, body in (
        (control.rm, {"node": "m2", "force": True}),
        (control.update, {"node": "m2", "role": "worker"}),
        (control.ls, {}),
    ):
        with pytest.raises(ControlError) as refused:
            call(fn, body)
        assert refused.value.code == "unavailable"
    assert len(store.view(nodes.list_all)) == 2


def test_demoting_every_manager_in_a_row_is_refused_at_the_last() -> None:
    """``node demote m1 m2`` on two managers: m1's demotion is recorded, but m1 stays a
    Raft member until the leader takes it out; m2's must not count it as a manager that
    stays, or both are demoted and the last manager is left waiting for a voter to hand
    over to, forever, its certificate no longer renewed."""
    store = store_with([manager("m1", 1, leader=True), manager("m2", 2)])
    view = raft_view_of(status(1, 1, (1, 2), {2: True}))
    control = NodeControl(store, raft_view=lambda: view)
    assert call(control.update, {"node": "m1-id", "role": "worker"})["changed"]
    with pytest.raises(ControlError) as refused:
        call(control.update, {"node": "m2-id", "role": "worker"})
    assert "last manager" in refused.value.message
    # three managers: two may go, the third is refused while the others are on their way
    store = store_with([manager("m1", 1, leader=True), manager("m2", 2), manager("m3", 3)])
    view = raft_view_of(status(1, 1, (1, 2, 3), {2: True, 3: True}))
    control = NodeControl(store, raft_view=lambda: view)
    assert call(control.update, {"node": "m1-id", "role": "worker"})["changed"]
    assert call(control.update, {"node": "m2-id", "role": "worker"})["changed"]
    with pytest.raises(ControlError) as refused:
        call(control.update, {"node": "m3-id", "role": "worker"})
    assert "last manager" in refused.value.message


def test_a_manager_still_joining_raft_is_not_removed() -> None:
    """A joining manager is added to Raft before its Raft id is recorded on its Node: a
    ``node rm --force`` in between would leave a learner no Node names, never removed."""
    joining = replace(manager("m2", 2), manager_status=None)
    view = raft_view_of(status(1, 1, (1,), {2: True}, learners=(2,)))
    refusal = check_removal(joining, view, force=True)
    assert refusal is not None and "demote it first" in refusal
    # demoted (its join is refused from then on), it goes
    assert check_removal(replace(joining, spec=NodeSpec()), view, force=True) is None


def test_a_member_not_heard_from_yet_keeps_its_recorded_reachability() -> None:
    """A member just added (or a leader just elected) has no first-hand word of it yet:
    that is no sign it is down, so what the leader recorded stands (the demotion of
    another right after a third manager joined was refused as losing quorum)."""
    leading = status(1, 1, (1, 2, 3), {2: True, 3: False})
    never = PeerInfo(3, "tcp://10.0.0.3:4242", False, None)
    view = raft_view_of(replace(leading, peers={**leading.peers, 3: never}))
    assert view.reachability(3, R) is R and view.reachability(3, U) is U
    assert view.reachability(2, U) is R  # heard from: first-hand
    silent = raft_view_of(leading)  # heard from, long ago: unreachable
    assert silent.reachability(3, R) is U
