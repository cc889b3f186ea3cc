"""The leader-only group's wiring: the leadership switch starts and stops the group on the
supervisor's thread, the bootstrap writes the cluster and this node once (and gives up
when its leader can no longer commit), the slot finds the running child."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs

from actors.dispatcher import DispatcherLink
from actors.node.tree.leader_group import (
    LEADER_GROUP,
    ActorSlot,
    ClusterBootstrap,
    LeadershipSwitch,
    RaftHolder,
    Registration,
    leader_children,
)
from actors.node.tree.managers import local_address
from actors.raft_node.actor import LeadershipChange, RaftNode
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore, clusters, nodes
from actors.supervisor import (
    ChildSpec,
    ChildState,
    SupervisedActor,
    Supervisor,
    start_actor,
)
from api.enums import NodeAvailability, NodeRole
from api.objects import NodeDescription, Platform
from tests.support.waiting import wait_for
from tests.unit.node.in_process import InProcess

DEADLINE = 10.0


class Idle(SupervisedActor):
    pass


@pytest.fixture
def root() -> Iterator[tuple[pykka.ActorRef[Any], ActorSlot]]:
    slot = ActorSlot()
    group = ChildSpec(
        LEADER_GROUP,
        start_actor(Supervisor, [ChildSpec("idle", slot.record(start_actor(Idle)))]),
        autostart=False,
    )
    ref = Supervisor.start(None, [group], name="node", watch_interval=None)
    yield ref, slot
    ref.stop()


def group_state(ref: pykka.ActorRef[Any]) -> ChildState:
    [status] = ref.proxy().status().get(timeout=DEADLINE)
    return ChildState(status.state)


def test_the_switch_starts_and_stops_the_group(
    root: tuple[pykka.ActorRef[Any], ActorSlot],
) -> None:
    ref, slot = root
    switch = LeadershipSwitch()
    switch(LeadershipChange(True, 7, 1))  # before attach: kept, sent on attach
    assert group_state(ref) is ChildState.STOPPED
    switch.attach(ref)
    wait_for(lambda: group_state(ref) is ChildState.RUNNING, "group running")
    wait_for(slot.find, "the slot to find the child")
    switch(LeadershipChange(False, 0, 2))
    wait_for(lambda: group_state(ref) is ChildState.STOPPED, "group stopped")
    assert slot.find() is None
    switch(LeadershipChange(True, 7, 3))
    wait_for(lambda: group_state(ref) is ChildState.RUNNING, "group running again")


class _LeaderRaft:
    class _Status:
        is_leader = True
        last_index = 0
        applied = 0

    def status(self, timeout: float = 5.0) -> Any:
        return self._Status()


class _Holder:
    node = _LeaderRaft()

    def require(self) -> Any:
        return self.node


def test_the_dispatcher_starts_right_after_the_bootstrap_and_the_reaper_last() -> None:
    # fails before: the dispatcher started last, after the scheduler's and orchestrator's
    # start read every task, and the agents' sessions after a leader change timed out
    # meanwhile; the scheduler after the reaper, which may answer only after a full pass
    reg = Registration("n" * 25, 1, "127.0.0.1:1", NodeDescription(), {})
    store = MemoryStore.local(clock=time.time)
    children = leader_children(store, RaftHolder(), reg, DispatcherLink(), tuple)
    names = [c.name for c in children]
    assert names == [
        "bootstrap",
        "dispatcher",
        "orchestrator",
        "scheduler",  # what a new task waits for, before what nothing waits for
        "constraintenforcer",
        "taskreaper",
    ]


def test_bootstrap_writes_cluster_and_node_once() -> None:
    store = MemoryStore.local(clock=time.time)
    registration = Registration(
        node_id="1" * 25,
        raft_id=42,
        raft_addr="127.0.0.1:4242",
        description=NodeDescription(hostname="h1", platform=Platform("linux", "x86_64")),
        labels={"zone": "a"},
    )
    for _ in range(2):
        ref = ClusterBootstrap.start(None, store, _Holder(), registration)
        ref.stop()
    cluster, node = store.view(
        lambda tx: (clusters.get_default(tx), nodes.get(tx, registration.node_id))
    )
    assert cluster is not None and len(store.view(clusters.list_all)) == 1
    assert node is not None
    assert node.role is NodeRole.MANAGER and node.spec.desired_role is NodeRole.MANAGER
    assert node.spec.availability is NodeAvailability.ACTIVE
    assert dict(node.spec.labels) == {"zone": "a"}
    assert node.manager_status is not None and node.manager_status.raft_id == 42
    assert node.manager_status.leader
    assert cluster.meta.version == node.meta.version  # one write, not repeated


class TellsRemoved(InProcess):
    """Frames in process until another member says this one was removed from the group;
    from then on it sends nothing (as `actors.raft_node.peers.CurvePeers` does)."""

    removed_by: int | None = None

    def send(self, dst: int, batch: bytes) -> None:
        if self.removed_by is None:
            super().send(dst, batch)


def test_the_bootstrap_gives_up_once_its_leader_was_removed(tmp_path: Path) -> None:
    """A manager back with its old state after --force-new-cluster elsewhere wins its old
    group's election just as the forced cluster tells it it was removed: this term's
    entries never commit. The bootstrap gives up at once, not after its timeout, which
    held the node's stop (its rejoin) past the stop timeout."""
    ids = (1, 2, 3)
    members: dict[int, RaftNode] = {}
    networks = {i: TellsRemoved(members, i) for i in ids}
    for i in ids:
        storage = DurableStorage.open(tmp_path / str(i), initial_conf_state=ConfState(voters=ids))
        members[i] = RaftNode(
            i, ids, storage, MemoryStore(clock=time.time), network=networks[i], tick_interval=0.2
        )
    for node in members.values():
        node.start()
    try:
        leader: int = wait_for(
            lambda: next((i for i, n in members.items() if n.is_leader), 0), "a leader", DEADLINE
        )
        node = members[leader]
        networks[leader].removed_by = 99
        before = node.status().last_index
        node.propose(b"\xc4\x01x")  # never committed now
        wait_for(lambda: node.status().last_index > before, "the entry appended", DEADLINE)
        holder = RaftHolder()
        holder.node = node
        registration = Registration("1" * 25, leader, "127.0.0.1:1", NodeDescription(), {})
        store = MemoryStore.local(clock=time.time)
        bootstrap = ClusterBootstrap(None, store, holder, registration, timeout=30.0)
        with pytest.raises(RuntimeError, match="removed from the group by member 99"):
            bootstrap.on_start()
    finally:
        for node in members.values():
            node.stop()


