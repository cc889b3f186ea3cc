"""The Raft configuration as the control API sees it (pure: no store, no Raft, no clock).

Manager decisions and manager status come from Raft's membership, as in SwarmKit's
controlapi (GetMemberlist, GetMemberByNodeID, CanRemoveMember), never from the store's
node roles alone: after ``--force-new-cluster`` the store still holds the old managers as
managers, but they are no longer members.

Rules:
- `RaftView` is what the answering manager's Raft member says now: the voters and
  learners, the leader, and the members whose reachability it knows first-hand (the
  leader: every member, from its progress; a follower: the leader, whose heartbeats it
  hears). A Node is a member when the Raft id in its ``manager_status`` is one.
- `live_manager_status`: a member's ``leader`` flag is whether it leads now; its
  reachability is this manager's own (itself: reachable), else the one the leader last
  recorded in the store (followers hear only the leader). A Node whose Raft id is no
  longer a member is not the leader and its reachability is unknown (as the leader's
  membership planner records it: actors/node/membership/plan.py).
- `member_views` gives `api.roles.check_demotion` every member that stays, a member
  without a Node in the store too (it votes all the same); a member whose Node is being
  demoted already is on its way out and not counted (``node demote m1 m2`` on two managers
  would otherwise demote both, leaving the last one waiting forever for a voter to hand
  over to).
- `check_removal`: a node is removed only once it is no longer a Raft member (demote it
  first), and only when it is down unless forced. A manager without a recorded Raft id
  (joining: the leader adds it to Raft, then records its id) counts as a member until it
  is demoted: removed in between, it would stay in Raft with no Node to name it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from actors.raft_node.status import RaftStatus
from api.enums import NodeRole, NodeState, Reachability
from api.objects import ManagerStatus, Node
from api.roles import ManagerView

__all__ = [
    "RaftView",
    "check_removal",
    "is_raft_member",
    "live_manager_status",
    "member_views",
    "raft_view_of",
    "stored_raft_view",
]


@dataclass(frozen=True, slots=True)
class RaftView:
    """The Raft configuration as one manager's Raft member sees it."""

    raft_id: int  # the answering manager's own (0: none, a store without Raft)
    leader_id: int  # 0: no leader known
    voters: frozenset[int]
    learners: frozenset[int] = frozenset()
    heard: Mapping[int, bool] = field(default_factory=dict)  # first-hand reachability

    def is_member(self, raft_id: int) -> bool:
        return bool(raft_id) and (raft_id in self.voters or raft_id in self.learners)

    def reachability(self, raft_id: int, recorded: Reachability) -> Reachability:
        """Member ``raft_id``'s reachability: this manager's own knowledge, else what
        the leader ``recorded`` in the store."""
        if raft_id == self.raft_id:
            return Reachability.REACHABLE
        heard = self.heard.get(raft_id)
        if heard is None:
            return recorded
        return Reachability.REACHABLE if heard else Reachability.UNREACHABLE


def raft_view_of(status: RaftStatus) -> RaftView:
    """What the control API reads of a manager's `RaftStatus`."""
    # a member not heard from at all yet (just added, or this member just started) is
    # not known unreachable: what the leader recorded stands for it (SwarmKit counts a
    # new member active until its sends fail)
    peers = {pid: p for pid, p in status.peers.items() if p.last_heard is not None}
    if status.is_leader:
        heard = {pid: peer.reachable for pid, peer in peers.items()}
    else:
        leader = peers.get(status.leader_id)
        heard = {} if leader is None else {leader.id: leader.reachable}
    return RaftView(
        raft_id=status.node_id,
        leader_id=status.leader_id,
        voters=frozenset(status.voters),
        learners=frozenset(status.learners),
        heard=heard,
    )


def stored_raft_view(nodes: Sequence[Node]) -> RaftView:
    """The view of a store that no Raft replicates (a local store, as in the control
    API's tests): the recorded manager statuses of the nodes that are managers."""
    members = [
        n.manager_status
        for n in nodes
        if n.role is NodeRole.MANAGER and n.manager_status is not None and n.manager_status.raft_id
    ]
    leader = next((ms.raft_id for ms in members if ms.leader), 0)
    return RaftView(raft_id=0, leader_id=leader, voters=frozenset(ms.raft_id for ms in members))


def live_manager_status(node: Node, view: RaftView) -> ManagerStatus | None:
    """``node``'s manager status as ``view`` says it now (None: it has none)."""
    ms = node.manager_status
    if ms is None or not ms.raft_id:
        return ms
    if not view.is_member(ms.raft_id):
        return replace(ms, leader=False, reachability=Reachability.UNKNOWN)
    return replace(
        ms,
        leader=ms.raft_id == view.leader_id,
        reachability=view.reachability(ms.raft_id, ms.reachability),
    )


def is_raft_member(node: Node, view: RaftView) -> bool:
    ms = node.manager_status
    return ms is not None and view.is_member(ms.raft_id)


def _joining(node: Node) -> bool:
    """A manager with no Raft id recorded yet: it may be in Raft already (module rules)."""
    ms = node.manager_status
    return (
        node.role is NodeRole.MANAGER
        and node.spec.desired_role is NodeRole.MANAGER
        and (ms is None or not ms.raft_id)
    )


def member_views(view: RaftView, nodes: Sequence[Node]) -> list[ManagerView]:
    """Every Raft member that stays, as `api.roles.check_demotion` reads it, by node id
    (a member no Node names is ``raft:ID``, reachable only if this manager heard it; one
    whose Node is being demoted is left out)."""
    views: list[ManagerView] = []
    named: set[int] = set()
    for n in nodes:
        ms = n.manager_status
        if ms is None or not view.is_member(ms.raft_id) or ms.raft_id in named:
            continue
        named.add(ms.raft_id)
        if n.spec.desired_role is NodeRole.WORKER:
            continue  # being demoted: it leaves Raft, whatever else is demoted
        reach = view.reachability(ms.raft_id, ms.reachability)
        views.append(
            ManagerView(n.id, reach is Reachability.REACHABLE, voter=ms.raft_id in view.voters)
        )
    for raft_id in sorted((view.voters | view.learners) - named):
        reach = view.reachability(raft_id, Reachability.UNKNOWN)
        views.append(
            ManagerView(
                f"raft:{raft_id}", reach is Reachability.REACHABLE, voter=raft_id in view.voters
            )
        )
    return views


def check_removal(node: Node, view: RaftView, *, force: bool) -> str | None:
    """Why ``node rm`` of ``node`` is refused (None: allowed)."""
    if is_raft_member(node, view):
        if node.spec.desired_role is NodeRole.WORKER:
            return (
                f"rejected removal of node {node.id}: it is being demoted and is still a "
                "member of the Raft cluster; retry once it has left (node ls shows it as a "
                "worker)"
            )
        return (
            f"rejected removal of node {node.id}: it is a manager and a member of the Raft "
            "cluster; demote it first (swarmctl node demote)"
        )
    if _joining(node):
        return (
            f"rejected removal of node {node.id}: it is a manager joining the Raft cluster; "
            "demote it first (swarmctl node demote)"
        )
    if node.status.state is not NodeState.DOWN and not force:
        return (
            f"node {node.id} is not down ({node.status.state.value}) and can't be removed; "
            "stop it first or use --force"
        )
    return None
