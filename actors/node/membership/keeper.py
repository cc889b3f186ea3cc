"""The membership keeper: a leader-only periodic job that reads Raft's status and the Node
objects, asks the planner (actors/node/membership/plan.py) what to do, and does it.

Rules:
- A `PeriodicActor` runs it (in the leader group, actors/node/tree/leader_group.py) every
  `KEEPER_INTERVAL` seconds on the supervisor's timer.
- The status writes go in one store batch, each only if the Node's manager status is
  still the one it was planned from; then the one membership step. A Raft change waits
  for its outcome (at most ``timeout``), so the next round sees it applied.
- A member Raft has never heard from keeps its recorded reachability (the join records
  it reachable: it had just reached the leader) for `UNHEARD_GRACE` seconds from the
  first round that met it so, then it is planned from Raft's view (unreachable): a
  manager killed before its first answer, or dead before this leader won, must not stay
  reachable in ``node ls`` for ever (SwarmKit counts a peer inactive until it answers).
- What a round expects to meet is logged and left to the next round: Raft busy or gone
  (its status timing out), leadership lost, a write refused by the store (conflict, not
  leader), a change Raft refuses (one pending, no longer a member). Anything else is a
  bug: the tick raises and the supervisor restarts the actor (and counts it).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from actors.log import get_logger
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
    SetManagerStatus,
    TransferLeadership,
    plan_membership,
)
from actors.node.tree.leader_group import RaftHolder
from actors.proposal_errors import NotLeader, ProposalDropped
from actors.raft_node.actor import RaftNode, RaftStatus
from actors.raft_node.types import ConfChange, ConfChangeType
from actors.store import MemoryStore, StoreError, WriteTx, nodes
from api.enums import NodeRole

__all__ = [
    "KEEPER_INTERVAL",
    "UNHEARD_GRACE",
    "MembershipKeeper",
    "group_view",
    "still_unheard",
]

KEEPER_INTERVAL: Final = 0.5
# seconds a member never heard from keeps its record: a live one answers the leader's
# first heartbeat within a tick or two, also on a loaded machine well within this
UNHEARD_GRACE: Final = 10.0
RAFT_TIMEOUT: Final = 5.0

# What Raft answers a round with when it cannot act now: a change still pending or
# dropped, not the leader any more (ProposalDropped, NotLeader), a change that no longer
# applies (ValueError), no answer in time (TimeoutError).
RAFT_REFUSALS: Final = (ProposalDropped, NotLeader, ValueError, TimeoutError)

_log = get_logger("node")


def still_unheard(
    status: RaftStatus, since: dict[int, float], now: float, grace: float
) -> frozenset[int]:
    """The members never heard from whose grace is not over at ``now``; ``since`` (Raft
    id -> the first round that met it unheard) is brought up to date."""
    unheard = {pid for pid, p in status.peers.items() if p.last_heard is None}
    for pid in list(since):
        if pid not in unheard:
            del since[pid]
    for pid in unheard:
        since.setdefault(pid, now)
    return frozenset(pid for pid in unheard if now - since[pid] < grace)


def group_view(status: RaftStatus, unheard: frozenset[int] = frozenset()) -> GroupView:
    """What the planner reads of a `RaftStatus`; ``unheard``: the members never heard
    from that keep their record (`still_unheard`)."""
    return GroupView(
        raft_id=status.node_id,
        is_leader=status.is_leader,
        last_index=status.last_index,
        voters=tuple(status.voters),
        learners=tuple(status.learners),
        peers={
            pid: PeerView(p.reachable, p.match, heard=pid not in unheard)
            for pid, p in status.peers.items()
        },
    )


class MembershipKeeper:
    """A `actors.periodic.PeriodicJob`: one planned round per tick."""

    def __init__(
        self,
        store: MemoryStore,
        raft: RaftHolder,
        *,
        interval: float = KEEPER_INTERVAL,
        timeout: float = RAFT_TIMEOUT,
        unheard_grace: float = UNHEARD_GRACE,
    ) -> None:
        self._store = store
        self._raft = raft
        self._interval = interval
        self._timeout = timeout
        self._unheard_grace = unheard_grace
        self._unheard_since: dict[int, float] = {}  # Raft id -> first round it was unheard

    def interval(self) -> float:
        return self._interval

    def tick(self, now: float) -> None:
        node = self._raft.node
        if node is None:
            return
        try:
            status = node.status(self._timeout)
        except TimeoutError:
            _log.info("node.manager_status.skipped", reason="raft status timed out")
            return
        if not status.is_leader:
            self._unheard_since.clear()
            return
        unheard = still_unheard(status, self._unheard_since, now, self._unheard_grace)
        plan = plan_membership(group_view(status, unheard), self._store.view(nodes.list_all))
        self.carry_out(node, plan)

    def carry_out(self, node: RaftNode, plan: MembershipPlan) -> None:
        if plan.statuses:
            try:
                self._store.update(lambda tx: _write_statuses(tx, plan.statuses))
            except StoreError as exc:  # not leader any more, a conflict: next round
                _log.info("node.manager_status.skipped", error=str(exc)[:200])
                return
        if plan.step is not None:
            self._take(node, plan.step)

    def _take(self, node: RaftNode, step: MembershipStep) -> None:
        if isinstance(step, MarkWorker):
            # out of Raft: its Raft data goes; a later promotion joins afresh with a new id
            self._set_role(step.node_id, NodeRole.WORKER, clear_manager_status=True)
        elif isinstance(step, MarkManager):
            # it renews into a manager certificate, restarts as a manager and joins Raft
            # afresh (raft.join: a learner, promoted when caught up)
            self._set_role(step.node_id, NodeRole.MANAGER, clear_manager_status=False)
        elif isinstance(step, AwaitVoter):
            _log.warning("raft.demote.waiting", node=step.node_id, reason="no reachable voter")
        elif isinstance(step, TransferLeadership):
            _log.info("raft.leadership.transferring", node=step.node_id, to=step.to)
            try:
                node.transfer_leadership(step.to).result(self._timeout)
            except RAFT_REFUSALS as exc:
                _log.info("raft.leadership.transfer_retrying", node=step.node_id, error=str(exc))
        elif isinstance(step, RemoveMember):
            change = ConfChange(ConfChangeType.REMOVE, step.raft_id)
            try:
                index = node.propose_conf_change(change).result(self._timeout)
            except RAFT_REFUSALS as exc:
                _log.info("raft.member.remove_retrying", node=step.node_id, error=str(exc)[:200])
            else:
                _log.info(
                    "raft.member.removed", node=step.node_id, raft_id=step.raft_id, index=index
                )
        elif isinstance(step, PromoteLearner):
            change = ConfChange(ConfChangeType.PROMOTE, step.raft_id)
            try:
                index = node.propose_conf_change(change).result(self._timeout)
            except RAFT_REFUSALS as exc:
                _log.info("raft.learner.promote_retrying", raft_id=step.raft_id, error=str(exc))
            else:
                _log.info("raft.learner.promoted", raft_id=step.raft_id, index=index)

    def _set_role(self, node_id: str, role: NodeRole, *, clear_manager_status: bool) -> None:
        def write(tx: WriteTx) -> None:
            current = nodes.get(tx, node_id)
            if current is None:
                return
            if current.role is role and not (clear_manager_status and current.manager_status):
                return
            if clear_manager_status:
                tx.update(replace(current, role=role, manager_status=None))
            else:
                tx.update(replace(current, role=role))

        try:
            self._store.update(write)
        except StoreError as exc:
            _log.info("node.role.change_retrying", node=node_id, error=str(exc)[:200])
            return
        _log.info("node.role.changed", node=node_id, role=role.value)


def _write_statuses(tx: WriteTx, changes: tuple[SetManagerStatus, ...]) -> None:
    for change in changes:
        current = nodes.get(tx, change.node_id)
        if current is not None and current.manager_status == change.was:
            tx.update(replace(current, manager_status=change.status))
