"""The leader's membership policy (actors/node/membership/plan.py), pure: manager_status
follows Raft, demotions leave Raft before the role changes, promotions record the role and
promote the learner once caught up, and one Raft change happens at a time."""

from __future__ import annotations

from dataclasses import replace

from actors.node.membership.plan import (
    PROMOTE_GAP,
    AwaitVoter,
    MarkManager,
    MarkWorker,
    MembershipPlan,
    PromoteLearner,
    RemoveMember,
    SetManagerStatus,
    TransferLeadership,
    certified_role,
    plan_membership,
)
from api.enums import NodeRole, Reachability
from api.objects import ManagerStatus, Node
from api.specs import NodeSpec
from tests.unit.node.membership_world import LAST_INDEX, Group, M, W, certificate, reachability


def three_managers() -> Group:
    """m1 (Raft id 1, the leader), m2 and m3, every status current."""
    g = Group().manager("m1", 1).manager("m2", 2).manager("m3", 3)
    g.settle()
    return g


# --- manager_status follows Raft ---------------------------------------------------------


def test_the_leader_flag_and_reachability_follow_raft() -> None:
    g = Group().manager("m1", 1).manager("m2", 2).manager("m3", 3, reachable=False)
    plan = g.plan()
    assert plan.step is None
    assert {c.node_id: (c.status.leader, c.status.reachability) for c in plan.statuses} == {
        "m1": (True, Reachability.REACHABLE),
        "m2": (False, Reachability.REACHABLE),
        "m3": (False, Reachability.UNREACHABLE),
    }


def test_nothing_is_planned_once_the_statuses_are_current() -> None:
    g = three_managers()
    assert g.plan() == MembershipPlan()


def test_a_member_that_goes_quiet_is_unreachable_until_heard_again() -> None:
    g = three_managers()
    g.members[3].reachable = False
    assert [c.node_id for c in g.round().statuses] == ["m3"]
    assert reachability(g, "m3") is Reachability.UNREACHABLE
    g.members[3].reachable = True
    g.round()
    assert reachability(g, "m3") is Reachability.REACHABLE


def test_a_member_not_heard_from_yet_keeps_the_reachability_its_join_recorded() -> None:
    # the join records a new member reachable (it just reached the leader); a keeper round
    # before its first answer must not write it unreachable, or a follower, which reads
    # the record, refuses a demotion for a loss of quorum that is not there
    g = three_managers()
    g.members[3] = replace(g.members[3], reachable=False, heard=False)
    assert g.plan().statuses == ()
    assert reachability(g, "m3") is Reachability.REACHABLE
    g.members[3] = replace(g.members[3], heard=True)
    g.round()
    assert reachability(g, "m3") is Reachability.UNREACHABLE


def test_a_new_leader_takes_the_flag_from_the_old_one() -> None:
    g = three_managers()
    g.leader = 2
    g.members[1] = g.members.pop(2)
    plan = g.round()
    assert {c.node_id: c.status.leader for c in plan.statuses} == {"m1": False, "m2": True}
    assert plan.step is None


def test_a_node_out_of_the_group_is_neither_leader_nor_reachable() -> None:
    g = three_managers()
    g.voters.remove(3)  # removed from Raft, its Node not updated yet
    (change,) = g.plan().statuses
    assert change.node_id == "m3"
    assert change.status == ManagerStatus(3, "10.0.0.3:1", False, Reachability.UNKNOWN)


def test_nodes_without_a_raft_id_are_left_alone() -> None:
    g = three_managers().worker("w1")
    joining = NodeSpec(desired_role=M)
    g.nodes["j1"] = Node(id="j1", spec=joining, role=M, manager_status=ManagerStatus(raft_id=0))
    assert g.plan() == MembershipPlan()


def test_a_status_write_names_what_it_was_planned_from() -> None:
    g = Group().manager("m1", 1)
    (change,) = g.plan().statuses
    assert change == SetManagerStatus(
        "m1",
        was=ManagerStatus(1, "10.0.0.1:1"),
        status=ManagerStatus(1, "10.0.0.1:1", True, Reachability.REACHABLE),
    )
    g.set("m1", manager_status=ManagerStatus(1, "10.0.0.9:1"))  # moved since the plan
    g.apply(MembershipPlan(statuses=(change,)))
    assert g.status("m1") == ManagerStatus(1, "10.0.0.9:1")  # not overwritten