def test_a_leadership_change_is_logged_once(tmp_path: Path) -> None:
    # fails before: the switch logged raft.leadership.changed again after Raft had
    members: dict[int, RaftNode] = {}
    storage = DurableStorage.open(tmp_path, initial_conf_state=ConfState(voters=(1,)))
    node = RaftNode(
        1,
        (1,),
        storage,
        MemoryStore(clock=time.time),
        network=InProcess(members, 1),
        tick_interval=0.05,
    )
    members[1] = node
    changes: list[LeadershipChange] = []
    node.subscribe(LeadershipSwitch())
    node.subscribe(changes.append)
    with capture_logs() as logs:
        node.start()
        try:
            wait_for(lambda: any(c.is_leader for c in changes), "leadership won", DEADLINE)
        finally:
            node.stop()
    lines = [e for e in logs if e["event"] == "raft.leadership.changed"]
    won = [(c.is_leader, c.term) for c in changes[1:]]  # [0]: the state at subscribe
    assert [(e["is_leader"], e["term"]) for e in lines] == won


def test_local_address_replaces_wildcards() -> None:
    assert local_address("tcp://0.0.0.0:4242") == "tcp://127.0.0.1:4242"
    assert local_address("tcp://10.0.0.1:4242") == "tcp://10.0.0.1:4242"
