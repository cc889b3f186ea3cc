"""The non-leader half of Raft: elections (pre-vote, vote, the election restriction) and a
follower's handling of the leader's appends, heartbeats and snapshots.

A mixin of RaftCore, split out to keep modules small. Rules: only voters campaign, and not
while a committed configuration change is still unapplied; a pre-candidate asks for votes
for term+1 without changing its term and campaigns for real only with a quorum of pre-votes;
a vote is granted at most once per term and only to a log at least as up to date (§5.4.1);
a follower answers an append with the last index it now matches, or a rejection carrying
a hint (the next index to try and the term there) so the leader skips a whole term at once.
"""

from __future__ import annotations

import enum

from actors.raft_node.replication import Replication
from actors.raft_node.types import EntryType, Message, MessageType, RaftState

__all__ = ["TRANSFER", "Election", "VoteCount"]

LEADER, PRE_CANDIDATE = RaftState.LEADER, RaftState.PRE_CANDIDATE
TRANSFER = b"transfer"  # context of a campaign that must override leader leases
MT = MessageType


class VoteCount(enum.Enum):
    """Where an election stands after a vote: a quorum granted, a quorum refused, or not yet."""

    WON = "won"
    LOST = "lost"
    PENDING = "pending"


class Election(Replication):
    _vote: int
    _lead: int
    _conf_applied: int
    _votes: dict[int, bool]
    _pre_vote: bool

    def _become_pre_candidate(self) -> None:
        raise NotImplementedError

    def _become_candidate(self) -> None:
        raise NotImplementedError

    def _become_leader(self) -> None:
        raise NotImplementedError

    def _set_conf_sets(self) -> None:
        raise NotImplementedError

    def _promotable(self) -> bool:
        return self.id in self._voter_set

    def _hup(self, transfer: bool = False) -> None:
        if self._state is LEADER or not self._promotable():
            return
        if any(e.type is EntryType.CONF_CHANGE for e in self._log.next_committed()):
            return  # our configuration is about to change: wait until it is applied
        self._campaign(transfer)

    def _campaign(self, transfer: bool = False, pre: bool | None = None) -> None:
        if pre is None:
            pre = self._pre_vote and not transfer
        if pre:
            self._become_pre_candidate()
            kind, term = MT.PRE_VOTE, self._term + 1
        else:
            self._become_candidate()
            kind, term = MT.VOTE, self._term
        self._log_events.debug("raft.election.started", raft_id=self.id, term=term, pre=pre)
        if self._poll(self.id, True) is VoteCount.WON:
            self._won(pre)
            return
        last, last_term = self._log.last_index(), self._log.last_term()
        for v in self._conf.voters:
            if v != self.id:
                self._msgs.append(
                    Message(
                        type=kind,
                        src=self.id,
                        dst=v,
                        term=term,
                        index=last,
                        log_term=last_term,
                        context=TRANSFER if transfer else b"",
                    )
                )

    def _won(self, pre: bool) -> None:
        if pre:
            self._campaign(pre=False)
        else:
            self._become_leader()

    def _poll(self, src: int, granted: bool) -> VoteCount:
        if src in self._voter_set:
            self._votes.setdefault(src, granted)
        yes = sum(1 for g in self._votes.values() if g)
        quorum = len(self._conf.voters) // 2 + 1
        if yes >= quorum:
            return VoteCount.WON
        if len(self._votes) - yes >= quorum:
            return VoteCount.LOST
        return VoteCount.PENDING

    # ------------------------------------------------------------------ steps by role
    def _handle_vote(self, m: Message) -> None:
        resp = MT.VOTE_RESPONSE if m.type is MT.VOTE else MT.PRE_VOTE_RESPONSE
        can_vote = (
            self._vote == m.src
            or (self._vote == 0 and self._lead == 0)
            or (m.type is MT.PRE_VOTE and m.term > self._term)
        )
        if can_vote and self._log.is_up_to_date(m.index, m.log_term):
            self._msgs.append(Message(type=resp, src=self.id, dst=m.src, term=m.term))
            if m.type is MT.VOTE:
                self._election_elapsed = 0
                self._vote = m.src
        else:
            self._send(resp, m.src, reject=True)

    def _step_follower(self, m: Message) -> None:
        if m.type in (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT):
            self._election_elapsed = 0
            self._lead = m.src
            self._handle_from_leader(m)
        elif m.type is MT.TIMEOUT_NOW and self._promotable():
            self._log_events.info("raft.transfer.timeout_now", raft_id=self.id, term=self._term)
            self._campaign(transfer=True)

    def _step_candidate(self, m: Message) -> None:
        if m.type in (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT):
            self._become_follower(self._term, m.src)
            self._handle_from_leader(m)
            return
        expected = MT.PRE_VOTE_RESPONSE if self._state is PRE_CANDIDATE else MT.VOTE_RESPONSE
        if m.type is expected:
            result = self._poll(m.src, not m.reject)
            if result is VoteCount.WON:
                self._won(self._state is PRE_CANDIDATE)
            elif result is VoteCount.LOST:
                self._become_follower(self._term, 0)

    def _handle_from_leader(self, m: Message) -> None:
        log = self._log
        if m.type is MT.HEARTBEAT:
            log.commit_to(min(m.commit, log.last_index()))
            self._send(MT.HEARTBEAT_RESPONSE, m.src)
        elif m.type is MT.SNAPSHOT:
            self._handle_snapshot(m)
        elif m.index < log.committed:
            self._send(MT.APPEND_RESPONSE, m.src, index=log.committed)
        else:
            last_new = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
            if last_new is not None:
                self._send(MT.APPEND_RESPONSE, m.src, index=last_new)
            else:
                hint = log.find_conflict_by_term(min(m.index, log.last_index()), m.log_term)
                self._send(
                    MT.APPEND_RESPONSE,
                    m.src,
                    index=m.index,
                    reject=True,
                    reject_hint=hint + 1,
                    log_term=log.term_or_zero(hint),
                )

    def _handle_snapshot(self, m: Message) -> None:
        assert m.snapshot is not None
        meta = m.snapshot.metadata
        log = self._log
        if meta.index <= log.committed:
            self._send(MT.APPEND_RESPONSE, m.src, index=log.committed)
        elif log.match_term(meta.index, meta.term):
            log.commit_to(meta.index)  # we have it all already: fast-forward
            self._send(MT.APPEND_RESPONSE, m.src, index=log.last_index())
        else:
            log.restore(m.snapshot)
            self._conf = meta.conf_state
            self._conf_applied = meta.index
            self._set_conf_sets()
            self._log_events.info("raft.snapshot.restored", raft_id=self.id, index=meta.index)
            self._send(MT.APPEND_RESPONSE, m.src, index=meta.index)