def test_a_follower_plans_nothing() -> None:
    g = Group().manager("m1", 1).manager("m2", 2)
    g.want("m2", W)
    assert plan_membership(g.view(as_raft_id=2), list(g.nodes.values())) == MembershipPlan()


# --- demotion ------------------------------------------------------------------------------


def test_a_demoted_follower_leaves_raft_then_becomes_a_worker() -> None:
    g = three_managers()
    g.want("m3", W)
    assert g.settle() == [RemoveMember("m3", 3), MarkWorker("m3")]
    assert g.voters == [1, 2]
    assert g.nodes["m3"].role is W and g.nodes["m3"].manager_status is None


def test_a_demoted_leader_hands_over_before_it_is_removed() -> None:
    g = three_managers()
    g.members[3].match = LAST_INDEX - 1
    g.want("m1", W)
    assert g.settle() == [TransferLeadership("m1", to=2), RemoveMember("m1", 1), MarkWorker("m1")]
    assert g.leader == 2 and g.voters == [2, 3]
    m2 = g.status("m2")
    assert m2 is not None and m2.leader and m2.reachability is Reachability.REACHABLE


def test_the_handover_goes_to_the_most_caught_up_reachable_voter() -> None:
    g = (
        Group()
        .manager("m1", 1)
        .manager("m2", 2, match=80)
        .manager("m3", 3, match=95)
        .manager("m4", 4, match=99, reachable=False)
        .manager("m5", 5, match=100, learner=True)
    )
    g.want("m1", W)
    assert g.plan().step == TransferLeadership("m1", to=3)


def test_a_handover_between_equally_caught_up_voters_picks_the_highest_raft_id() -> None:
    g = Group().manager("m1", 1).manager("m2", 2).manager("m3", 3)
    g.want("m1", W)
    assert g.plan().step == TransferLeadership("m1", to=3)


def test_a_voter_with_no_progress_counts_as_furthest_behind() -> None:
    g = Group().manager("m1", 1).manager("m2", 2, match=None).manager("m3", 3, match=1)
    g.want("m1", W)
    assert g.plan().step == TransferLeadership("m1", to=3)


def test_a_demoted_leader_with_no_reachable_voter_waits() -> None:
    g = Group().manager("m1", 1).manager("m2", 2, reachable=False)
    g.manager("m3", 3, learner=True)  # caught up, but the demotion holds the round
    g.want("m1", W)
    plan = g.plan()
    assert plan.step == AwaitVoter("m1")
    g.members[2].reachable = True
    assert g.plan().step == TransferLeadership("m1", to=2)


def test_a_demoted_learner_is_removed() -> None:
    g = three_managers().manager("m4", 4, learner=True, match=3)
    g.settle()
    g.want("m4", W)
    assert g.settle() == [RemoveMember("m4", 4), MarkWorker("m4")]
    assert g.learners == []


def test_a_demoted_node_already_out_of_raft_is_marked_a_worker_at_once() -> None:
    g = three_managers()
    g.voters.remove(3)
    g.want("m3", W)
    assert g.plan().step == MarkWorker("m3")


# --- promotion -----------------------------------------------------------------------------


def test_a_promoted_worker_is_marked_a_manager_then_promoted_once_caught_up() -> None:
    g = three_managers().worker("w1")
    g.want("w1", M)
    assert g.settle() == [MarkManager("w1")]
    # it renews into a manager certificate, restarts and joins as a learner
    g.set("w1", certificate=certificate(M))
    g.join_as_learner("w1", 9, match=LAST_INDEX - PROMOTE_GAP - 1)
    assert g.settle() == []
    g.members[9].match = LAST_INDEX - PROMOTE_GAP
    assert g.settle() == [PromoteLearner(9)]
    assert 9 in g.voters and g.learners == []
    assert g.status("w1") == ManagerStatus(9, "10.0.1.1:1", False, Reachability.REACHABLE)


def test_a_promotion_waits_while_the_node_holds_its_old_manager_certificate() -> None:
    g = three_managers().worker("w1", cert=M)  # demoted, not yet restarted as a worker
    g.want("w1", M)
    assert g.plan().step is None
    g.set("w1", certificate=certificate(W))  # it renewed and restarted as a worker
    assert g.plan().step == MarkManager("w1")


