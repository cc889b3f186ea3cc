"""The membership keeper carries plans out on a real Raft group: three RaftNodes over an
in-process network (real threads, real fsync, real stores), one keeper each, ticked by
the test. Its own failures reach the supervisor; Raft's refusals do not."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from actors.node.membership.keeper import UNHEARD_GRACE, MembershipKeeper
from actors.node.membership.plan import (
    MarkWorker,
    MembershipPlan,
    PromoteLearner,
    RemoveMember,
    SetManagerStatus,
)
from actors.node.tree.leader_group import RaftHolder
from actors.periodic import PeriodicActor
from actors.raft_node.actor import RaftNode
from actors.raft_node.status import PeerInfo, RaftStatus
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState, RaftState
from actors.store import MemoryStore, WriteTx, nodes
from actors.supervisor import ChildSpec, Restart, Supervisor
from api.enums import NodeRole, Reachability
from api.objects import ManagerStatus, Node
from api.specs import NodeSpec
from tests.support.clocks import ManualTimer
from tests.support.waiting import wait_for
from tests.unit.node.in_process import InProcess

IDS = (1, 2, 3)


class Managers:
    """Three managers: Raft member i is Node ``m{i}``."""

    def __init__(self, root: Path) -> None:
        self.rafts: dict[int, RaftNode] = {}
        self.stores: dict[int, MemoryStore] = {}
        self.keepers: dict[int, MembershipKeeper] = {}
        for i in IDS:
            storage = DurableStorage.open(root / str(i), initial_conf_state=ConfState(IDS))
            store = MemoryStore(clock=time.time)
            raft = RaftNode(
                i,
                IDS,
                storage,
                store,
                network=InProcess(self.rafts, i),
                tick_interval=0.01,
                rng=random.Random(i),
            )
            store.attach_proposer(raft)
            self.rafts[i], self.stores[i] = raft, store
            holder = RaftHolder()
            holder.node = raft
            self.keepers[i] = MembershipKeeper(store, holder, timeout=5.0)
        for raft in self.rafts.values():
            raft.start()
        leader = self.leader()

        def register(tx: WriteTx) -> None:
            for i in IDS:
                spec = NodeSpec(desired_role=NodeRole.MANAGER)
                status = ManagerStatus(raft_id=i, addr=f"127.0.0.1:{i}")
                tx.create(Node(id=f"m{i}", spec=spec, role=NodeRole.MANAGER, manager_status=status))

        self.stores[leader].update(register)

    def leader(self) -> int:
        def find() -> int | None:
            leaders = [i for i, r in self.rafts.items() if r.is_leader]
            return leaders[0] if len(leaders) == 1 else None

        return wait_for(find, "one leader")

    def node(self, node_id: str, *, on: int | None = None) -> Node:
        found = self.stores[on or self.leader()].view(lambda tx: nodes.get(tx, node_id))
        assert found is not None
        return found

    def tick_all(self) -> bool:
        for keeper in self.keepers.values():
            keeper.tick(time.monotonic())
        return True

    def demote(self, i: int) -> None:
        def write(tx: WriteTx) -> None:
            node = nodes.get(tx, f"m{i}")
            assert node is not None
            tx.update(replace(node, spec=replace(node.spec, desired_role=NodeRole.WORKER)))

        self.stores[self.leader()].update(write)

    def voters(self) -> tuple[int, ...]:
        return self.rafts[self.leader()].status().voters

    def stop(self) -> None:
        for raft in self.rafts.values():
            raft.stop()


@pytest.fixture
def managers(tmp_path: Path) -> Iterator[Managers]:
    group = Managers(tmp_path)
    yield group
    group.stop()


def status(managers: Managers, i: int) -> ManagerStatus | None:
    return managers.node(f"m{i}").manager_status


def test_the_leader_writes_every_manager_s_status(managers: Managers) -> None:
    leader = managers.leader()

    def current() -> bool:
        managers.tick_all()
        seen = {i: status(managers, i) for i in IDS}
        return all(
            s is not None and s.leader == (i == leader) and s.reachability is Reachability.REACHABLE
            for i, s in seen.items()
        )

    wait_for(current, "leader flags and reachability written", interval=0.05)


def test_a_demoted_follower_leaves_raft_and_becomes_a_worker(managers: Managers) -> None:
    follower = next(i for i in IDS if i != managers.leader())
    managers.demote(follower)

    def demoted() -> bool:
        managers.tick_all()
        node = managers.node(f"m{follower}")
        return follower not in managers.voters() and node.role is NodeRole.WORKER

    wait_for(demoted, "the follower out of Raft, its role worker", interval=0.05)
    assert status(managers, follower) is None


def test_a_demoted_leader_hands_over_and_the_new_leader_removes_it(managers: Managers) -> None:
    old = managers.leader()
    managers.demote(old)

    def demoted() -> bool:
        managers.tick_all()
        leader = managers.leader()
        node = managers.node(f"m{old}", on=leader)
        return leader != old and old not in managers.voters() and node.role is NodeRole.WORKER

    wait_for(demoted, "leadership handed over, the old leader out", interval=0.05)


def test_a_status_write_skips_a_node_that_changed_since_the_plan(managers: Managers) -> None:
    leader = managers.leader()
    keeper, raft = managers.keepers[leader], managers.rafts[leader]
    planned_from = ManagerStatus(raft_id=2, addr="elsewhere:1")  # not what the store holds
    wanted = ManagerStatus(raft_id=2, addr="127.0.0.1:2", leader=True)
    keeper.carry_out(raft, MembershipPlan(statuses=(SetManagerStatus("m2", planned_from, wanted),)))
    assert status(managers, 2) == ManagerStatus(raft_id=2, addr="127.0.0.1:2")


def test_a_change_raft_refuses_is_left_to_the_next_round(managers: Managers) -> None:
    leader = managers.leader()
    keeper, raft = managers.keepers[leader], managers.rafts[leader]
    keeper.carry_out(raft, MembershipPlan(step=RemoveMember("m9", 9)))  # not a member
    keeper.carry_out(raft, MembershipPlan(step=PromoteLearner(2)))  # a voter already
    assert managers.voters() == IDS


def test_marking_a_worker_that_still_has_a_raft_id_clears_it(managers: Managers) -> None:
    """A Node recorded a worker, then given a Raft id by a join that landed after its
    demotion (the planner takes it out of Raft, then marks it again): the id goes."""
    leader = managers.leader()
    keeper, raft = managers.keepers[leader], managers.rafts[leader]
    stale = ManagerStatus(raft_id=9, addr="127.0.0.1:9")

    def create(tx: WriteTx) -> None:
        tx.create(Node(id="w9", spec=NodeSpec(), role=NodeRole.WORKER, manager_status=stale))

    managers.stores[leader].update(create)
    keeper.carry_out(raft, MembershipPlan(step=MarkWorker("w9")))
    node = managers.node("w9")
    assert node.role is NodeRole.WORKER and node.manager_status is None


class BuggyRaftNode:
    """Answers status with a bug's exception."""

    def status(self, timeout: float = 5.0) -> Any:
        raise AttributeError("a bug in the round")


