"""Role rules the CA and the control API share (pure: no store, no Raft, no clock).

A node's role is what its certificate says (OU swarm-manager | swarm-worker); the process
runs the parts of that role. These rules sit in api/ because both sides of a role change
read them: the control API before it records a demotion, the CA when it renews a
certificate; the leader's membership planner (actors/node/membership/plan.py) turns the
recorded ``desired_role`` into Raft membership one change at a time.

`check_demotion` is what the control API asks before it records a demotion (SwarmKit's
rules, on Raft's members: actors/control/raft_members.py): the last voter cannot be
demoted, and a change that would leave fewer reachable voters than the new group's quorum
is refused (the group could not commit the change, or anything after it). A node that is
no Raft member (a manager the group lost with ``--force-new-cluster``, or one not joined
yet) or only a learner is demoted freely: it has no vote to take away.

`issued_role` is the CA's rule for a renewal, from the Node in the store: manager only
while the desired role is manager (a promotion: the leader sets ``role`` to manager at
once); during a demotion (desired worker, still a Raft member) the node keeps its manager
certificate until the leader has taken it out of Raft and set its role to worker, so
renewal is refused meanwhile (Raft traffic of a member must stay authorized).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from api.enums import NodeRole

__all__ = ["ManagerView", "check_demotion", "issued_role", "quorum"]


@dataclass(frozen=True, slots=True)
class ManagerView:
    """One Raft member, by its node's id."""

    node_id: str
    reachable: bool  # as the answering manager knows it (its own node is reachable)
    voter: bool = True  # False: a learner (a manager still catching up), without a vote


def quorum(voters: int) -> int:
    return voters // 2 + 1


def check_demotion(members: Iterable[ManagerView], node_id: str) -> str | None:
    """Why demoting ``node_id`` is refused (None: allowed). ``members``: every Raft member
    now, with its reachability."""
    current = list(members)
    target = next((m for m in current if m.node_id == node_id), None)
    if target is None or not target.voter:
        return None  # no vote to take out of Raft
    after = [m for m in current if m.voter and m.node_id != node_id]
    if not after:
        return "attempting to demote the last manager of the swarm"
    reachable = sum(1 for m in after if m.reachable)
    if reachable < quorum(len(after)):
        return (
            f"can't demote node {node_id}: it would result in a loss of quorum "
            f"({reachable} of the remaining {len(after)} managers reachable, "
            f"{quorum(len(after))} needed)"
        )
    return None


def issued_role(role: NodeRole, desired_role: NodeRole) -> NodeRole | None:
    """The role the CA puts in a renewed certificate for a Node with ``role`` and
    ``desired_role`` (None: refuse for now, a demotion is under way)."""
    if desired_role is NodeRole.MANAGER:
        return role  # manager once the leader recorded the promotion (role follows)
    if role is NodeRole.MANAGER:
        return None  # demotion: still a Raft member until the leader removes it
    return NodeRole.WORKER
