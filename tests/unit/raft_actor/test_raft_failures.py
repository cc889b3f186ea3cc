"""A RaftNode's failures reach its supervisor: a leadership subscriber that raises (on the
events thread) fails the node like a crash of its loop does, the RaftNodeActor crashes, and
the supervisor restarts it over the reopened storage."""

from __future__ import annotations

import random
import time
from pathlib import Path

from actors.backoff import Backoff
from actors.raft_node.actor import LeadershipChange, RaftNode, RaftNodeActor
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore
from actors.supervisor import ChildSpec, Supervisor, start_actor
from tests.support.waiting import wait_for
from tests.unit.raft_actor.test_raft_inbox import NoNetwork


def single(root: Path) -> RaftNode:
    storage = DurableStorage.open(root, initial_conf_state=ConfState(voters=(1,)))
    store = MemoryStore(clock=time.time)
    node = RaftNode(
        1, (1,), storage, store, network=NoNetwork(), tick_interval=0.01, rng=random.Random(1)
    )
    store.attach_proposer(node)
    return node


def fail_once_leading(change: LeadershipChange) -> None:
    if change.is_leader:
        raise RuntimeError("subscriber broke")


def test_a_failing_subscriber_fails_the_node(tmp_path: Path) -> None:
    node = single(tmp_path)
    reported: list[BaseException] = []
    node.report_failures_to(reported.append)
    node.subscribe(fail_once_leading)
    node.start()
    try:
        wait_for(lambda: reported, "the failure reported")
        assert isinstance(node.failure, RuntimeError) and reported == [node.failure]
    finally:
        node.stop()


def test_a_failure_before_anyone_listens_is_reported_when_they_do(tmp_path: Path) -> None:
    node = single(tmp_path)
    node.subscribe(lambda change: 1 / 0)  # fails on the first delivery, before start
    wait_for(lambda: node.failure is not None, "the failure recorded")
    reported: list[BaseException] = []
    node.report_failures_to(reported.append)
    assert reported == [node.failure] and isinstance(node.failure, ZeroDivisionError)
    node.stop()


def test_the_supervisor_restarts_a_node_whose_subscriber_failed(tmp_path: Path) -> None:
    made: list[RaftNode] = []

    def make() -> RaftNode:
        node = single(tmp_path)
        if not made:  # the first incarnation's subscriber fails once it leads
            node.subscribe(fail_once_leading)
        made.append(node)
        return node

    spec = ChildSpec(
        "raft", start_actor(RaftNodeActor, make), backoff=Backoff(initial=0.01, maximum=0.01)
    )
    ref = Supervisor.start(None, [spec], name="test")
    try:
        wait_for(lambda: len(made) == 2 and made[1].is_leader, "a restarted node leading")
        assert ref.proxy().restart_counts().get(timeout=5)["raft"] == 1
        assert isinstance(made[0].failure, RuntimeError) and made[1].failure is None
    finally:
        ref.stop()
