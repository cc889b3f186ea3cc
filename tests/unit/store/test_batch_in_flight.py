"""A batch keeps several proposals in flight (actors/store/batch.py, pipeline.py): the next
proposal fills while earlier ones await their verdicts, in order; a write of an object a
proposal in flight wrote waits for that verdict and expects that entry's index; a failed
proposal's error is the outcome of each of its writes.

Before: a batch waited for each proposal's verdict before it ran the next write, so
``test_proposals_are_sent_before_the_first_commits`` timed out, and a failed proposal
left its writes' outcomes at ``None`` (applied)."""

from __future__ import annotations

import collections
import random
import threading
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import pytest

from actors.store import (
    Batch,
    ConflictError,
    MemoryStore,
    NotLeader,
    ProposalAbandoned,
    WriteTx,
    tasks,
)
from actors.store.entry import Action, Entry, Op, encode_entry
from actors.store.pipeline import Pipeline
from api.objects import ObjectKind, Task
from tests.unit.store.helpers import FakeClock, service, task


class HoldingProposer:
    """Holds proposals and commits the held ones, in order, once ``hold`` are held."""

    def __init__(self, stores: list[MemoryStore], hold: int) -> None:
        self._stores, self._hold = stores, hold
        self._held: list[bytes] = []
        self.index = 0
        self.committed_together: list[int] = []

    def propose(self, data: bytes) -> Future[Any]:
        self._held.append(data)
        if len(self._held) >= self._hold:
            self.committed_together.append(len(self._held))
            for held in self._held:
                self.index += 1
                for store in self._stores:
                    store.apply(self.index, held)
            self._held.clear()
        done: Future[Any] = Future()
        done.set_result(None)
        return done


class ThreadedProposer:
    """Commits in order on a thread of its own (a Raft loop's apply); ``before`` (entries
    another manager wrote) commit just before the first proposal."""

    def __init__(self, stores: list[MemoryStore], before: tuple[bytes, ...] = ()) -> None:
        self._stores = stores
        self._before = list(before)
        self._queue: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._index = stores[0].version
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def propose(self, data: bytes) -> Future[Any]:
        with self._cond:
            self._queue.extend(self._before)
            self._before.clear()
            self._queue.append(data)
            self._cond.notify()
        done: Future[Any] = Future()
        done.set_result(None)
        return done

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stop)
                if self._stop:
                    return
                data = self._queue.popleft()
            self._index += 1
            for store in self._stores:
                store.apply(self._index, data)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(10)


def _task(tx: WriteTx, id: str) -> Task:
    found = tasks.get(tx, id)
    assert found is not None
    return found


def _store(seed: int, **kwargs: Any) -> MemoryStore:
    return MemoryStore(clock=FakeClock(), rng=random.Random(seed), **kwargs)


def test_proposals_are_sent_before_the_first_commits() -> None:
    store = _store(1, max_ops_per_proposal=10, proposal_timeout=5.0)
    proposer = HoldingProposer([store], hold=3)
    store.attach_proposer(proposer)
    s = service()

    def fill(batch: Batch) -> None:
        for slot in range(1, 26):
            batch.update(lambda tx, slot=slot: tx.create(task(s.id, slot)))

    result = store.batch(fill)
    assert result.proposals == 3 and result.applied == 25
    assert proposer.committed_together == [3]
    assert len(store.view(tasks.list_all)) == 25


def test_writes_of_an_object_in_flight_chain_across_proposals() -> None:
    leader, follower = _store(1, max_ops_per_proposal=1), _store(2)
    proposer = ThreadedProposer([leader, follower])
    leader.attach_proposer(proposer)
    s = service()
    t = task(s.id)
    try:

        def fill(batch: Batch) -> None:
            batch.update(lambda tx: tx.create(s))
            batch.update(lambda tx: tx.create(t))
            for node in ("n1", "n2", "n3"):
                batch.update(lambda tx, n=node: tx.update(replace(_task(tx, t.id), node_id=n)))
            batch.update(lambda tx: tx.delete_id(ObjectKind.TASK, t.id))
            batch.update(lambda tx: tx.create(replace(t, slot=2)))

        result = leader.batch(fill)
    finally:
        proposer.close()
    assert result.outcomes == (None,) * 7 and result.proposals == 7
    held = leader.view(lambda tx: tasks.get(tx, t.id))
    assert held is not None and held.slot == 2 and held.node_id == ""
    assert follower.snapshot() == leader.snapshot()


