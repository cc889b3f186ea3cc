"""Byte budgets of writes: an object, a write and a proposal each have a ceiling well under
the frame limit; a write over one is refused before it is proposed, naming the object and
the sizes; a batch starts a new proposal rather than build one over its budget.

Fails before the budgets: the store proposed whatever it was given (two sessions with
8.5 MiB hostnames made one 17 MiB entry that no follower could ever receive)."""

from __future__ import annotations

import random
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import pytest

from actors.store import Batch, Budgets, MemoryStore, TooLarge, nodes, services
from actors.store.proposer import LocalProposer
from api import limits
from api.objects import Node, NodeDescription, Service
from api.specs import NodeSpec
from tests.unit.store.helpers import FakeClock, node, service

SMALL = Budgets(object=2_000, write=4_000, entry=10_000)


class RecordingProposer:
    """A LocalProposer that keeps the size of every entry it was handed."""

    def __init__(self, store: MemoryStore) -> None:
        self.inner = LocalProposer(store.apply)
        self.sizes: list[int] = []

    def propose(self, data: bytes) -> Future[Any]:
        self.sizes.append(len(data))
        return self.inner.propose(data)


def recording_store(budgets: Budgets = SMALL) -> tuple[MemoryStore, RecordingProposer]:
    store = MemoryStore(clock=FakeClock(), rng=random.Random(1), budgets=budgets)
    proposer = RecordingProposer(store)
    store.attach_proposer(proposer)
    return store, proposer


def labelled(name: str, size: int) -> Service:
    s = service(name)
    return replace(s, spec=replace(s.spec, labels={"blob": "x" * size}))


def test_budgets_sit_well_under_the_frame_limit() -> None:
    assert limits.MAX_OBJECT_BYTES < limits.MAX_WRITE_BYTES < limits.MAX_ENTRY_BYTES
    assert limits.MAX_ENTRY_BYTES <= limits.RAFT_BATCH_BYTES // 2
    assert limits.RAFT_BATCH_BYTES <= limits.MAX_FRAME_BYTES // 4
    assert 4 * limits.MAX_SPEC_BYTES <= limits.MAX_OBJECT_BYTES  # spec + previous spec fit
    Budgets()  # the defaults are consistent


def test_an_object_over_its_budget_is_refused_naming_it() -> None:
    store, proposer = recording_store()
    big = labelled("web", 3_000)
    with pytest.raises(TooLarge) as err:
        store.update(lambda tx: tx.create(big))
    message = str(err.value)
    assert f"service {big.id}" in message
    assert "over the 2000 bytes budget of one object" in message
    assert "nothing was written" in message
    assert err.value.size > 3_000 and err.value.limit == 2_000
    assert proposer.sizes == [] and store.version == 0


def test_a_write_over_its_budget_is_refused_though_each_object_fits() -> None:
    store, proposer = recording_store()

    def create_three(tx: Any) -> None:
        for i in range(3):  # each about 1.7 kB with the fields a service has (fits 2 kB)
            tx.create(labelled(f"s{i}", 700))

    with pytest.raises(TooLarge, match=r"this write of 3 objects .* budget of one write"):
        store.update(create_three)
    assert proposer.sizes == []
    assert store.view(lambda tx: services.list_all(tx)) == []


def test_a_batch_never_builds_a_proposal_over_the_entry_budget() -> None:
    store, proposer = recording_store()

    def fill(batch: Batch) -> None:
        for i in range(20):
            batch.update(lambda tx, i=i: tx.create(labelled(f"s{i}", 700)))  # about 1.7 kB

    result = store.batch(fill)
    assert result.applied == 20
    assert result.proposals == len(proposer.sizes) > 1
    assert max(proposer.sizes) <= SMALL.entry
    assert len(store.view(services.list_all)) == 20


def test_an_oversized_sub_transaction_fails_alone_with_its_own_outcome() -> None:
    store, _ = recording_store()
    small = [labelled(f"s{i}", 100) for i in range(3)]
    big = labelled("big", 5_000)

    def fill(batch: Batch) -> None:
        batch.update(lambda tx: tx.create(small[0]))
        batch.update(lambda tx: tx.create(big))
        batch.update(lambda tx: tx.create(small[1]))
        # the refused write is not visible to the ones after it
        batch.update(lambda tx: tx.create(replace(small[2], spec=replace(small[2].spec))))

    result = store.batch(fill)
    assert result.outcomes[0] is None and result.outcomes[2:] == (None, None)
    assert isinstance(result.outcomes[1], TooLarge)
    assert f"service {big.id}" in str(result.outcomes[1])
    names = {s.spec.name for s in store.view(services.list_all)}
    assert names == {"s0", "s1", "s2"}


def test_two_huge_hostnames_are_refused_at_default_budgets() -> None:
    """The issue's case: two node writes with 8.5 MiB hostnames, in one dispatcher batch."""
    store, proposer = recording_store(Budgets())
    hostname = "h" * (17 << 19)  # 8.5 MiB

    def fill(batch: Batch) -> None:
        for i in range(2):
            n = node(f"n{i}")
            big = replace(n, description=NodeDescription(hostname=hostname))
            batch.update(lambda tx, big=big: tx.create(big))

    result = store.batch(fill)
    assert all(isinstance(o, TooLarge) for o in result.outcomes)
    assert "8.5 MiB" in str(result.outcomes[0])
    assert proposer.sizes == [] and store.view(nodes.list_all) == []


def test_updates_within_budget_still_commit() -> None:
    store, proposer = recording_store()
    n = Node(id="n" * 25, spec=NodeSpec(name="box", labels={"k": "v" * 500}))
    committed = store.update(lambda tx: tx.create(n))
    assert committed.version == 1 and proposer.sizes[0] <= SMALL.write + 100


def test_budgets_must_nest() -> None:
    with pytest.raises(ValueError, match="object <= write <= entry / 2"):
        Budgets(object=10, write=100, entry=150)


def test_a_large_patch_is_checked_by_the_object_it_makes() -> None:
    """An update written as its changed fields (entry format 3) that would make the
    object too large is refused, though the change alone fits."""
    store, proposer = recording_store()
    n = Node(id="n" * 25, spec=NodeSpec(name="box", labels={"k": "v" * 1_200}))
    (stored,) = store.update(lambda tx: tx.create(n)).objects
    grown = replace(stored, description=NodeDescription(hostname="h" * 1_000))
    with pytest.raises(TooLarge, match=f"node {n.id} .* budget of one object"):
        store.update(lambda tx: tx.update(grown))
    small = replace(stored, description=NodeDescription(hostname="h"))
    assert store.update(lambda tx: tx.update(small)).version == 2
    assert len(proposer.sizes) == 2 and proposer.sizes[1] < 300  # the patch, not the node
