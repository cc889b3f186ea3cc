"""Role changes that keep the Raft group safe (pure: no store, no Raft, no clock).

`check_demotion` is what the control API asks before it records a demotion (SwarmKit's
rules): the last manager cannot be demoted, and a change that would leave fewer reachable
voters than the new group's quorum is refused (the group could not commit the change, or
anything after it). The leader-side reconciler (actors/node/membership/join.py) then turns the
recorded ``desired_role`` into Raft membership one change at a time.

A node's role is what its certificate says (OU swarm-manager | swarm-worker); the process
runs the child set of that role. `issued_role` is the CA's rule for a renewal, from the
Node in the store: manager only while the desired role is manager (a promotion: the leader
sets ``role`` to manager at once); during a demotion (desired worker, still a Raft member)
the node keeps its manager certificate until the leader has taken it out of Raft and set
its role to worker, so renewal is refused meanwhile (Raft traffic of a member must stay
authorized). `renewal_role` is what the node's renewer aims for (its session's word on
the Node's role, else its own store's). `role_restart` tells the node, after a renewal,
which role to restart in (None: keep running).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from api.enums import NodeRole

__all__ = [
    "ManagerView",
    "RoleStep",
    "check_demotion",
    "issued_role",
    "quorum",
    "renewal_role",
    "role_restart",
    "role_step",
]


@dataclass(frozen=True, slots=True)
class ManagerView:
    node_id: str
    reachable: bool  # as the leader last saw it (its own node is reachable)


def quorum(voters: int) -> int:
    return voters // 2 + 1


def check_demotion(managers: Iterable[ManagerView], node_id: str) -> str | None:
    """Why demoting ``node_id`` is refused (None: allowed). ``managers``: every node that
    is a manager now (its store role), with its reachability."""
    current = list(managers)
    if not any(m.node_id == node_id for m in current):
        return None  # not a manager: nothing to take out of Raft
    after = [m for m in current if m.node_id != node_id]
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


def renewal_role(
    session_role: NodeRole | None, store_role: NodeRole | None, cert_role: NodeRole
) -> NodeRole:
    """The role the renewer wants its certificate to have: what the leader's dispatcher
    last said about this node, else this node's own store (a manager), else the
    certificate's own (nothing known: renew on schedule only)."""
    if session_role is not None:
        return session_role
    if store_role is not None:
        return store_role
    return cert_role


def role_restart(running: NodeRole, certified: NodeRole) -> NodeRole | None:
    """The role to restart the node's subsystems in once its certificate says
    ``certified`` while it runs as ``running`` (None: nothing to do). A manager certificate
    is issued only after the leader recorded the promotion; a worker one only after the
    node left the Raft configuration (`issued_role`), so the certificate decides."""
    return certified if certified is not running else None


class RoleStep(enum.Enum):
    NONE = "none"  # role and desired role agree
    LEAVE_RAFT = "leave_raft"  # demotion: still a member, take it out (leader: hand over)
    MARK_WORKER = "mark_worker"  # demotion: out of Raft, record role worker
    MARK_MANAGER = "mark_manager"  # promotion: record role manager (it renews and joins)
    WAIT = "wait"  # promotion of a node still holding its pre-demotion manager certificate


def role_step(
    role: NodeRole, desired_role: NodeRole, cert_role: NodeRole | None, raft_member: bool
) -> RoleStep:
    """The leader's next step towards a node's desired role. A node demoted and promoted
    again before it restarted as a worker still runs its stale manager subsystems: the
    promotion waits until it has renewed into a worker certificate (and so restarted as a
    worker, its Raft data gone), then it joins afresh."""
    if desired_role is NodeRole.WORKER and role is NodeRole.MANAGER:
        return RoleStep.LEAVE_RAFT if raft_member else RoleStep.MARK_WORKER
    if desired_role is NodeRole.MANAGER and role is NodeRole.WORKER:
        return RoleStep.WAIT if cert_role is NodeRole.MANAGER else RoleStep.MARK_MANAGER
    return RoleStep.NONE