def test_a_write_on_a_refused_write_in_flight_is_refused_too() -> None:
    seed = _store(9)
    s = service()
    t = task(s.id)
    seed.attach_proposer(HoldingProposer([seed], hold=1))
    seed.update(lambda tx: tx.create(s))
    (stored,) = seed.update(lambda tx: tx.create(t)).objects
    assert isinstance(stored, Task)
    leader, follower = _store(1, max_ops_per_proposal=1), _store(2)
    for store in (leader, follower):
        store.restore(seed.snapshot())
    # another manager's write of the task, committed before the batch's first proposal
    theirs = Op(Action.UPDATE, ObjectKind.TASK, t.id, stored.meta.version, replace(stored, slot=7))
    proposer = ThreadedProposer(
        [leader, follower], (encode_entry(Entry("x" * 25, 1.0, ((theirs,),))),)
    )
    leader.attach_proposer(proposer)
    try:

        def fill(batch: Batch) -> None:
            batch.update(lambda tx: tx.update(replace(stored, node_id="n1")))
            batch.update(lambda tx: tx.update(replace(_task(tx, t.id), node_id="n2")))

        # the first is refused (the version it read was replaced); the second read it
        result = leader.batch(fill)
    finally:
        proposer.close()
    assert [type(o) for o in result.outcomes] == [ConflictError, ConflictError]
    held = leader.view(lambda tx: tasks.get(tx, t.id))
    assert held is not None and held.slot == 7 and held.node_id == ""
    assert follower.snapshot() == leader.snapshot()


def test_a_failed_proposal_is_the_outcome_of_its_writes_and_is_raised() -> None:
    store = _store(1, max_ops_per_proposal=2)
    inner = HoldingProposer([store], hold=1)
    calls = []

    class FailingSecond:
        def propose(self, data: bytes) -> Future[Any]:
            calls.append(data)
            if len(calls) == 2:
                failed: Future[Any] = Future()
                failed.set_exception(NotLeader())
                return failed
            return inner.propose(data)

    store.attach_proposer(FailingSecond())
    s = service()
    seen: list[Batch] = []

    def fill(batch: Batch) -> None:
        seen.append(batch)
        for slot in range(1, 6):
            batch.update(lambda tx, slot=slot: tx.create(task(s.id, slot)))

    with pytest.raises(NotLeader):
        store.batch(fill)
    (batch,) = seen
    assert batch.outcomes[:2] == [None, None]
    assert all(isinstance(o, NotLeader) for o in batch.outcomes[2:4])
    assert len(store.view(tasks.list_all)) == 3  # the first and the third proposals


def test_a_batch_stops_waiting_once_its_writer_stops() -> None:
    """``stop_waiting`` done (the dispatcher stopping its writer): a batch whose proposals
    do not commit ends at once, each write's outcome `ProposalAbandoned`, instead of
    waiting out the proposal timeout; a proposal that commits later is applied as any,
    and a batch whose proposals commit is not told anything."""
    store = _store(1, max_ops_per_proposal=2, proposal_timeout=600.0)
    proposer = HoldingProposer([store], hold=10)  # nothing commits before the tenth
    store.attach_proposer(proposer)
    s = service()
    seen: list[Batch] = []

    def fill(batch: Batch) -> None:
        seen.append(batch)
        for slot in range(1, 4):
            batch.update(lambda tx, slot=slot: tx.create(task(s.id, slot)))

    stopped: Future[None] = Future()
    stopped.set_result(None)
    with pytest.raises(ProposalAbandoned):
        store.batch(fill, stop_waiting=stopped)
    (batch,) = seen
    assert all(isinstance(o, ProposalAbandoned) for o in batch.outcomes)
    assert store.view(tasks.list_all) == []
    running: Future[None] = Future()
    proposer._hold = 1  # the quorum is back: the next proposal commits the held ones too
    store.batch(lambda b: b.update(lambda tx: tx.create(service("db"))), stop_waiting=running)
    assert len(store.view(tasks.list_all)) == 3


def test_the_pipeline_settles_in_order_and_forgets_what_later_ones_rewrote() -> None:
    p: Pipeline[str] = Pipeline(2)
    p.wrote(["a", "b"])
    assert p.send() == 0 and not p.over_limit()
    p.wrote(["b"])
    assert p.owners_in_flight(["a", "b", "c"]) == {"a": 0}  # b is the filling one's now
    assert p.send() == 1
    p.send()
    assert p.over_limit()
    with pytest.raises(ValueError, match="out of order"):
        p.settle(1, 5)
    assert p.settle(0, 4) == ["a"]  # b: proposal 1 wrote it last
    assert p.index_of(0) == 4
    assert p.settle(1, None) == ["b"] and p.index_of(1) is None
    with pytest.raises(ValueError, match="at least 1"):
        Pipeline(0)
