"""A tiny Raft group and its Node objects for the membership planner's pure tests: it
applies plans the way the keeper and Raft do (status writes only over what they were
planned from; a removal, a promotion or a handover changes the group) and keeps the
leader's view of its peers."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field, replace

from actors.ca.certs import create_csr, generate_node_key, issue_node_certificate
from actors.ca.root import create_root_ca
from actors.node.membership.plan import (
    AwaitVoter,
    GroupView,
    MarkManager,
    MarkWorker,
    MembershipPlan,
    MembershipStep,
    PeerView,
    PromoteLearner,
    RemoveMember,
    TransferLeadership,
    plan_membership,
)
from api.enums import NodeRole, Reachability
from api.ids import new_id
from api.objects import ManagerStatus, Node
from api.specs import NodeSpec
from transport.keys import generate_keypair

M, W = NodeRole.MANAGER, NodeRole.WORKER
NOW = 1_700_000_000.0
LAST_INDEX = 100


@functools.cache
def certificate(role: NodeRole) -> bytes:
    """A real node certificate naming ``role`` (the planner reads only its role)."""
    rng = random.Random(int(role is M))
    ca = create_root_ca(NOW, rng)
    issued = issue_node_certificate(
        ca,
        create_csr(generate_node_key(), generate_keypair().public),
        node_id=new_id(rng),
        role=role,
        cluster_id="c" * 25,
        now=NOW,
        rng=rng,
    )
    return issued.cert_pem


@dataclass
class Member:
    reachable: bool = True
    match: int | None = LAST_INDEX
    heard: bool = True  # False: the leader has not heard from it at all yet


@dataclass
class Group:
    """``raft_ids`` of the voters and learners, the leader's, each member's progress as the
    leader sees it, and the Node objects (by id, in the order the store lists them)."""

    leader: int = 1
    voters: list[int] = field(default_factory=list)
    learners: list[int] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    last_index: int = LAST_INDEX
    taken: list[MembershipStep] = field(default_factory=list)

    # -- building ----------------------------------------------------------------------------
    def manager(
        self,
        node_id: str,
        raft_id: int,
        *,
        learner: bool = False,
        reachable: bool = True,
        match: int | None = LAST_INDEX,
        status: ManagerStatus | None = None,
    ) -> Group:
        """A manager Node that is a member of the group (a voter unless ``learner``)."""
        (self.learners if learner else self.voters).append(raft_id)
        self.members[raft_id] = Member(reachable, match)
        self.nodes[node_id] = Node(
            id=node_id,
            spec=NodeSpec(desired_role=M),
            role=M,
            manager_status=status or ManagerStatus(raft_id=raft_id, addr=f"10.0.0.{raft_id}:1"),
            certificate=certificate(M),
        )
        return self

    def worker(self, node_id: str, *, cert: NodeRole | None = W) -> Group:
        self.nodes[node_id] = Node(
            id=node_id,
            spec=NodeSpec(desired_role=W),
            role=W,
            certificate=certificate(cert) if cert is not None else b"",
        )
        return self

    def set(self, node_id: str, **changes: object) -> None:
        self.nodes[node_id] = replace(self.nodes[node_id], **changes)  # type: ignore[arg-type]

    def want(self, node_id: str, role: NodeRole) -> None:
        node = self.nodes[node_id]
        self.set(node_id, spec=replace(node.spec, desired_role=role))

    def status(self, node_id: str) -> ManagerStatus | None:
        return self.nodes[node_id].manager_status

    # -- the leader's view -------------------------------------------------------------------
    def view(self, *, as_raft_id: int | None = None) -> GroupView:
        me = self.leader if as_raft_id is None else as_raft_id
        return GroupView(
            raft_id=me,
            is_leader=me == self.leader,
            last_index=self.last_index,
            voters=tuple(self.voters),
            learners=tuple(self.learners),
            peers={
                rid: PeerView(m.reachable, m.match, m.heard)
                for rid, m in self.members.items()
                if rid != me
            },
        )

    def plan(self) -> MembershipPlan:
        return plan_membership(self.view(), list(self.nodes.values()))

    # -- carrying a plan out (the keeper, then Raft) ---------------------------------------
    def apply(self, plan: MembershipPlan) -> None:
        for change in plan.statuses:
            node = self.nodes.get(change.node_id)
            if node is not None and node.manager_status == change.was:
                self.set(change.node_id, manager_status=change.status)
        step = plan.step
        if step is None:
            return
        self.taken.append(step)
        if isinstance(step, MarkWorker):
            self.set(step.node_id, role=W, manager_status=None)
        elif isinstance(step, MarkManager):
            self.set(step.node_id, role=M)
        elif isinstance(step, TransferLeadership):
            self.leader = step.to
            self.members.setdefault(step.to, Member())
        elif isinstance(step, RemoveMember):
            self._leave(step.raft_id)
        elif isinstance(step, PromoteLearner):
            self.learners.remove(step.raft_id)
            self.voters.append(step.raft_id)
        else:
            assert isinstance(step, AwaitVoter)

    def _leave(self, raft_id: int) -> None:
        for members in (self.voters, self.learners):
            if raft_id in members:
                members.remove(raft_id)

    def join_as_learner(self, node_id: str, raft_id: int, match: int | None = 0) -> None:
        """What ``raft.join`` does for a promoted node that restarted as a manager."""
        self.learners.append(raft_id)
        self.members[raft_id] = Member(True, match)
        self.set(node_id, manager_status=ManagerStatus(raft_id=raft_id, addr="10.0.1.1:1"))

    def round(self) -> MembershipPlan:
        plan = self.plan()
        self.apply(plan)
        return plan

    def settle(self, rounds: int = 20) -> list[MembershipStep]:
        """Rounds until a plan is empty; the steps taken on the way."""
        start = len(self.taken)
        for _ in range(rounds):
            if not self.round().effects:
                return self.taken[start:]
        raise AssertionError(f"no fixed point after {rounds} rounds: {self.taken[start:]}")


def reachability(group: Group, node_id: str) -> Reachability:
    status = group.status(node_id)
    assert status is not None
    return status.reachability
