"""Carrying out a `Ready`: the one function the RaftNode's loop and the simulation both run.

Rules, in the order `carry_out` follows them:
  1. A leader's AppendEntries, heartbeats, snapshots and TIMEOUT_NOW go out BEFORE its
     fsync (the thesis' §10.2.1): followers write in parallel with the leader. That is safe
     because the leader counts a follower's ack only when it steps it, in a later round,
     after this round's fsync has returned.
  2. The fsync: ONE ``save(hard_state, entries, snapshot)``, returning once all of it is
     on disk. A Ready that moves only the commit index (no entries, no snapshot, the same
     term and vote) is not synced: a commit index is learnt again from the leader, so its
     hard state rides on the next save (`HardStateSync`); a node that crashes before then
     comes back with an older commit index, never with less than it promised.
  3. A snapshot in the Ready replaces the state machine (``restore``), before any entry is
     applied.
  4. Everything else goes out only AFTER the fsync: votes and vote refusals, a follower's
     acks (a node never promises what is not on its disk). Then, before anything else is
     done (applying), the CPU is handed over (``hand_over``: the actor lets ZeroMQ's I/O
     thread send them at once, `transport.handoff`): the leader waits for a follower's
     ack, not for its apply.
  5. Committed entries are applied in order (``apply``); then ``core.advance(rd)``. On a
     leader, those an earlier save put on disk (every one below the first of this
     Ready's entries, when there is no snapshot) are applied BEFORE this Ready's fsync,
     as etcd's server does: they are committed and durable, so their writers need not
     wait for the next batch's fsync too. The others (a single node's entries committed
     in the Ready that saves them) wait for it. A follower applies after its acks are
     sent: its ack is on every write's path, its applying is not.
  6. A leader's Ready that saves nothing (its followers' acks moved the commit index) is
     applied BEFORE its messages go out: the writers' answers leave first and the
     followers learn the new commit index right after. Sending it first would put the
     encoding and sending of every follower's append on each write's path (the core
     gives those appends in the next Ready, so they are not even built before).
An exception from any step leaves the Ready not advanced: the caller stops the node (the
actor's loop dies; the simulation models a crash there and restarts from the storage).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from actors.raft_node.core import RaftCore
from actors.raft_node.ready import Ready
from actors.raft_node.types import Entry, HardState, Message, MessageType, RaftState, Snapshot

__all__ = ["LEADER_FIRST", "HardStateSync", "ReadyIO", "carry_out"]

MT = MessageType
# what a leader may send before its own fsync (rule 1)
LEADER_FIRST = frozenset({MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT, MT.TIMEOUT_NOW})


@dataclass(frozen=True, slots=True)
class ReadyIO:
    """The I/O a Ready needs, as callables: the actor passes its storage, network and
    store; the simulation passes its in-memory ones (and crashes nodes inside ``save``)."""

    save: Callable[[HardState | None, Sequence[Entry], Snapshot | None], None]
    send: Callable[[Sequence[Message]], None]
    restore: Callable[[Snapshot], None]
    apply: Callable[[Sequence[Entry]], None]
    hand_over: Callable[[], None] = lambda: None  # after the sends of rule 4


class HardStateSync:
    """The hard state the last save persisted, and a commit-only one not yet saved (rule 2).
    Built from the storage's hard state when the node starts."""

    __slots__ = ("deferred", "saved")

    def __init__(self, saved: HardState) -> None:
        self.saved = saved
        self.deferred: HardState | None = None

    def to_save(self, rd: Ready) -> tuple[bool, HardState | None]:
        """(whether ``rd`` needs a save, the hard state to save with it)."""
        hs = rd.hard_state
        if not rd.entries and rd.snapshot is None:
            if hs is None:
                return False, None
            if hs.term == self.saved.term and hs.vote == self.saved.vote:
                self.deferred = hs  # only the commit index moved: no fsync needed
                return False, None
        return True, hs if hs is not None else self.deferred

    def saved_with(self, hs: HardState | None) -> None:
        if hs is not None:
            self.saved = hs
        self.deferred = None

    def flush(
        self, save: Callable[[HardState | None, Sequence[Entry], Snapshot | None], None]
    ) -> None:
        """Save a deferred commit index (a clean stop: the next start re-applies less)."""
        if self.deferred is not None:
            save(self.deferred, (), None)
            self.saved_with(self.deferred)


def carry_out(core: RaftCore, rd: Ready, io: ReadyIO, sync: HardStateSync) -> None:
    """Carry out ``rd`` (the module's rules), then advance ``core`` past it."""
    late: Sequence[Message] = rd.messages
    needed, hs = sync.to_save(rd)
    committed: Sequence[Entry] = rd.committed_entries
    leader = core.state is RaftState.LEADER
    if leader:
        if committed and not needed:  # rule 6: the writers first, the followers after
            io.apply(committed)
            committed = ()
        if late:
            early = [m for m in late if m.type in LEADER_FIRST]
            if early:
                late = [m for m in late if m.type not in LEADER_FIRST]
                io.send(early)
    if needed:
        if leader and committed and rd.snapshot is None:
            durable = _on_disk_already(committed, rd.entries)
            if durable:
                io.apply(committed[:durable])
                committed = committed[durable:]
        io.save(hs, rd.entries, rd.snapshot)
        sync.saved_with(hs)
    if rd.snapshot is not None:
        io.restore(rd.snapshot)
    if late:
        io.send(late)
        io.hand_over()
    if committed:
        io.apply(committed)
    core.advance(rd)


def _on_disk_already(committed: Sequence[Entry], entries: Sequence[Entry]) -> int:
    """How many of ``committed`` (in index order) an earlier save wrote: those below the
    first entry this Ready saves (a committed entry is never among those it replaces)."""
    if not entries:
        return len(committed)
    first = entries[0].index
    if committed[-1].index < first:
        return len(committed)
    return sum(1 for e in committed if e.index < first)
