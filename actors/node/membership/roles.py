"""How a node's role follows its Node object (pure: no store, no Raft, no clock).

- The leader's side, `role_step`: the next step towards a node's desired role, taken one
  membership change at a time by the planner (actors/node/membership/plan.py). A
  demotion takes the node out of Raft first, then records its role as worker; a promotion
  records the role at once (the node then renews into a manager certificate and joins
  Raft afresh).
- The node's side: `renewal_role` is what its certificate renewer aims for (its session's
  word on the Node's role, else its own store's); `renewal_managers` whom it asks (a
  demoted manager asks its own CA last: its store stopped following Raft when the
  leader took it out, so it still holds the demotion under way and refuses);
  `role_restart` tells it, after a renewal, which role to restart its parts in (None:
  keep running). The CA issues a
  manager certificate only after the leader recorded the promotion and a worker one only
  after the node left Raft (api/roles.py `issued_role`), so the certificate decides.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TypeVar

from api.enums import NodeRole

__all__ = ["RoleStep", "renewal_managers", "renewal_role", "role_restart", "role_step"]

T = TypeVar("T")


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
    again before it restarted as a worker still runs its stale manager parts: the
    promotion waits until it has renewed into a worker certificate (and so restarted as a
    worker, its Raft data gone), then it joins afresh."""
    if desired_role is NodeRole.WORKER and (role is NodeRole.MANAGER or raft_member):
        # a Node recorded a worker can still be a member: demoted while it joined Raft
        # (the join adds it after the demotion recorded it a worker)
        return RoleStep.LEAVE_RAFT if raft_member else RoleStep.MARK_WORKER
    if desired_role is NodeRole.MANAGER and role is NodeRole.WORKER:
        return RoleStep.WAIT if cert_role is NodeRole.MANAGER else RoleStep.MARK_MANAGER
    return RoleStep.NONE


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


def renewal_managers(
    managers: Sequence[T], *, running: NodeRole, session_role: NodeRole | None
) -> tuple[T, ...]:
    """The order the renewer asks ``managers`` in (a manager's list names itself first).
    A manager whose session says it is a worker now left Raft before the leader recorded
    it: its own store never heard, so its own CA comes last."""
    if running is NodeRole.MANAGER and session_role is NodeRole.WORKER and managers:
        return (*managers[1:], managers[0])
    return tuple(managers)


def role_restart(running: NodeRole, certified: NodeRole) -> NodeRole | None:
    """The role to restart the node's parts in once its certificate says ``certified``
    while it runs as ``running`` (None: nothing to do)."""
    return certified if certified is not running else None
