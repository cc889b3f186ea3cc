"""``swarm leave``'s decisions (actors/node/membership/leave.py): Docker's refusal of a
manager's leave in each of its variants, from the manager counts; who leaves Raft first;
what of a state dir is swarm state."""

from __future__ import annotations

from actors.node.membership.leave import (
    LAST_MANAGER,
    LOCKED,
    LOST_CONSENSUS,
    MANAGER_REFUSAL,
    REFUSAL_TAIL,
    ManagerCounts,
    StateEntry,
    leave_refusal,
    leaves_raft,
    manager_counts,
    swarm_state,
)
from api.enums import NodeRole, Reachability
from api.objects import ManagerStatus, Node

M, W = NodeRole.MANAGER, NodeRole.WORKER

# Docker's own words (moby daemon/cluster/swarm.go, Leave), as the docker CLI prints them
DOCKER_QUORUM_LOST_2 = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing this node leaves 1 managers out of 2. Without a Raft quorum your swarm will be "
    "inaccessible. The only way to restore a swarm that has lost consensus is to reinitialize "
    "it with `--force-new-cluster`. Use `--force` to suppress this message."
)
DOCKER_LAST = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing the last manager erases all current state of the swarm. Use `--force` to "
    "ignore this message. "
)


def test_a_worker_always_leaves() -> None:
    assert leave_refusal(W, False, counts=ManagerCounts(1, 0, False)) is None
    assert leave_refusal(W, True) is None


def test_a_manager_with_force_leaves() -> None:
    assert leave_refusal(M, True, counts=ManagerCounts(1, 0, True)) is None
    assert leave_refusal(M, True, serving=False) is None


def test_the_last_manager_is_told_it_erases_the_swarm() -> None:
    assert leave_refusal(M, False, counts=ManagerCounts(1, 0, True)) == DOCKER_LAST
    assert DOCKER_LAST == MANAGER_REFUSAL + LAST_MANAGER


def test_a_leave_that_loses_the_quorum_names_the_counts() -> None:
    assert leave_refusal(M, False, counts=ManagerCounts(2, 0, True)) == DOCKER_QUORUM_LOST_2
    # 3 managers, one already unreachable: 1 of 3 left
    message = leave_refusal(M, False, counts=ManagerCounts(2, 1, True))
    assert message is not None
    assert "Removing this node leaves 1 managers out of 3. Without a Raft quorum" in message
    assert message.endswith(REFUSAL_TAIL)


def test_a_leave_that_keeps_the_quorum_is_refused_without_counts() -> None:
    # 3 reachable: 2 are left, a majority of 3 (Docker: reachable - 2 <= unreachable)
    assert leave_refusal(M, False, counts=ManagerCounts(3, 0, True)) == (
        MANAGER_REFUSAL + REFUSAL_TAIL
    )
    assert leave_refusal(M, False, counts=ManagerCounts(5, 1, True)) == (
        MANAGER_REFUSAL + REFUSAL_TAIL
    )


def test_an_unreachable_manager_or_one_without_counts_gets_the_plain_refusal() -> None:
    # not among the reachable ones (Docker's "active" false), or no leader to count with
    assert leave_refusal(M, False, counts=ManagerCounts(1, 1, False)) == (
        MANAGER_REFUSAL + REFUSAL_TAIL
    )
    assert leave_refusal(M, False, counts=None) == MANAGER_REFUSAL + REFUSAL_TAIL


def test_a_locked_manager_is_told_to_unlock_first_unless_forced() -> None:
    assert leave_refusal(M, False, locked=True) == (
        "Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore "
        "this message."
    )
    assert leave_refusal(M, False, locked=True) == LOCKED
    assert leave_refusal(M, True, locked=True) is None


def test_a_manager_not_serving_may_lose_consensus() -> None:
    assert leave_refusal(M, False, serving=False) == (
        MANAGER_REFUSAL + LOST_CONSENSUS + REFUSAL_TAIL
    )


def manager(node_id: str, reachability: Reachability, role: NodeRole = M) -> Node:
    return Node(id=node_id, role=role, manager_status=ManagerStatus(1, "", False, reachability))


def test_manager_counts_follow_the_recorded_reachability() -> None:
    listed = [
        manager("m1", Reachability.REACHABLE),
        manager("m2", Reachability.REACHABLE),
        manager("m3", Reachability.UNREACHABLE),
        manager("m4", Reachability.UNKNOWN),  # neither, as Docker's managerStats
        Node(id="w1", role=W),
    ]
    assert manager_counts(listed, "m2") == ManagerCounts(2, 1, True)
    assert manager_counts(listed, "m3") == ManagerCounts(2, 1, False)
    assert manager_counts(listed, "w1") == ManagerCounts(2, 1, False)


def test_quorum_rule_matches_docker() -> None:
    # removingManagerCausesLossOfQuorum(reachable, unreachable): reachable-2 <= unreachable
    assert ManagerCounts(2, 0, True).loses_quorum
    assert not ManagerCounts(3, 0, True).loses_quorum
    assert ManagerCounts(3, 1, True).loses_quorum
    assert not ManagerCounts(4, 1, True).loses_quorum
    assert ManagerCounts(1, 0, True).last_manager and not ManagerCounts(1, 1, True).last_manager


def test_only_a_manager_with_other_members_leaves_raft() -> None:
    assert not leaves_raft(7, (7,), ())
    assert leaves_raft(7, (7, 8), ())
    assert leaves_raft(7, (7,), (9,))  # a learner joining is a member too
    assert leaves_raft(7, (8, 9), ())  # its own entry already gone: the others remain


def test_swarm_state_is_all_but_the_lock_and_live_sockets() -> None:
    entries = [
        StateEntry("lock"),
        StateEntry("swarm.sock", is_socket=True),
        StateEntry("node_id"),
        StateEntry("keys"),
        StateEntry("certificates"),
        StateEntry("worker"),
        StateEntry("raft"),
    ]
    assert swarm_state(entries, "lock") == ["certificates", "keys", "node_id", "raft", "worker"]
