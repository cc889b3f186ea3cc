"""The leader's membership policy as a pure planner: from Raft's view of the group and the
Node objects, what one round of the keeper (actors/node/membership/keeper.py) writes and
asks of Raft. No store, no Raft, no clock: the keeper reads both and carries the plan out.

Rules:
- Only the leader plans (a follower's view gives an empty plan).
- ``manager_status`` follows Raft: a member's ``leader`` flag says whether it is the
  leader, its reachability is what the leader's progress says (heard from within an
  election timeout; the leader itself is reachable, a member the leader has no progress
  for or has not heard from at all yet keeps what it had: the join recorded it reachable,
  as it had just reached the leader; the keeper marks it heard, hence unreachable, once
  its grace is over). A Node whose Raft id is no longer a member is not
  the leader and its reachability is unknown. A Node without a Raft id is left alone.
  Only changes are planned (`SetManagerStatus`, each with the status it was planned from,
  so the keeper skips a Node that changed meanwhile); all of them in one store batch.
- Raft takes one configuration change at a time, so a plan holds at most one membership
  step, the first that applies, in this order:
  1. role changes, Node by Node in the order given (`role_step`): a demoted member
     leaves Raft (`RemoveMember`; the leader itself first hands leadership to the most
     caught-up reachable voter, `TransferLeadership`, or waits while there is none,
     `AwaitVoter`); a demoted Node out of Raft is recorded as a worker (`MarkWorker`;
     one recorded a worker already that a late ``raft.join`` made a member, demoted while
     it joined, leaves Raft the same way and is marked again, its Raft id cleared); a
     promoted worker is recorded as a manager (`MarkManager`: it renews into a manager
     certificate and joins Raft as a learner). A promotion of a Node that still holds a
     manager certificate from before its demotion waits (nothing planned for it).
  2. else the first learner (in Raft's order) whose Node wants to be a manager and whose
     match index is within `PROMOTE_GAP` of the leader's last index becomes a voter
     (`PromoteLearner`).
- Time is no input: no rule here depends on it (a retry is simply the next round).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from actors.ca.certs import CertificateError, read_node_certificate
from actors.node.membership.roles import RoleStep, role_step
from api.enums import NodeRole, Reachability
from api.objects import ManagerStatus, Node

__all__ = [
    "PROMOTE_GAP",
    "AwaitVoter",
    "GroupView",
    "MarkManager",
    "MarkWorker",
    "MembershipPlan",
    "MembershipStep",
    "PeerView",
    "PromoteLearner",
    "RemoveMember",
    "SetManagerStatus",
    "TransferLeadership",
    "certified_role",
    "plan_membership",
]

PROMOTE_GAP: Final = 20  # entries a learner may lag and still be promoted


# --- what the planner reads ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerView:
    """The leader's progress for one member."""

    reachable: bool  # heard from within an election timeout
    match: int | None = None  # the highest log index known to be on it (None: unknown)
    heard: bool = True  # False: not heard from at all yet, within the keeper's grace


@dataclass(frozen=True, slots=True)
class GroupView:
    """Raft's group as this node sees it (built by the keeper from `RaftNode.status`)."""

    raft_id: int  # this node's
    is_leader: bool
    last_index: int
    voters: tuple[int, ...]
    learners: tuple[int, ...] = ()
    peers: Mapping[int, PeerView] = field(default_factory=dict)  # the others, by Raft id

    @property
    def members(self) -> frozenset[int]:
        return frozenset((*self.voters, *self.learners))


# --- effects -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetManagerStatus:
    """Write ``status`` on ``node_id`` if its manager status is still ``was``."""

    node_id: str
    was: ManagerStatus
    status: ManagerStatus


@dataclass(frozen=True, slots=True)
class RemoveMember:
    """Propose removing ``raft_id`` (``node_id``'s, being demoted) from the group."""

    node_id: str
    raft_id: int


@dataclass(frozen=True, slots=True)
class TransferLeadership:
    """The leader is being demoted: hand leadership to the voter ``to`` first."""

    node_id: str
    to: int


@dataclass(frozen=True, slots=True)
class AwaitVoter:
    """The leader is being demoted but no other voter is reachable: nothing can change."""

    node_id: str


@dataclass(frozen=True, slots=True)
class MarkWorker:
    """``node_id`` has left Raft: record role worker and clear its manager status."""

    node_id: str


@dataclass(frozen=True, slots=True)
class MarkManager:
    """``node_id`` is promoted: record role manager."""

    node_id: str


@dataclass(frozen=True, slots=True)
class PromoteLearner:
    """Propose making the caught-up learner ``raft_id`` a voter."""

    raft_id: int