def test_a_failing_round_crashes_the_keeper_and_the_supervisor_restarts_it() -> None:
    timer = ManualTimer()
    holder = RaftHolder()
    holder.node = BuggyRaftNode()  # type: ignore[assignment]
    keeper = MembershipKeeper(MemoryStore.local(clock=time.time), holder)
    spec = ChildSpec(
        "managers",
        lambda ctx: PeriodicActor.start(ctx, keeper, first_delay=0.0),
        restart=Restart.PERMANENT,
        max_restarts=100,
    )
    ref = Supervisor.start(None, [spec], name="leader", clock=timer.clock, timer=timer)
    try:
        supervisor = ref.proxy()

        def restarted() -> bool:
            timer.advance(1.0)
            return supervisor.restart_counts().get(timeout=5)["managers"] >= 1

        wait_for(restarted, "the keeper restarted after its crash")
    finally:
        ref.stop()


class SilentMemberRaft:
    """The leader (Raft id 1) of three whose member 3 it has never heard from: joined
    and killed before its first answer, or dead since before this leader won."""

    def __init__(self) -> None:
        self.heard_3: float | None = None

    def status(self, timeout: float = 5.0) -> RaftStatus:
        def peer(pid: int, ago: float | None) -> PeerInfo:
            return PeerInfo(pid, f"127.0.0.1:{pid}", ago is not None and ago < 1.0, ago, 100)

        return RaftStatus(
            node_id=1,
            state=RaftState.LEADER,
            term=2,
            leader_id=1,
            is_leader=True,
            commit=100,
            applied=100,
            last_index=100,
            snapshot_index=0,
            voters=IDS,
            learners=(),
            peers={2: peer(2, 0.1), 3: peer(3, self.heard_3)},
        )


def test_a_member_never_heard_from_is_unreachable_once_its_grace_is_over() -> None:
    store = MemoryStore.local(clock=time.time)

    def register(tx: WriteTx) -> None:
        for i in IDS:
            status = ManagerStatus(
                raft_id=i, addr=f"127.0.0.1:{i}", reachability=Reachability.REACHABLE
            )
            spec = NodeSpec(desired_role=NodeRole.MANAGER)
            tx.create(Node(id=f"m{i}", spec=spec, role=NodeRole.MANAGER, manager_status=status))

    store.update(register)
    raft = SilentMemberRaft()
    holder = RaftHolder()
    holder.node = raft  # type: ignore[assignment]
    keeper = MembershipKeeper(store, holder)

    def reachability() -> Reachability:
        ms = store.view(lambda tx: nodes.get(tx, "m3")).manager_status
        assert ms is not None
        return ms.reachability

    keeper.tick(1000.0)  # just joined, or this leader just won: its record stands
    assert reachability() is Reachability.REACHABLE
    keeper.tick(1000.0 + UNHEARD_GRACE / 2)
    assert reachability() is Reachability.REACHABLE
    keeper.tick(1000.0 + UNHEARD_GRACE)  # never answered: it is not reachable
    assert reachability() is Reachability.UNREACHABLE
    raft.heard_3 = 0.1  # it answers at last
    keeper.tick(1000.0 + UNHEARD_GRACE + 1)
    assert reachability() is Reachability.REACHABLE
