"""The Raft core: a deterministic state machine with no I/O, threads or clocks.

Rules:
- Every input arrives through `tick`, `step`, `propose*` and `transfer_leadership`; every
  effect leaves through `ready()` (messages to send, entries and hard state to persist,
  entries to apply) and is acknowledged by `advance()`.
- Roles change only in the `_become_*` methods. Sending appends to the outbox.
- Terms: a message of a higher term makes this node a follower of that term (except vote
  requests a node ignores while it has heard from a live leader within an election timeout,
  and pre-votes, which never change a term); a message of a lower term is answered with
  the current term (so a stale leader steps down) or dropped.
- A leader commits only entries of its own term, by counting matches (Figure 8).
- Configuration changes are entries; a node applies one when the shell has applied it
  (`advance`), and a leader proposes at most one that is not yet applied.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from actors.proposal_errors import NotLeader, ProposalDropped
from actors.raft_node.election import TRANSFER, Election
from actors.raft_node.memory_storage import MemoryStorage
from actors.raft_node.progress import Progress
from actors.raft_node.raft_log import RaftLog
from actors.raft_node.ready import (
    PeerStatus,
    Ready,
    Status,
    apply_conf_change,
    decode_conf_change,
    encode_conf_change,
)
from actors.raft_node.replication import Logger, NullLogger
from actors.raft_node.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    RaftState,
    Storage,
)

__all__ = [
    "MemoryStorage",
    "PeerStatus",
    "RaftCore",
    "Ready",
    "Status",
    "decode_conf_change",
    "encode_conf_change",
]

MT = MessageType
LEADER, FOLLOWER = RaftState.LEADER, RaftState.FOLLOWER
PRE_CANDIDATE, CANDIDATE = RaftState.PRE_CANDIDATE, RaftState.CANDIDATE


class RaftCore(Election):
    """One Raft member. Driving it (the shell's loop, see `Ready` for the order):

    - every tick interval: `tick()`; for every message received: `step(message)`; then
      `rd = ready()`, carry it out, `advance(rd)`.
    - proposals: `propose(data)` returns the index; remember (index, term). A proposal
      committed iff the committed entry at that index has that term; a committed entry with
      another term means it was dropped (fail its future). When `state` leaves LEADER, the
      outcome of pending proposals is unknown until their index commits: wait for it, or
      fail them at once as "leadership lost, outcome unknown".
    - membership: `propose_conf_change(ADD_LEARNER)` first; once `is_caught_up(id, lag)`
      holds on the leader (replicating and within `lag` entries of the commit index),
      `propose_conf_change(PROMOTE)`. One change at a time (ProposalDropped otherwise).
      Before removing or demoting the leader, `transfer_leadership(other)`.
    - snapshots: after `advance`, at an applied index i, call
      `storage.create_snapshot(i, core.conf_state, data)` then `storage.compact(j)` with
      j <= i; followers needing compacted entries get the snapshot automatically. A Ready
      with `snapshot` set means: replace the state machine with `snapshot.data`.
    - restart: a new RaftCore over the same storage; restore the state machine from
      `storage.snapshot().data`; committed entries after it are delivered again.
    - `peers` is used only when the storage holds no configuration: the initial voters, or
      for a joining node the current voters (it stays passive until it is added).
    """

    def __init__(
        self,
        node_id: int,
        peers: Sequence[int],
        storage: Storage,
        *,
        election_tick: int = 10,
        heartbeat_tick: int = 1,
        rng: random.Random,
        pre_vote: bool = True,
        check_quorum: bool = True,
        max_inflight: int = 256,
        max_size_per_msg: int = 1 << 20,
        snapshot_retry_ticks: int | None = None,
        logger: Logger | None = None,
    ) -> None:
        if node_id <= 0:
            raise ValueError("node ids are positive")
        if not 0 < heartbeat_tick < election_tick:
            raise ValueError("need 0 < heartbeat_tick < election_tick")
        self.id = node_id
        self._storage = storage
        self._rng = rng
        self._election_tick = election_tick
        self._heartbeat_tick = heartbeat_tick
        self._pre_vote = pre_vote
        self._check_quorum = check_quorum
        self._max_inflight = max_inflight
        self._max_size = max_size_per_msg
        self._snapshot_retry = snapshot_retry_ticks or 5 * election_tick
        self._log_events: Logger = logger or NullLogger()
        self._log = RaftLog(storage)
        self._msgs: list[Message] = []
        self._progress: dict[int, Progress] = {}
        self._votes: dict[int, bool] = {}
        self._pending_bcast = False
        self._commit_dirty = False
        self._tick_count = 0

        hs, conf = storage.initial_state()
        if not conf.voters and not conf.learners:
            conf = ConfState(voters=tuple(sorted(set(peers))))
        log = self._log
        log.committed = min(max(hs.commit, log.committed), log.last_index())
        # Replay configuration changes committed after the snapshot (§6 of the thesis):
        # the shell will re-apply these entries, the configuration must hold already.
        for e in log.entries(log.applied + 1, log.committed + 1):
            if e.type is EntryType.CONF_CHANGE:
                conf = apply_conf_change(conf, decode_conf_change(e.data))
        self._conf = conf
        self._conf_applied = log.committed
        self._set_conf_sets()
        self._term = hs.term
        self._vote = hs.vote
        self._prev_hs = HardState(term=hs.term, vote=hs.vote, commit=log.committed)
        self._state = FOLLOWER
        self._lead = 0
        self._lead_transferee = 0
        self._pending_conf_index = 0
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._randomized_timeout = election_tick
        self._become_follower(self._term, 0)

    # ------------------------------------------------------------------ read-only view
    @property
    def state(self) -> RaftState:
        if self._state is FOLLOWER and self.id in self._learner_set:
            return RaftState.LEARNER
        return self._state

    @property
    def term(self) -> int:
        return self._term

    @property
    def vote(self) -> int:
        return self._vote

    @property
    def leader_id(self) -> int:
        return self._lead

    @property
    def commit_index(self) -> int:
        return self._log.committed

    @property
    def applied_index(self) -> int:
        return self._log.applied

    @property
    def last_index(self) -> int:
        return self._log.last_index()

    @property
    def conf_state(self) -> ConfState:
        """The applied configuration; pass it to `storage.create_snapshot` after `advance`."""
        return self._conf

    @property
    def voters(self) -> tuple[int, ...]:
        return self._conf.voters

    @property
    def learners(self) -> tuple[int, ...]:
        return self._conf.learners

    @property
    def lead_transferee(self) -> int:
        return self._lead_transferee

    def term_at(self, index: int) -> int:
        """Term of the entry at `index`, 0 when compacted or absent."""
        return self._log.term_or_zero(index)

    def status(self) -> Status:
        progress = {}
        if self._state is LEADER:
            for pid, pr in self._progress.items():
                heard = None if pr.last_heard < 0 else self._tick_count - pr.last_heard
                progress[pid] = PeerStatus(
                    match=pr.match,
                    next=pr.next,
                    state=pr.state,
                    inflight=len(pr.inflights),
                    recent_active=pr.recent_active or pid == self.id,
                    ticks_since_heard=0 if pid == self.id else heard,
                    is_learner=pr.is_learner,
                )
        return Status(
            id=self.id,
            term=self._term,
            vote=self._vote,
            state=self.state,
            leader_id=self._lead,
            commit=self._log.committed,
            applied=self._log.applied,
            last_index=self._log.last_index(),
            conf_state=self._conf,
            lead_transferee=self._lead_transferee,
            progress=progress,
        )

    # ------------------------------------------------------------------ inputs
    def tick(self) -> None:
        if self._state is LEADER:
            self._tick_leader()
            return
        self._election_elapsed += 1
        if self._promotable() and self._election_elapsed >= self._randomized_timeout:
            self._election_elapsed = 0
            self._hup()

    def propose(self, data: bytes) -> int:
        """Append `data` to the leader's log; returns its index. The proposal commits iff the
        committed entry at that index has the term `self.term` had at this call."""
        self._check_can_propose()
        if not data:
            raise ValueError("empty data is reserved for the leader's no-op entry")
        index = self._log.last_index() + 1
        self._append_local((Entry(index=index, term=self._term, data=data),))
        return index

    def propose_batch(self, datas: Iterable[bytes]) -> int:
        """Propose several values at once; returns the index of the first (the rest follow)."""
        self._check_can_propose()
        first = index = self._log.last_index() + 1
        term = self._term
        entries = []
        for data in datas:
            if not data:
                raise ValueError("empty data is reserved for the leader's no-op entry")
            entries.append(Entry(index=index, term=term, data=data))
            index += 1
        self._append_local(entries)
        return first

    def propose_conf_change(self, change: ConfChange) -> int:
        """Propose one membership change; returns its index. Raises ProposalDropped while
        another change is not yet applied on this leader, ValueError if it makes no sense."""
        self._check_can_propose()
        if self._pending_conf_index > self._log.applied:
            raise ProposalDropped("a configuration change is still pending")
        node, kind = change.node_id, change.type
        is_voter, is_learner = node in self._voter_set, node in self._learner_set
        if kind is ConfChangeType.ADD_LEARNER and (is_voter or is_learner):
            raise ValueError(f"{node} is already a member")
        if kind is ConfChangeType.PROMOTE and not is_learner:
            raise ValueError(f"{node} is not a learner")
        if kind is ConfChangeType.DEMOTE and not is_voter:
            raise ValueError(f"{node} is not a voter")
        if kind is ConfChangeType.REMOVE and not (is_voter or is_learner):
            raise ValueError(f"{node} is not a member")
        if not apply_conf_change(self._conf, change).voters:
            raise ValueError("the change would leave no voters")
        index = self._log.last_index() + 1
        entry = Entry(
            index=index,
            term=self._term,
            data=encode_conf_change(change),
            type=EntryType.CONF_CHANGE,
        )
        self._append_local((entry,))
        self._pending_conf_index = index
        return index

    def transfer_leadership(self, to: int) -> None:
        """Hand leadership to voter `to` (§3.10): bring its log up to date, then TIMEOUT_NOW.
        Proposals are refused until it completes or an election timeout passes."""
        if self._state is not LEADER:
            raise NotLeader(self._lead)
        if to == self.id or to not in self._voter_set:
            raise ValueError(f"cannot transfer leadership to {to}")
        if self._lead_transferee == to:
            return
        self._lead_transferee = to
        self._election_elapsed = 0
        self._log_events.info("raft.transfer.started", raft_id=self.id, to=to)
        if self._progress[to].match == self._log.last_index():
            self._send(MT.TIMEOUT_NOW, to)
        else:
            self._send_append(to)

    def step(self, m: Message) -> None:
        if m.term > self._term:
            if m.type in (MT.VOTE, MT.PRE_VOTE):
                in_lease = (
                    self._check_quorum
                    and self._lead != 0
                    and self._election_elapsed < self._election_tick
                )
                if in_lease and m.context != TRANSFER:
                    return  # a live leader exists: this is a disruptive (or removed) node
            if m.type is MT.PRE_VOTE or (m.type is MT.PRE_VOTE_RESPONSE and not m.reject):
                pass  # pre-votes never change terms
            elif m.type in (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT):
                self._become_follower(m.term, m.src)
            else:
                self._become_follower(m.term, 0)
        elif m.term < self._term:
            if m.type in (MT.APPEND, MT.HEARTBEAT) and (self._check_quorum or self._pre_vote):
                self._send(MT.APPEND_RESPONSE, m.src)  # our term makes a stale leader step down
            elif m.type is MT.PRE_VOTE:
                self._send(MT.PRE_VOTE_RESPONSE, m.src, reject=True)
            return

        if m.type in (MT.VOTE, MT.PRE_VOTE):
            self._handle_vote(m)
        elif self._state is LEADER:
            self._step_leader(m)
        elif self._state is FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    # ------------------------------------------------------------------ ready / advance
    def has_ready(self) -> bool:
        log = self._log
        return bool(
            self._msgs
            or log.unstable
            or log.unstable_snapshot is not None
            or self._pending_bcast
            or self._commit_dirty
            or log.has_next_committed()
            or self._hard_state() is not self._prev_hs
        )

    def ready(self) -> Ready | None:
        """What to persist, send and apply now, or None. Call `advance` before the next.

        A leader whose followers' acks moved the commit index, with nothing new to send,
        gives the entries that committed first, in a Ready of their own: the appends that
        tell the followers the new index come in the next one. Building them (one per
        follower) thus follows the writers' answers instead of preceding them."""
        log = self._log
        if not (
            self._commit_dirty
            and not self._pending_bcast
            and self._state is LEADER
            and log.has_next_committed()
        ):
            self._flush()
        hs = self._hard_state()  # the last one itself while unchanged
        changed = hs is not self._prev_hs
        msgs, unstable, snapshot = self._msgs, log.unstable, log.unstable_snapshot
        committed = log.next_committed()
        if not (msgs or unstable or committed or changed or snapshot is not None):
            return None  # the round's last call: nothing built
        return Ready(
            messages=tuple(msgs),
            entries=tuple(unstable),
            hard_state=hs if changed else None,
            snapshot=snapshot,
            committed_entries=tuple(committed),
        )

    def advance(self, rd: Ready) -> None:
        log = self._log
        if rd.snapshot is not None:
            log.stable_snapshot_to(rd.snapshot.metadata.index)
            log.applied_to(rd.snapshot.metadata.index)
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.term)
        if rd.hard_state is not None:
            self._prev_hs = rd.hard_state
        if rd.committed_entries:
            for e in rd.committed_entries:
                if e.type is EntryType.CONF_CHANGE and e.index > self._conf_applied:
                    self._conf_applied = e.index
                    self._apply_conf_change(decode_conf_change(e.data))
            log.applied_to(rd.committed_entries[-1].index)
        del self._msgs[: len(rd.messages)]

    # ------------------------------------------------------------------ roles
    def _reset(self, term: int) -> None:
        if term != self._term:
            self._term = term
            self._vote = 0
        self._lead = 0
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._randomized_timeout = self._election_tick + self._rng.randrange(self._election_tick)
        self._lead_transferee = 0
        self._votes = {}
        self._progress = {}
        self._pending_conf_index = 0
        self._pending_bcast = self._commit_dirty = False

    def _become_follower(self, term: int, lead: int) -> None:
        was_leader = self._state is LEADER
        self._reset(term)
        self._state = FOLLOWER
        self._lead = lead
        if was_leader:
            self._log_events.info("raft.leader.stepped_down", raft_id=self.id, term=term)

    def _become_pre_candidate(self) -> None:
        self._state = PRE_CANDIDATE
        self._votes = {}
        self._lead = 0

    def _become_candidate(self) -> None:
        self._reset(self._term + 1)
        self._vote = self.id
        self._state = CANDIDATE

    def _become_leader(self) -> None:
        self._reset(self._term)
        self._state = LEADER
        self._lead = self.id
        last = self._log.last_index()
        for pid in (*self._conf.voters, *self._conf.learners):
            self._progress[pid] = Progress(
                last + 1, self._max_inflight, is_learner=pid in self._learner_set
            )
        me = self._progress[self.id]
        me.match = last
        me.become_replicate()
        me.recent_active = True
        self._pending_conf_index = last + 1  # no conf change until the no-op is applied
        self._log_events.info("raft.election.won", raft_id=self.id, term=self._term)
        self._append_local((Entry(index=last + 1, term=self._term),))
        self._flush()

    # ------------------------------------------------------------------ helpers
    def _hard_state(self) -> HardState:
        """The hard state now: the last one persisted itself while none of it changed
        (``ready`` and ``has_ready`` tell a change by identity)."""
        hs = self._prev_hs
        if hs.term == self._term and hs.vote == self._vote and hs.commit == self._log.committed:
            return hs
        return HardState(term=self._term, vote=self._vote, commit=self._log.committed)

    def _check_can_propose(self) -> None:
        if self._state is not LEADER:
            raise NotLeader(self._lead)
        if self._lead_transferee:
            raise ProposalDropped(f"leadership is being transferred to {self._lead_transferee}")

    def _set_conf_sets(self) -> None:
        self._voter_set = frozenset(self._conf.voters)
        self._learner_set = frozenset(self._conf.learners)

    def _apply_conf_change(self, change: ConfChange) -> None:
        self._conf = apply_conf_change(self._conf, change)
        self._set_conf_sets()
        self._log_events.info(
            "raft.conf.applied",
            raft_id=self.id,
            change=change.type.name,
            member=change.node_id,
            voters=self._conf.voters,
        )
        if self._state is not LEADER:
            if self._state is not FOLLOWER and not self._promotable():
                self._become_follower(self._term, 0)
            return
        if not self._promotable():
            self._become_follower(self._term, 0)  # we were removed or demoted: step down
            return
        members = (*self._conf.voters, *self._conf.learners)
        for pid in list(self._progress):
            if pid not in members:
                del self._progress[pid]
        for pid in members:
            pr = self._progress.get(pid)
            if pr is None:
                pr = self._progress[pid] = Progress(self._log.last_index() + 1, self._max_inflight)
                self._pending_bcast = True
            pr.is_learner = pid in self._learner_set
        if self._lead_transferee and self._lead_transferee not in self._voter_set:
            self._lead_transferee = 0
        if self._maybe_commit():
            self._commit_dirty = True
