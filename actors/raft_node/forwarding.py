"""Where a write goes: appended here (a leader), forwarded to the leader, or held until one
is known. Owned by the loop thread.

Rules (SwarmKit/etcd):
- Every write of a loop round is proposed with ONE `propose_batch`; a follower forwards
  the round's writes to the leader in as few requests as fit a frame (a group, the entries
  of one proposal, is never split).
- A write made while no leader is known is held (up to ``leader_wait``) and proposed or
  forwarded once one is; past that it fails with NotLeader.
- A write a follower forwarded here is never forwarded again: without leadership it fails
  with NotLeader and its follower answers its caller.
- A write forwarded to a leader that is no longer the leader (another one, or none, before
  it answered) fails at once with ProposalDropped, not after the forward timeout. It is
  not re-forwarded: the old leader may have appended it and it may still commit; the
  store's version checks let the control API retry it safely (`actors.control.writes`).
- A leader whose log's disk is full (``no_room``: RaftLoop.no_room) appends nothing: the
  round's writes, its own and those forwarded to it, fail with StorageFull naming the
  disk; they are taken again once space is freed. Raft's own entries (an election's, a
  membership change's) still use the room kept ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future

from actors.proposal_errors import NotLeader, ProposalDropped, ProposalError, StorageFull
from actors.raft_node.commands import Forwarded
from actors.raft_node.core import RaftCore
from actors.raft_node.frames import group_within
from actors.raft_node.proposals import AppliedWaiters, Completion, Proposals, reject
from actors.raft_node.types import RaftState
from api.limits import RAFT_BATCH_BYTES

__all__ = ["Forwarding", "Group", "forward_parts"]

Group = tuple[tuple[bytes, ...], Completion]  # one proposal's entries and its outcome


def forward_parts(groups: list[Group], budget: int = RAFT_BATCH_BYTES) -> list[list[Group]]:
    """Writes to forward, in requests that each fit a frame (a group is never split)."""
    return group_within(groups, lambda g: sum(len(d) for d in g[0]), budget)


class Forwarding:
    """Proposes, forwards and holds the loop's writes (the module's rules)."""

    def __init__(
        self,
        node_id: int,
        core: RaftCore,
        proposals: Proposals,
        waiters: AppliedWaiters,
        *,
        forward: Callable[[int, Sequence[bytes]], Future[int]],
        answered: Callable[[Forwarded], None],
        clock: Callable[[], float],
        leader_wait: float,
        no_room: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._id = node_id
        self._core = core
        self._proposals = proposals
        self._waiters = waiters
        self._forward_to = forward
        self._answered = answered  # puts the leader's answer back on the inbox
        self._clock = clock
        self._leader_wait = leader_wait
        self._no_room = no_room  # why the log's disk has no room for new writes, or None
        # forwards awaiting the leader's answer: token -> (leader, groups)
        self._forwarding: dict[int, tuple[int, list[Group]]] = {}
        self._seq = 0
        # local writes made while no leader was known: (deadline, datas, future)
        self._held: list[tuple[float, tuple[bytes, ...], Completion]] = []

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def propose(self, groups: list[Group], remote: list[Group]) -> None:
        """Propose this round's local ``groups`` and the ``remote`` ones followers
        forwarded here, in one batch."""
        core = self._core
        all_groups = groups + remote
        if core.state is RaftState.LEADER and (why := self._no_room()) is not None:
            error = StorageFull(why)
            for _, f in all_groups:
                reject(f, error)
            return
        datas = [d for g, _ in all_groups for d in g] if len(all_groups) > 1 else all_groups[0][0]
        try:
            first = core.propose_batch(datas)
        except NotLeader as exc:
            for _, f in remote:  # never forward twice
                reject(f, exc)
            lead = exc.leader_id
            if not groups:
                return
            if lead and lead != self._id:
                for part in forward_parts(groups):
                    self._forward(lead, part)
            else:  # no leader known (an election): hold them until one is
                deadline = self._clock() + self._leader_wait
                self._held.extend((deadline, g, f) for g, f in groups)
            return
        except ProposalDropped as exc:
            for _, f in all_groups:
                reject(f, exc)
            return
        term = core.term
        add = self._proposals.add
        index = first - 1
        for g, f in all_groups:
            index += len(g)
            add(index, term, f)

    def _forward(self, lead: int, groups: list[Group]) -> None:
        datas = [d for g, _ in groups for d in g] if len(groups) > 1 else groups[0][0]
        self._seq += 1
        token = self._seq
        self._forwarding[token] = (lead, groups)
        reply = self._forward_to(lead, datas)
        answered = self._answered
        reply.add_done_callback(lambda f: answered(Forwarded(token, f)))

    def release_held(self) -> None:
        """Propose the held writes once a leader is known; fail the expired ones."""
        if self._core.leader_id:
            held, self._held = self._held, []
            groups = [(g, f) for _, g, f in held if not f.done()]
            if groups:
                self.propose(groups, [])
            return
        now, held = self._clock(), self._held
        expired = 0
        while expired < len(held) and held[expired][0] <= now:
            reject(held[expired][2], NotLeader(None))
            expired += 1
        if expired:
            del held[:expired]

    def leader_changed(self, lead: int, term: int) -> None:
        """Fail the writes still waiting for another leader's answer (the module's rules)."""
        if not self._forwarding:
            return
        error = ProposalDropped(
            f"leader changed (now {lead or 'none'}, term {term}); "
            "the write may or may not have been applied"
        )
        for token, (dst, groups) in list(self._forwarding.items()):
            if dst != lead:
                del self._forwarding[token]
                for _, f in groups:
                    reject(f, error)

    def answered(self, answer: Forwarded, applied_index: int) -> None:
        """The leader answered a forward: its writes complete once applied here too."""
        got = self._forwarding.pop(answer.token, None)
        if got is None:
            return  # failed already: the leader changed before it answered
        groups, reply = got[1], answer.reply
        exc = reply.exception()
        if exc is not None:
            for _, f in groups:
                reject(f, exc)
            return
        index = reply.result() - sum(len(g) for g, _ in groups)
        for g, f in groups:
            index += len(g)
            self._waiters.add(index, f)
        self._waiters.applied(applied_index)

    def fail_all(self, error: ProposalError) -> None:
        """The node stops: fail the forwarded and the held writes."""
        forwarding, self._forwarding = self._forwarding, {}
        for _, groups in forwarding.values():
            for _, f in groups:
                reject(f, error)
        held, self._held = self._held, []
        for _, _, f in held:
            reject(f, error)
