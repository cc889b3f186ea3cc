"""Role rules: the quorum-safety check before a demotion and the CA's rule (api/roles.py),
the leader's steps and the node's following (actors/node/membership/roles.py)."""

from __future__ import annotations

from actors.node.membership.roles import (
    RoleStep,
    renewal_managers,
    renewal_role,
    role_restart,
    role_step,
)
from api.enums import NodeRole
from api.roles import ManagerView, check_demotion, issued_role, quorum

M, W = NodeRole.MANAGER, NodeRole.WORKER


def views(*reachable: bool) -> list[ManagerView]:
    return [ManagerView(f"m{i + 1}", r) for i, r in enumerate(reachable)]


def test_quorum() -> None:
    assert [quorum(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]


def test_the_last_manager_cannot_be_demoted() -> None:
    refusal = check_demotion(views(True), "m1")
    assert refusal is not None and "last manager" in refusal


def test_demoting_one_of_three_reachable_is_allowed() -> None:
    assert check_demotion(views(True, True, True), "m2") is None


def test_demoting_with_the_rest_unreachable_would_lose_quorum() -> None:
    # m3 unreachable: after demoting m2, only m1 of {m1, m3} is reachable, 2 needed
    refusal = check_demotion(views(True, True, False), "m2")
    assert refusal is not None and "quorum" in refusal
    # demoting the unreachable one leaves {m1, m2}, both reachable
    assert check_demotion(views(True, True, False), "m3") is None


def test_two_managers_down_to_one() -> None:
    assert check_demotion(views(True, True), "m2") is None
    assert check_demotion(views(True, False), "m1") is not None


def test_a_worker_is_not_checked() -> None:
    assert check_demotion(views(True), "w1") is None


# --- role transitions (pure) ---------------------------------------------------------------


def test_the_ca_issues_a_manager_certificate_only_when_the_desired_role_is_manager() -> None:
    assert issued_role(M, M) is M
    assert issued_role(W, M) is W  # the leader has not recorded the promotion yet
    assert issued_role(M, W) is None  # demotion under way: still a Raft member
    assert issued_role(W, W) is W


def test_a_demoted_manager_asks_its_own_ca_last() -> None:
    own_first = ("own", "m2", "m3")
    assert renewal_managers(own_first, running=M, session_role=W) == ("m2", "m3", "own")
    # otherwise the list's order: its own CA first (a renewal on schedule, a promotion)
    assert renewal_managers(own_first, running=M, session_role=M) == own_first
    assert renewal_managers(own_first, running=M, session_role=None) == own_first
    assert renewal_managers(("m1", "m2"), running=W, session_role=M) == ("m1", "m2")
    assert renewal_managers((), running=M, session_role=W) == ()


def test_the_renewer_aims_for_the_sessions_role_then_the_stores() -> None:
    assert renewal_role(W, M, M) is W
    assert renewal_role(None, W, M) is W
    assert renewal_role(None, None, M) is M


def test_a_certificate_of_the_other_role_restarts_the_node() -> None:
    assert role_restart(W, M) is M
    assert role_restart(M, W) is W
    assert role_restart(M, M) is None and role_restart(W, W) is None


def test_role_steps() -> None:
    assert role_step(M, W, M, raft_member=True) is RoleStep.LEAVE_RAFT
    assert role_step(M, W, M, raft_member=False) is RoleStep.MARK_WORKER
    assert role_step(W, M, W, raft_member=False) is RoleStep.MARK_MANAGER
    assert role_step(W, M, None, raft_member=False) is RoleStep.MARK_MANAGER
    # demoted, promoted again before it restarted as a worker: wait for its worker cert
    assert role_step(W, M, M, raft_member=False) is RoleStep.WAIT
    assert role_step(M, M, M, raft_member=True) is RoleStep.NONE
    assert role_step(W, W, W, raft_member=False) is RoleStep.NONE


def test_a_worker_still_in_raft_leaves_it() -> None:
    """Demoted while it joined Raft: recorded a worker, then made a member."""
    assert role_step(W, W, M, raft_member=True) is RoleStep.LEAVE_RAFT
    assert role_step(W, W, W, raft_member=True) is RoleStep.LEAVE_RAFT
