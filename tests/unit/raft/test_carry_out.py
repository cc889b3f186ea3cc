"""`carry_out`, the one way a Ready is carried out (by the RaftNode and the simulation):
what goes out before the fsync and what only after, when the fsync is skipped, where a
snapshot is restored, and that a failed save stops everything after it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from actors.raft_node.carry_out import ReadyIO, carry_out
from actors.raft_node.core import MemoryStorage, RaftCore
from actors.raft_node.types import (
    Entry,
    HardState,
    Message,
    MessageType,
    RaftState,
    Snapshot,
)
from tests.unit.raft.harness import Cluster

MT = MessageType


class Recorder:
    """A ReadyIO over a MemoryStorage that records the order of its calls."""

    def __init__(self, storage: MemoryStorage, *, fail_save: bool = False) -> None:
        self.storage = storage
        self.fail_save = fail_save
        self.calls: list[tuple[str, object]] = []
        self.sent: list[set[MessageType]] = []
        self.handed_over: list[int] = []  # len(calls) at each hand_over
        self.io = ReadyIO(self.save, self.send, self.restore, self.apply, hand_over=self.hand_over)

    def save(self, hs: HardState | None, entries: Sequence[Entry], snap: Snapshot | None) -> None:
        if self.fail_save:
            raise OSError("disk full")
        self.storage.save(hs, entries, snap)
        self.calls.append(("save", (hs, len(entries), snap is not None)))

    def send(self, messages: Sequence[Message]) -> None:
        self.calls.append(("send", tuple(m.type for m in messages)))
        self.sent.append({m.type for m in messages})

    def restore(self, snapshot: Snapshot) -> None:
        self.calls.append(("restore", snapshot.metadata.index))

    def apply(self, entries: Sequence[Entry]) -> None:
        self.calls.append(("apply", tuple(e.index for e in entries)))

    def hand_over(self) -> None:
        self.handed_over.append(len(self.calls))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


def run(c: Cluster, i: int, recorder: Recorder) -> list[Message]:
    """Carry out node i's Ready through `recorder`; the messages it holds."""
    core = c.cores[i]
    rd = core.ready()
    assert rd is not None
    carry_out(core, rd, recorder.io, c.syncs[i])
    return list(rd.messages)


def acked_x() -> Cluster:
    """Three members; the leader (1) has just stepped both followers' acks of its entry
    x, which its core has committed (nothing carried out since)."""
    c = Cluster([1, 2, 3])
    c.elect(1)
    leader = c.cores[1]
    leader.propose(b"x")
    appends = run(c, 1, Recorder(c.storages[1]))
    for dst in (2, 3):
        c.cores[dst].step(next(m for m in appends if m.dst == dst))
        for ack in run(c, dst, Recorder(c.storages[dst])):
            leader.step(ack)
    return c


def test_a_leader_sends_its_appends_before_its_fsync() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.cores[1].propose(b"x")
    rec = Recorder(c.storages[1])
    run(c, 1, rec)
    assert rec.kinds() == ["send", "save"]
    assert rec.sent == [{MT.APPEND}]
    assert rec.handed_over == []  # its fsync comes next: no yield before it starts


def test_a_follower_acks_only_after_its_fsync() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.cores[1].propose(b"x")
    appends = run(c, 1, Recorder(c.storages[1]))
    c.cores[2].step(next(m for m in appends if m.dst == 2))
    rec = Recorder(c.storages[2])
    run(c, 2, rec)
    assert rec.kinds() == ["save", "send"]
    assert rec.calls[1][1] == (MT.APPEND_RESPONSE,)


def test_a_candidate_persists_its_vote_before_asking_for_votes() -> None:
    c = Cluster([1, 2, 3], pre_vote=False)
    core = c.cores[1]
    while core.state is not RaftState.CANDIDATE:
        core.tick()
    rec = Recorder(c.storages[1])
    run(c, 1, rec)
    assert rec.kinds() == ["save", "send"]
    assert c.storages[1].hard_state.vote == 1 and rec.sent == [{MT.VOTE}]


def test_a_moved_commit_index_alone_is_not_synced_but_rides_on_the_next_save() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.cores[1].propose(b"x")
    c.settle()
    follower, storage = c.cores[2], c.storages[2]
    commit = follower.commit_index
    assert commit == c.cores[1].commit_index and c.data(2) == [b"x"]
    assert storage.hard_state.commit < commit  # learnt and applied, never synced alone
    deferred = c.syncs[2].deferred
    assert deferred is not None and deferred.commit == commit
    c.cores[1].propose(b"y")
    append = next(m for m in run(c, 1, Recorder(c.storages[1])) if m.dst == 2)
    follower.step(append)
    rec = Recorder(storage)
    run(c, 2, rec)
    assert rec.kinds() == ["save", "send"]
    assert storage.hard_state.commit >= commit and c.syncs[2].deferred is None
    c.tick(3)  # the recorder delivered nothing: heartbeats bring the rest
    assert c.data(2) == [b"x", b"y"]
    last = c.syncs[2].deferred
    assert last is not None and last.commit == follower.commit_index
    c.syncs[2].flush(storage.save)  # a clean stop saves it
    assert storage.hard_state == last and c.syncs[2].deferred is None


