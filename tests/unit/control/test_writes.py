"""A control write lost to a leader change is retried, spaced by the shared backoff."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from actors.control.writes import modify
from actors.store import MemoryStore, NotLeader, WriteTx
from actors.store.proposer import LocalProposer
from api.ids import new_id
from api.objects import Node
from api.specs import NodeSpec
from tests.support.clocks import ManualClock


class LeaderlessFor:
    """A proposer that has no leader for the first ``lost`` proposals, then commits."""

    def __init__(self, store: MemoryStore, lost: int) -> None:
        self.lost = lost
        self.local = LocalProposer(store.apply)

    def propose(self, data: bytes) -> Future[Any]:
        if self.lost:
            self.lost -= 1
            raise NotLeader()
        return self.local.propose(data)


def add_node(tx: WriteTx) -> str:
    tx.create(Node(id=new_id(), spec=NodeSpec()))
    return "done"


def test_a_write_lost_to_a_leader_change_is_retried_with_growing_pauses() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    store.attach_proposer(LeaderlessFor(store, lost=7))
    pauses: list[float] = []
    committed = modify(store, add_node, clock=clock, sleep=pauses.append)
    assert committed.value == "done"
    # the first retry at once, then 0.02 s doubled up to 0.5 s
    assert pauses == pytest.approx([0.0, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5])


def test_past_the_window_the_lost_write_is_raised() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    store.attach_proposer(LeaderlessFor(store, lost=1000))

    def sleep(seconds: float) -> None:
        clock.advance(1.0)

    with pytest.raises(NotLeader):
        modify(store, add_node, clock=clock, sleep=sleep, window=5.0)