MembershipStep = (
    RemoveMember | TransferLeadership | AwaitVoter | MarkWorker | MarkManager | PromoteLearner
)


@dataclass(frozen=True, slots=True)
class MembershipPlan:
    """The status writes (one batch, first) and the one membership step of a round."""

    statuses: tuple[SetManagerStatus, ...] = ()
    step: MembershipStep | None = None

    @property
    def effects(self) -> tuple[SetManagerStatus | MembershipStep, ...]:
        return (*self.statuses, *((self.step,) if self.step is not None else ()))


# --- the planner ---------------------------------------------------------------------------


def plan_membership(group: GroupView, nodes: Sequence[Node]) -> MembershipPlan:
    """One round of the leader's membership policy (see the module docstring)."""
    if not group.is_leader:
        return MembershipPlan()
    return MembershipPlan(
        statuses=tuple(_status_changes(group, nodes)),
        step=_role_change(group, nodes) or _learner_promotion(group, nodes),
    )


def _status_changes(group: GroupView, nodes: Sequence[Node]) -> list[SetManagerStatus]:
    reach = {group.raft_id: Reachability.REACHABLE}
    for raft_id, peer in group.peers.items():
        if peer.heard:  # a member never heard from keeps its record (module rules)
            reach[raft_id] = Reachability.REACHABLE if peer.reachable else Reachability.UNREACHABLE
    members = group.members
    changes: list[SetManagerStatus] = []
    for n in nodes:
        ms = n.manager_status
        if ms is None or not ms.raft_id:
            continue
        if ms.raft_id in members:
            leader = ms.raft_id == group.raft_id
            want = replace(ms, leader=leader, reachability=reach.get(ms.raft_id, ms.reachability))
        else:
            want = replace(ms, leader=False, reachability=Reachability.UNKNOWN)
        if want != ms:
            changes.append(SetManagerStatus(n.id, ms, want))
    return changes


def _role_change(group: GroupView, nodes: Sequence[Node]) -> MembershipStep | None:
    members = group.members
    for n in nodes:
        ms = n.manager_status
        member = ms is not None and bool(ms.raft_id) and ms.raft_id in members
        step = role_step(n.role, n.spec.desired_role, certified_role(n), member)
        if step is RoleStep.NONE and n.role is NodeRole.WORKER and ms is not None and not member:
            step = RoleStep.MARK_WORKER  # out of Raft at last (see role_step): its id goes
        if step is RoleStep.MARK_WORKER:
            return MarkWorker(n.id)
        if step is RoleStep.MARK_MANAGER:
            return MarkManager(n.id)
        if step is RoleStep.LEAVE_RAFT and ms is not None:
            if ms.raft_id != group.raft_id:
                return RemoveMember(n.id, ms.raft_id)
            target = transfer_target(group)
            return AwaitVoter(n.id) if target is None else TransferLeadership(n.id, target)
    return None


def transfer_target(group: GroupView) -> int | None:
    """The reachable voter other than the leader with the highest match index (ties: the
    highest Raft id)."""
    best: tuple[int, int] | None = None
    for raft_id in group.voters:
        peer = group.peers.get(raft_id)
        if raft_id == group.raft_id or peer is None or not peer.reachable:
            continue
        key = (peer.match or 0, raft_id)
        if best is None or key > best:
            best = key
    return best[1] if best is not None else None


def _learner_promotion(group: GroupView, nodes: Sequence[Node]) -> PromoteLearner | None:
    wanted = {
        n.manager_status.raft_id
        for n in nodes
        if n.manager_status is not None and n.spec.desired_role is NodeRole.MANAGER
    }
    for raft_id in group.learners:
        peer = group.peers.get(raft_id)
        if raft_id not in wanted or peer is None or peer.match is None:
            continue
        if peer.match + PROMOTE_GAP >= group.last_index:
            return PromoteLearner(raft_id)
    return None


def certified_role(node: Node) -> NodeRole | None:
    """The role the Node's stored certificate names (None: none, or unreadable)."""
    if not node.certificate:
        return None
    return _role_in(node.certificate)


# every node's certificate is read at every round: parsing 1,000 of them was a sixth of a
# leader's busy time at 1,000 nodes (py-spy, bench/scale.py); a certificate never changes
# its bytes, and a node's new one is a new key here
@functools.lru_cache(maxsize=1 << 14)
def _role_in(certificate: bytes) -> NodeRole | None:
    try:
        return read_node_certificate(certificate).role
    except (CertificateError, ValueError):
        return None