def test_a_snapshot_is_restored_after_the_save_and_before_anything_applies() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.down.add(3)
    for k in range(6):
        c.cores[1].propose(b"%d" % k)
    c.settle()
    c.snapshot(1, b"state")
    c.down.discard(3)
    c.queue.clear()
    c.cores[1].tick()  # heartbeat: 3 answers, the leader finds its log compacted
    c.settle()
    assert c.storages[3].snapshot().data == b"state"  # installed through carry_out
    # the same path, recorded: a fresh follower given the leader's snapshot message
    fresh = Cluster([1, 2, 3])
    fresh.cores[3].step(
        Message(
            type=MT.SNAPSHOT,
            src=1,
            dst=3,
            term=c.cores[1].term,
            snapshot=c.storages[1].snapshot(),
        )
    )
    rec = Recorder(fresh.storages[3])
    run(fresh, 3, rec)
    assert rec.kinds() == ["save", "restore", "send"]


def test_a_failed_save_sends_nothing_more_and_does_not_advance() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.cores[1].propose(b"x")
    appends = run(c, 1, Recorder(c.storages[1]))
    core: RaftCore = c.cores[2]
    core.step(next(m for m in appends if m.dst == 2))
    rd = core.ready()
    assert rd is not None
    rec = Recorder(c.storages[2], fail_save=True)
    with pytest.raises(OSError, match="disk full"):
        carry_out(core, rd, rec.io, c.syncs[2])
    assert rec.calls == []  # the ack never left: the entry is not on disk
    again = core.ready()
    assert again is not None and again.entries == rd.entries  # not advanced


def test_entries_an_earlier_save_wrote_are_applied_before_the_next_fsync() -> None:
    """Rule 5: a leader whose followers acked x while y came in applies x (committed, on
    its disk since the last save) before it syncs y: x's writer does not wait for y."""
    c = acked_x()
    leader = c.cores[1]
    x = c.storages[1].last_index()
    leader.propose(b"y")
    rec = Recorder(c.storages[1])
    run(c, 1, rec)
    assert rec.kinds() == ["send", "apply", "save"]
    assert rec.calls[1] == ("apply", (x,))


def test_entries_committed_in_the_ready_that_saves_them_are_applied_after_its_fsync() -> None:
    """A single member commits its entry in the Ready that carries it: never applied (nor
    answered) before it is on disk."""
    c = Cluster([1])
    c.elect(1)
    c.cores[1].propose(b"x")
    rec = Recorder(c.storages[1])
    run(c, 1, rec)
    assert rec.kinds() == ["save", "apply"]


def test_a_leader_answers_its_writers_before_it_tells_followers_the_commit() -> None:
    """Rule 6: acks that only move the leader's commit index make a Ready that saves
    nothing; its entries are applied (their writers answered) before the appends that
    carry the new commit index to the followers are built (the core gives them in the
    next Ready), encoded and sent."""
    c = acked_x()
    rec = Recorder(c.storages[1])
    assert run(c, 1, rec) == []  # no append built yet
    assert rec.kinds() == ["apply"]
    assert rec.calls[0] == ("apply", (c.storages[1].last_index(),))
    notices = run(c, 1, rec)
    assert rec.kinds() == ["apply", "send"]
    assert {(m.type, m.dst, m.commit) for m in notices} == {
        (MT.APPEND, dst, c.storages[1].last_index()) for dst in (2, 3)
    }
    assert c.cores[1].ready() is None


def test_a_follower_acks_new_entries_before_it_applies_earlier_ones() -> None:
    """Rule 5: a follower's ack is on the write's path, its applying is not. Given the
    commit of x with y, it saves y, acks it, and only then applies x."""
    c = acked_x()
    leader = c.cores[1]
    x = c.storages[1].last_index()
    leader.propose(b"y")
    appends = run(c, 1, Recorder(c.storages[1]))  # y, with x's commit
    c.cores[2].step(next(m for m in appends if m.dst == 2 and m.entries))
    rec = Recorder(c.storages[2])
    run(c, 2, rec)
    assert rec.kinds() == ["save", "send", "apply"]
    assert rec.calls[2] == ("apply", (x,))


def test_a_follower_hands_the_cpu_over_after_its_ack_and_before_it_applies() -> None:
    """Rule 4: the leader waits for the ack, not for the follower's apply; the actor's
    hand_over lets ZeroMQ's I/O thread send the ack first."""
    c = acked_x()
    x = c.storages[1].last_index()
    c.cores[1].propose(b"y")
    append = next(m for m in run(c, 1, Recorder(c.storages[1])) if m.dst == 2)
    c.cores[2].step(append)  # y, and the commit index of x
    rec = Recorder(c.storages[2])
    run(c, 2, rec)
    assert rec.kinds() == ["save", "send", "apply"]
    assert rec.calls[1][1] == (MT.APPEND_RESPONSE,) and rec.calls[2] == ("apply", (x,))
    assert rec.handed_over == [2]  # right after the send, before the apply