def test_a_promotion_of_a_node_without_a_readable_certificate_goes_ahead() -> None:
    g = three_managers().worker("w1", cert=None).worker("w2")
    g.set("w2", certificate=b"-----BEGIN CERTIFICATE-----\ngarbage\n")
    g.want("w1", M)
    g.want("w2", M)
    assert g.settle() == [MarkManager("w1"), MarkManager("w2")]


def test_a_learner_is_promoted_only_within_the_gap() -> None:
    for match, promoted in [
        (LAST_INDEX, True),
        (LAST_INDEX - PROMOTE_GAP, True),
        (LAST_INDEX - PROMOTE_GAP - 1, False),
        (None, False),  # no progress known
    ]:
        g = three_managers().manager("m4", 4, learner=True, match=match)
        assert (g.plan().step == PromoteLearner(4)) is promoted, match


def test_a_learner_whose_node_does_not_want_to_be_a_manager_is_not_promoted() -> None:
    g = three_managers().manager("m4", 4, learner=True)
    g.want("m4", W)
    assert g.plan().step == RemoveMember("m4", 4)  # the demotion, not a promotion
    lone = three_managers()
    lone.learners.append(7)  # a learner no Node names
    lone.members[7] = lone.members[3]
    assert lone.plan().step is None


def test_learners_are_promoted_one_a_round_in_raft_order() -> None:
    g = three_managers()
    g.manager("m5", 5, learner=True, match=10).manager("m4", 4, learner=True)
    g.manager("m6", 6, learner=True)
    assert g.settle() == [PromoteLearner(4), PromoteLearner(6)]
    assert g.learners == [5]


# --- one change at a time ------------------------------------------------------------------


def test_one_membership_change_a_round_in_node_order() -> None:
    g = three_managers().manager("m4", 4).manager("m5", 5)
    g.settle()
    g.want("m5", W)
    g.want("m4", W)
    first = g.plan()
    assert first.step == RemoveMember("m4", 4)
    assert g.settle() == [
        RemoveMember("m4", 4),
        MarkWorker("m4"),
        RemoveMember("m5", 5),
        MarkWorker("m5"),
    ]


def test_a_role_change_comes_before_a_learner_promotion() -> None:
    g = three_managers().worker("w1").manager("m4", 4, learner=True)
    g.settle()
    assert g.taken[-1] == PromoteLearner(4)
    g2 = three_managers().worker("w1").manager("m4", 4, learner=True)
    g2.want("w1", M)
    assert g2.settle() == [MarkManager("w1"), PromoteLearner(4)]


def test_status_writes_go_with_the_round_s_step() -> None:
    g = three_managers()
    g.members[2].reachable = False
    g.want("m3", W)
    plan = g.plan()
    assert [c.node_id for c in plan.statuses] == ["m2"]
    assert plan.step == RemoveMember("m3", 3)
    assert plan.effects == (*plan.statuses, plan.step)


# --- the certificate's word ----------------------------------------------------------------


def test_certified_role_reads_the_stored_certificate() -> None:
    assert certified_role(Node(id="a", certificate=certificate(M))) is NodeRole.MANAGER
    assert certified_role(Node(id="a", certificate=certificate(W))) is NodeRole.WORKER
    assert certified_role(Node(id="a")) is None
    assert certified_role(Node(id="a", certificate=b"not a certificate")) is None


def test_a_node_demoted_while_it_joined_raft_is_taken_out_again() -> None:
    """Promoted, then demoted before its ``raft.join`` was answered: the demotion records
    it a worker (no member yet), then the join adds it and records its Raft id. It must
    leave Raft again and lose the id, not stay a learner that nothing ever removes."""
    g = three_managers()
    g.worker("m4")
    g.want("m4", M)
    assert g.settle() == [MarkManager("m4")]
    g.want("m4", W)
    assert g.settle() == [MarkWorker("m4")]
    g.join_as_learner("m4", 4)  # the join, checked before the demotion, lands now
    assert g.settle() == [RemoveMember("m4", 4), MarkWorker("m4")]
    assert g.learners == [] and g.voters == [1, 2, 3]
    assert g.nodes["m4"].role is W and g.nodes["m4"].manager_status is None
