"""The leader's half of Raft: sending appends, heartbeats and snapshots, counting matches.

A mixin of RaftCore, split out to keep modules small. Rules: appends are built lazily, in
`_flush` (called by `ready()`), so every proposal since the last Ready travels in one
message per follower; a follower in PROBE gets one append per response or heartbeat; in
REPLICATE at most `max_inflight` unacknowledged appends of at most `max_size_per_msg`
bytes; one whose next entry is compacted gets the snapshot. Commit moves only to an index
a quorum of voters holds whose entry is of the current term (Figure 8).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from actors.raft_node.progress import Progress, ProgressState
from actors.raft_node.raft_log import RaftLog
from actors.raft_node.types import (
    Compacted,
    ConfState,
    Entry,
    Message,
    MessageType,
    RaftState,
    Storage,
    Unavailable,
)

__all__ = ["Logger", "NullLogger", "Replication"]

LEADER = RaftState.LEADER
MT = MessageType


class Logger(Protocol):
    def debug(self, event: str, **kw: Any) -> Any: ...
    def info(self, event: str, **kw: Any) -> Any: ...


class NullLogger:
    def debug(self, event: str, **kw: Any) -> None:
        pass

    def info(self, event: str, **kw: Any) -> None:
        pass


class Replication:
    id: int
    _storage: Storage
    _log: RaftLog
    _log_events: Logger
    _msgs: list[Message]
    _progress: dict[int, Progress]
    _term: int
    _state: RaftState
    _conf: ConfState
    _voter_set: frozenset[int]
    _lead_transferee: int
    _election_elapsed: int
    _election_tick: int
    _heartbeat_elapsed: int
    _heartbeat_tick: int
    _check_quorum: bool
    _tick_count: int
    _pending_bcast: bool
    _commit_dirty: bool
    _max_size: int
    _snapshot_retry: int

    def _become_follower(self, term: int, lead: int) -> None:
        raise NotImplementedError

    def _send(
        self,
        kind: MessageType,
        to: int,
        *,
        index: int = 0,
        reject: bool = False,
        reject_hint: int = 0,
        log_term: int = 0,
    ) -> None:
        self._msgs.append(
            Message(
                type=kind,
                src=self.id,
                dst=to,
                term=self._term,
                index=index,
                reject=reject,
                reject_hint=reject_hint,
                log_term=log_term,
            )
        )

    def _append_local(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        self._log.append(entries)
        me = self._progress[self.id]
        me.match = entries[-1].index
        me.next = me.match + 1
        self._pending_bcast = True
        if len(self._voter_set) == 1:
            self._maybe_commit()

    def _maybe_commit(self) -> bool:
        progress = self._progress
        matches = sorted((progress[v].match for v in self._conf.voters), reverse=True)
        index = matches[len(matches) // 2]
        log = self._log
        if index > log.committed and log.term_or_zero(index) == self._term:
            log.commit_to(index)
            return True
        return False

    def _flush(self) -> None:
        """Send what proposals and commits since the last Ready call for."""
        if self._state is not LEADER or not (self._pending_bcast or self._commit_dirty):
            return
        if self._commit_dirty:
            self._maybe_commit()
        force = self._commit_dirty
        self._pending_bcast = self._commit_dirty = False
        for pid in self._progress:
            if pid != self.id:
                self._send_appends(pid, force)

    def _send_appends(self, to: int, send_if_empty: bool) -> None:
        pr = self._progress[to]
        sent = self._send_append(to, send_if_empty)
        while sent and pr.state is ProgressState.REPLICATE and pr.next <= self._log.last_index():
            sent = self._send_append(to, False)

    def _send_append(self, to: int, send_if_empty: bool = True) -> bool:
        pr = self._progress[to]
        if pr.is_paused():
            return False
        log = self._log
        last = log.last_index()
        try:
            prev_term = log.term(pr.next - 1) if pr.next > 1 else 0
            entries = log.entries(pr.next, last + 1, self._max_size) if pr.next <= last else []
        except Compacted:
            return self._send_snapshot(to, pr)
        except Unavailable:
            pr.become_probe()
            return False
        if not entries and not send_if_empty:
            return False
        self._msgs.append(
            Message(
                type=MT.APPEND,
                src=self.id,
                dst=to,
                term=self._term,
                index=pr.next - 1,
                log_term=prev_term,
                entries=tuple(entries),
                commit=log.committed,
            )
        )
        if entries:
            pr.sent_entries(entries[-1].index)
        return True

    def _send_snapshot(self, to: int, pr: Progress) -> bool:
        snap = self._log.unstable_snapshot or self._storage.snapshot()
        if snap.is_empty:
            return False
        self._log_events.info(
            "raft.snapshot.sent", raft_id=self.id, to=to, index=snap.metadata.index
        )
        self._msgs.append(
            Message(type=MT.SNAPSHOT, src=self.id, dst=to, term=self._term, snapshot=snap)
        )
        pr.become_snapshot(snap.metadata.index)
        return True

    def _tick_leader(self) -> None:
        self._tick_count += 1
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._election_elapsed >= self._election_tick:
            self._election_elapsed = 0
            if self._check_quorum and not self._quorum_active():
                self._log_events.info("raft.leader.quorum_lost", raft_id=self.id, term=self._term)
                self._become_follower(self._term, 0)
                return
            if self._lead_transferee:
                self._log_events.info(
                    "raft.transfer.aborted", raft_id=self.id, to=self._lead_transferee
                )
                self._lead_transferee = 0
        for pr in self._progress.values():
            if pr.state is ProgressState.SNAPSHOT:
                pr.snapshot_elapsed += 1
                if pr.snapshot_elapsed >= self._snapshot_retry:
                    pr.become_probe()  # the snapshot was lost: probe, and resend if needed
        if self._heartbeat_elapsed >= self._heartbeat_tick:
            self._heartbeat_elapsed = 0
            committed = self._log.committed
            for pid, pr in self._progress.items():
                if pid != self.id:
                    self._msgs.append(
                        Message(
                            type=MT.HEARTBEAT,
                            src=self.id,
                            dst=pid,
                            term=self._term,
                            commit=min(pr.match, committed),
                        )
                    )

    def _quorum_active(self) -> bool:
        active = 0
        for pid, pr in self._progress.items():
            if pid == self.id or pr.recent_active:
                active += 0 if pr.is_learner else 1
            pr.recent_active = False
        return active >= len(self._conf.voters) // 2 + 1

    def _step_leader(self, m: Message) -> None:
        pr = self._progress.get(m.src)
        if pr is None:
            return
        pr.recent_active = True
        pr.last_heard = self._tick_count
        if m.type is MT.APPEND_RESPONSE:
            if m.reject:
                hint = m.reject_hint - 1
                if m.log_term > 0:
                    hint = self._log.find_conflict_by_term(hint, m.log_term)
                if pr.maybe_decr_to(m.index, hint):
                    if pr.state is ProgressState.REPLICATE:
                        pr.become_probe()
                    self._send_append(m.src)
                return
            if pr.maybe_update(m.index):
                if pr.state is ProgressState.PROBE or (
                    pr.state is ProgressState.SNAPSHOT
                    and (pr.match >= pr.pending_snapshot or pr.match + 1 >= self._log.first_index())
                ):
                    pr.become_replicate()
                if self._maybe_commit():
                    self._commit_dirty = True
                elif pr.next <= self._log.last_index():
                    self._pending_bcast = True
                if m.src == self._lead_transferee and pr.match == self._log.last_index():
                    self._send(MT.TIMEOUT_NOW, m.src)
        elif m.type is MT.HEARTBEAT_RESPONSE:
            pr.probe_sent = False
            if pr.state is ProgressState.REPLICATE and len(pr.inflights) >= pr.max_inflight:
                pr.inflights.popleft()
            if pr.match < self._log.last_index():
                self._send_append(m.src)

    # -- what the leader knows of its followers --
    def is_caught_up(self, node_id: int, max_lag: int = 0) -> bool:
        """On the leader: is `node_id` replicating and within `max_lag` entries of the
        commit index? The shell promotes a learner only when this holds."""
        pr = self._progress.get(node_id) if self._state is LEADER else None
        return (
            pr is not None
            and pr.state is ProgressState.REPLICATE
            and pr.match + max_lag >= self._log.committed
        )
