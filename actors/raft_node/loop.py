"""The RaftNode's loop: the rounds that own the core, the storage and the store's apply
side (DESIGN.md §5, STYLE.md rules 1 and 9), one at a time under the round's lock: on the
loop thread, or inline on the endpoint's I/O thread for the frames and proposals of an
inbound batch when the loop is free (`RaftLoop.run_inline`: no thread hand-off on a
write's path, on any member). Everything else reaches it through the inbox (commands.py);
nobody ever waits on it while it fsyncs: askers get futures. The loop thread ticks.

One round (rules):
  1. wait for the inbox or the next tick; drain the inbox in bulk;
  2. step every inbound frame (intake.py); propose every write of the round with ONE
     `propose_batch`, or forward them to the leader in one request (forwarding.py); run
     calls; tick when due; release writes held for want of a leader;
  3. carry out every Ready (carry_out.py: a leader's appends before its fsync, one save,
     the rest after it, apply, advance); the sends go batched per peer in frames that fit
     (`frames.split_messages`; the transport chunks a larger batch), a snapshot no more
     often than it could arrive (`frames.SnapshotPacer`), an append without entries up to
     ``commit_hold`` later unless the next append to that member replaces it
     (commit_notices.py: a stream of writes carries its commit index on the next batch);
  4. snapshot the store every ``snapshot_interval`` applied entries (read again at every
     check: the cluster's setting, which a ``cluster update`` changes) or once the bytes
     applied since the last one reach its size (compaction.py), encoded and written off
     the loop (snapshotter.py), then compact;
  5. publish a leadership change (events.py); a lost leadership fails the proposals in
     flight (outcome unknown), a new leader fails the writes forwarded to the old one.
A crash of the loop fails everything pending and is reported (`RaftNode.report_failures_to`).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from actors.metrics import raft as metrics
from actors.proposal_errors import ProposalDropped
from actors.raft_node.carry_out import HardStateSync, ReadyIO, carry_out
from actors.raft_node.commands import Call, Command, Forwarded, Inbox, Propose, Receive, Stop
from actors.raft_node.commit_notices import COMMIT_HOLD, CommitNotices
from actors.raft_node.compaction import snapshot_due
from actors.raft_node.core import RaftCore
from actors.raft_node.events import LeadershipChange, LeadershipNotifier
from actors.raft_node.forwarding import Forwarding, Group
from actors.raft_node.frames import SnapshotPacer, split_messages
from actors.raft_node.intake import FrameIntake
from actors.raft_node.members import PeerTable
from actors.raft_node.peers import PeerNetwork
from actors.raft_node.proposals import AppliedWaiters, Proposals, reject, resolve
from actors.raft_node.snapshotter import Snapshotter
from actors.raft_node.status import RaftStatus, raft_status
from actors.raft_node.types import Entry as RaftEntry
from actors.raft_node.types import (
    EntryType,
    HardState,
    Message,
    RaftState,
    Snapshot,
    SnapshotMetadata,
)
from actors.raft_node.wire import encode_batch
from api.limits import RAFT_BATCH_BYTES
from transport.handoff import hand_over

__all__ = ["SNAPSHOT_RATE", "SPACE_RETRY", "RaftLoop", "StateMachine"]

_CONF = EntryType.CONF_CHANGE
# the slowest transfer a snapshot is expected to make: its copy in flight is not sent again
# before it could have arrived at this rate (frames.SnapshotPacer)
SNAPSHOT_RATE = 8 << 20  # bytes per second
SPACE_RETRY = 1.0  # seconds between a full disk's attempts to make room for the log


class StateMachine(Protocol):
    """What the node applies to: `actors.store.MemoryStore` fits."""

    def apply(self, index: int, data: bytes) -> object: ...

    def snapshot(self) -> bytes: ...

    def snapshot_view(self) -> object: ...

    def encode_snapshot(self, view: Any) -> bytes: ...

    def restore(self, data: bytes) -> None: ...


class RaftLoop:
    """The loop thread's state. Other threads read only the views (``is_leader``,
    ``leader_id``, ``term``, ``applied_index``: ints swapped under the GIL)."""

    def __init__(
        self,
        node_id: int,
        core: RaftCore,
        storage: Any,
        store: StateMachine,
        network: PeerNetwork,
        inbox: Inbox,
        members: PeerTable,
        events: LeadershipNotifier,
        *,
        clock: Callable[[], float],
        log: Any,
        tick_interval: float,
        election_seconds: float,
        leader_wait: float,
        snapshot_interval: Callable[[], int],
        commit_hold: float = COMMIT_HOLD,
    ) -> None:
        self.id = node_id
        self.core = core
        self._storage = storage
        self._store = store
        # the members removed from the group (storage.py): read by the handlers' thread
        self.removed_ids: frozenset[int] = storage.removed_members
        self._network = network
        self._inbox = inbox
        self.members = members
        self._events = events
        self._clock = clock
        self._log = log
        self._tick_interval = tick_interval
        self._election_seconds = election_seconds
        self._snapshot_interval = snapshot_interval
        self.proposals = Proposals()
        self.waiters = AppliedWaiters()
        self.forwarding = Forwarding(
            node_id,
            core,
            self.proposals,
            self.waiters,
            forward=network.forward,
            answered=inbox.put,
            clock=clock,
            leader_wait=leader_wait,
            no_room=self.no_room,
        )
        self.intake = FrameIntake(node_id, core, members, clock, log, no_room=self.no_room)
        self._pacer = SnapshotPacer(SNAPSHOT_RATE)
        self._notices = CommitNotices(commit_hold)
        self._sync = HardStateSync(storage.initial_state()[0])
        self._io = ReadyIO(
            self._save, self._send, self._install_snapshot, self._apply, hand_over=hand_over
        )
        self.snapshot_index: int = storage.snapshot().metadata.index
        self._bytes_since_snapshot = 0  # of the entries applied after snapshot_index
        self._snapshot_bytes = len(storage.snapshot().data)
        self._snapshotter = Snapshotter(
            node_id, storage, store, inbox, self._adopted, clock=clock, log=log
        )
        self.seen = LeadershipChange(False, 0, core.term)
        self.crashed = False
        self._report: Callable[[BaseException], None] = lambda _exc: None
        # one round at a time: on the loop thread or inline (run_inline); _wake_at, the
        # loop thread's next planned wake-up, is read and written under it
        self._round = threading.Lock()
        self._closed = True  # until run() starts
        self._crash_cause: BaseException | None = None
        self._wake_at = clock()
        self.is_leader = False
        self.leader_id = 0
        self.leader_lost_at: float | None = clock()  # since when no leader is known
        self._space_retried = float("-inf")  # no_room's last try to make room
        self.term = core.term
        self.applied_index = core.applied_index

    # ------------------------------------------------------------------ the thread
    def run(self, report: Callable[[BaseException], None]) -> None:
        """The thread's body: rounds until a Stop; a crash is logged and reported."""
        self._report = report
        with self._round:
            self._closed = False  # rounds may run inline from now on
        try:
            self._rounds()
        except BaseException as exc:
            self._crashed(exc)
        finally:
            with self._round:
                self._closed = True  # no round runs inline any more
                self._shut_down()

    def _crashed(self, exc: BaseException) -> None:
        self.crashed = True
        self._crash_cause = exc
        self._log.exception("raft.loop.crashed", error=repr(exc))
        with contextlib.suppress(Exception):
            self._report(exc)

    def _rounds(self) -> None:
        inbox, clock, core = self._inbox, self._clock, self.core
        tick = self._tick_interval
        next_tick = clock() + tick
        notices = self._notices
        while True:
            inbox.wait(self._wake_at - clock())
            with self._round:
                if self.crashed:
                    return  # a round run inline failed
                commands = inbox.drain()
                if commands and self._handle(commands):
                    return
                now = clock()
                if now >= next_tick:
                    core.tick()
                    next_tick += tick
                    if next_tick <= now:
                        next_tick = now + tick
                self._finish_round()
                wake = next_tick
                if notices and notices.deadline is not None:
                    wake = min(wake, notices.deadline)
                self._wake_at = wake

    def run_inline(self) -> float | None:
        """Run a round for the commands waiting on the inbox on the calling thread (the
        endpoint's I/O thread, once per batch of inbound frames: handlers.py) when no
        other round runs: the frames and proposals the batch brought are stepped, and the
        Ready carried out, with no hand-off to the loop thread; the replies leave as they
        are made (a writer's answer before the fsync of the next entries: transport's
        `Outbox.own`), the sends to peers from their own sockets. When a round runs
        elsewhere (or the loop has ended), the loop thread is woken for them instead.
        Returns the seconds until the first commit notice this node holds is due, or
        None: the caller runs this again then (the endpoint's timer:
        `transport.endpoint.inline`), so a stream of inline rounds never wakes the loop
        thread for their notices; it only ticks (and sends those its own rounds hold)."""
        if not self._round.acquire(blocking=False):
            self._inbox.nudge()
            return None
        try:
            if self._closed or self.crashed:
                self._inbox.nudge()
                return None
            commands = self._inbox.drain()
            if commands and self._handle(commands):
                self._inbox.put(Stop())  # the loop thread stops (and shuts down)
            self._finish_round()
            deadline = self._notices.deadline if self._notices else None
            return None if deadline is None else max(0.0, deadline - self._clock())
        except BaseException as exc:
            self._crashed(exc)
            self._inbox.kick()  # the loop thread sees the crash and shuts down
            return None
        finally:
            self._round.release()

    def _finish_round(self) -> None:
        """Release held writes, carry out the Readies, send the commit notices due."""
        if self.forwarding.holding:
            self.forwarding.release_held()
        self._process_ready()
        notices = self._notices
        if notices and (due := notices.due(self._clock())):
            self._transmit(due)

    def _handle(self, commands: list[Command]) -> bool:
        """Step, propose and call; True when told to stop."""
        frames: list[Receive] = []
        groups: list[Group] = []
        remote: list[Group] = []
        stop = False
        for command in commands:
            match command:
                case Receive():
                    frames.append(command)
                case Propose(datas, future, forwarded):
                    (remote if forwarded else groups).append((datas, future))
                case Forwarded():
                    self.forwarding.answered(command, self.applied_index)
                case Call(fn, future):
                    try:
                        resolve(future, fn(self.core))
                    except Exception as exc:
                        reject(future, exc)
                case Stop():
                    stop = True
        if frames:
            self.intake.step(frames)
        if groups or remote:
            self.forwarding.propose(groups, remote)
        return stop

    def no_room(self) -> str | None:
        """Why the log's disk has no room for new entries (DurableStorage.space_short), or
        None; it tries again to make room at most every `SPACE_RETRY` seconds, so a
        member takes entries again once space is freed."""
        now = self._clock()
        retry = now - self._space_retried >= SPACE_RETRY
        if retry:
            self._space_retried = now
        why: str | None = self._storage.space_short(retry=retry)
        return why

    # ------------------------------------------------------------------ Readies
    def _process_ready(self) -> None:
        core, io, sync = self.core, self._io, self._sync
        while (rd := core.ready()) is not None:
            carry_out(core, rd, io, sync)
            if rd.committed_entries:
                self._maybe_snapshot(core)
        self._after_round(core)

    def _save(
        self, hs: HardState | None, entries: Sequence[RaftEntry], snapshot: Snapshot | None
    ) -> None:
        self._storage.save(hs, entries, snapshot)

    def _send(self, messages: Sequence[Message]) -> None:
        now = self._clock()
        self._transmit(self._notices.route(messages, now), now)

    def _transmit(self, messages: Sequence[Message], now: float | None = None) -> None:
        if not messages:
            return
        if now is None:
            now = self._clock()
        by_dst: dict[int, list[Message]] = {}
        allow = self._pacer.allow
        for m in messages:
            snap = m.snapshot
            if snap is not None and not allow(
                m.dst, m.term, snap.metadata.index, len(snap.data), now
            ):
                continue  # the same snapshot may still be on its way there
            by_dst.setdefault(m.dst, []).append(m)
        send = self._network.send
        for dst, msgs in by_dst.items():
            if len(msgs) == 1:  # a message goes alone whatever its size: nothing to split
                send(dst, encode_batch(msgs))
                continue
            for batch in split_messages(msgs, RAFT_BATCH_BYTES):
                send(dst, encode_batch(batch))

    def _install_snapshot(self, snap: Snapshot) -> None:
        index = snap.metadata.index
        self._store.restore(snap.data)
        self.snapshot_index = index
        self._bytes_since_snapshot, self._snapshot_bytes = 0, len(snap.data)
        metrics.SNAPSHOT_BYTES.set(len(snap.data))
        self.proposals.fail_through(index, ProposalDropped("replaced by a snapshot"))
        self.applied_index = index
        self.waiters.applied(index)
        self._log.info("raft.snapshot.installed", index=index, term=snap.metadata.term)

    def _apply(self, entries: Sequence[RaftEntry]) -> None:
        apply = self._store.apply
        proposals = self.proposals
        waiting = len(proposals)
        applied = proposals.applied
        size = 0
        for e in entries:
            size += len(e.data)
            if e.type is _CONF:
                apply(e.index, b"")
                removed = self.members.follow(e.data)
                if removed is not None and removed not in self.removed_ids:
                    self._storage.add_removed_members((removed,))
                    self.removed_ids = self._storage.removed_members
            else:
                apply(e.index, e.data)
            applied(e.index, e.term)
        last = entries[-1].index
        self._bytes_since_snapshot += size
        self.applied_index = last
        if len(self.waiters):
            self.waiters.applied(last)
        if waiting and not len(proposals):
            # the last writer waiting was answered: its reply goes first (transport.handoff)
            hand_over()

    def _maybe_snapshot(self, core: RaftCore) -> None:
        applied = core.applied_index
        if self._snapshotter.busy or not snapshot_due(
            applied - self.snapshot_index,
            self._bytes_since_snapshot,
            self._snapshot_interval(),
            self._snapshot_bytes,
        ):
            return
        term = self._storage.term(applied)
        self._snapshotter.start(SnapshotMetadata(applied, term, core.conf_state))

    def _adopted(self, snapshot: Snapshot) -> None:
        """The Snapshotter's snapshot is the storage's now (on the loop)."""
        index = snapshot.metadata.index
        if index > self.snapshot_index:
            self._bytes_since_snapshot = 0  # what was applied after it is not counted
            self.snapshot_index = index
        self._snapshot_bytes = len(snapshot.data)

    def _after_round(self, core: RaftCore) -> None:
        is_leader = core.state is RaftState.LEADER
        lead, term = core.leader_id, core.term
        seen = self.seen
        if is_leader == seen.is_leader and lead == seen.leader_id:
            self.term = term
            return
        if lead != seen.leader_id:
            self.forwarding.leader_changed(lead, term)
        self.intake.leader_changed(lead)
        if seen.is_leader and not is_leader:
            self._notices.clear()
            self.proposals.fail_all(
                ProposalDropped(f"node {self.id} lost leadership in term {term}; outcome unknown")
            )
        self.is_leader, self.leader_id, self.term = is_leader, lead, term
        if lead:
            self.leader_lost_at = None
        elif self.leader_lost_at is None:
            self.leader_lost_at = self._clock()
        change = LeadershipChange(is_leader, lead, term)
        self.seen = change
        metrics.LEADER_CHANGES.inc()
        self._log.info("raft.leadership.changed", is_leader=is_leader, leader_id=lead, term=term)
        self._events.publish(change)

    # ------------------------------------------------------------------ calls
    def status(self, core: RaftCore) -> RaftStatus:
        return raft_status(
            core.status(),
            now=self._clock(),
            last_heard=self.intake.last_heard,
            addr=self.members.addr,
            election_seconds=self._election_seconds,
            snapshot_index=self.snapshot_index,
        )

    def reencrypt(self, core: RaftCore) -> None:
        """Rewrite the storage under its cipher's current key, between two Readies."""
        self._snapshotter.wait()  # its file is under the old key: replaced or deleted now
        applied = core.applied_index
        data = self._store.snapshot() if applied > self.snapshot_index else None
        self._storage.reencrypt(applied, core.conf_state, data)
        if data is not None:
            self.snapshot_index = applied
            self._bytes_since_snapshot, self._snapshot_bytes = 0, len(data)
        self._log.info("raft.storage.reencrypted", index=applied, snapshot=data is not None)

    # ------------------------------------------------------------------ stop
    def _shut_down(self) -> None:
        cause = self._crash_cause
        why = "" if cause is None else f" (its loop failed: {type(cause).__name__}: {cause})"
        error = ProposalDropped(f"raft node {self.id} stopped{why}; outcome unknown")
        self._snapshotter.wait()  # its file complete (adopted on the next start, if newer)
        self.proposals.fail_all(error)
        self.waiters.fail_all(error)
        while True:
            try:
                command = self._inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(command, Propose | Call):
                reject(command.future, error)
        self.forwarding.fail_all(error)
        if not self.crashed:
            with contextlib.suppress(Exception):
                self._sync.flush(self._save)
