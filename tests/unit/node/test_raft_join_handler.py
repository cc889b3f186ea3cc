"""``raft.join`` answered by a Raft group whose quorum depends on the joining node's own old
member (actors/node/membership/join.py, join_policy.py): the old group after
``--force-new-cluster`` elsewhere, when one of its managers asks to join under a new Raft
id. Two RaftNodes in one process, the handler on a real CURVE endpoint, the joiner with
a certificate of the cluster's CA."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from actors.ca.authorization import ClusterAdmission
from actors.ca.bootstrap import bootstrap_cluster_security
from actors.ca.certs import create_csr, generate_node_key, issue_node_certificate
from actors.log import get_logger
from actors.node.membership.join import RAFT_JOIN, raft_join_handler
from actors.node.tree.leader_group import RaftHolder
from actors.raft_node.actor import RaftNode
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore
from api.enums import NodeRole
from api.errors import RemoteError
from api.ids import new_id
from api.objects import ManagerStatus, Node
from api.specs import NodeSpec
from tests.support.waiting import wait_for
from tests.unit.node.in_process import InProcess
from transport import Client, Endpoint, KeyPair, generate_keypair

IDS = (7, 8)
NEW_RAFT_ID = 9


@dataclass
class OldGroup:
    members: dict[int, RaftNode]
    leader: int
    follower: int
    admission: ClusterAdmission
    store: MemoryStore  # the handlers' store: the joiner's Node, its old member recorded
    joiner_id: str
    joiner_keys: KeyPair


@pytest.fixture
def group(tmp_path: Path) -> Iterator[OldGroup]:
    rng = random.Random(3)
    cluster_id, manager_id, joiner_id = new_id(rng), new_id(rng), new_id(rng)
    sec = bootstrap_cluster_security(
        time.time(),
        rng,
        cluster_id=cluster_id,
        node_id=manager_id,
        curve_public_key=generate_keypair().public,
    )
    admission = ClusterAdmission(sec.ca.cert, cluster_id, clock=time.time, logger=get_logger("ca"))
    joiner_keys = generate_keypair()
    issued = issue_node_certificate(
        sec.ca,
        create_csr(generate_node_key(), joiner_keys.public),
        node_id=joiner_id,
        role=NodeRole.MANAGER,
        cluster_id=cluster_id,
        now=time.time(),
        rng=rng,
    )
    admission.add_certificate(issued.cert_pem, NodeRole.MANAGER)
    members: dict[int, RaftNode] = {}
    for raft_id in IDS:
        storage = DurableStorage.open(
            tmp_path / str(raft_id), initial_conf_state=ConfState(voters=IDS)
        )
        members[raft_id] = RaftNode(
            raft_id,
            IDS,
            storage,
            MemoryStore(clock=time.time),
            network=InProcess(members, raft_id),
            tick_interval=0.05,
        )
    for node in members.values():
        node.start()
    try:
        leader: int = wait_for(
            lambda: next((i for i, n in members.items() if n.is_leader), 0), "a leader", 20.0
        )
        yield OldGroup(
            members,
            leader,
            next(i for i in IDS if i != leader),
            admission,
            MemoryStore.local(clock=time.time),
            joiner_id,
            joiner_keys,
        )
    finally:
        for node in members.values():
            node.stop()


def joiner_was(group: OldGroup, raft_id: int) -> None:
    """The joining node's Node as the old group recorded it: a manager, member ``raft_id``."""
    node = Node(
        id=group.joiner_id,
        spec=NodeSpec(desired_role=NodeRole.MANAGER),
        role=NodeRole.MANAGER,
        manager_status=ManagerStatus(raft_id=raft_id, addr="127.0.0.1:1"),
    )
    group.store.update(lambda tx: tx.create(node))


def ask(group: OldGroup, at: int) -> dict[str, object]:
    """``raft.join`` under a new Raft id, asked of member ``at``'s handler."""
    holder = RaftHolder()
    holder.node = group.members[at]
    managers = [
        {"addr": f"tcp://127.0.0.1:{1000 + i}", "server_key": "k" * 40, "raft_id": str(i)}
        for i in IDS
    ]
    handler = raft_join_handler(
        holder, group.store, group.admission, lambda: managers, lambda: IDS, timeout=10.0
    )
    keys = generate_keypair()
    endpoint = Endpoint(
        "tcp://127.0.0.1:0", {RAFT_JOIN: handler}, keypair=keys, admission=group.admission
    )
    address = endpoint.start()
    try:
        with Client(address, server_key=keys.public, keypair=group.joiner_keys, timeout=20) as c:
            body = {"node_id": group.joiner_id, "raft_id": NEW_RAFT_ID, "addr": "127.0.0.1:2"}
            return dict(c.request(RAFT_JOIN, body))
    finally:
        endpoint.stop()


def test_a_leader_whose_quorum_is_the_joiner_s_old_member_refuses_at_once(
    group: OldGroup,
) -> None:
    """The follower is the joining node's old member: the leader alone is no quorum of
    two, and the change would wait for an acknowledgement that never comes (the joiner
    dropped that member's state). It refuses at once, saying why."""
    joiner_was(group, group.follower)
    with pytest.raises(RemoteError) as refused:
        ask(group, group.leader)
    assert refused.value.code == "unavailable"
    assert "1 of its 2 voters are live, a quorum is 2" in refused.value.message
    assert f"member {group.follower} was the joining node's own" in refused.value.message
    status = group.members[group.leader].status()
    assert NEW_RAFT_ID not in (*status.voters, *status.learners)  # nothing was proposed


def test_a_follower_does_not_name_the_joiner_s_old_member_as_the_leader(
    group: OldGroup,
) -> None:
    """The leader the follower knows is the joining node's own old member: named, the
    joiner would ask itself."""
    joiner_was(group, group.leader)
    assert ask(group, group.follower) == {"ok": False}


def test_a_follower_names_the_leader_to_another_joiner(group: OldGroup) -> None:
    joiner_was(group, 99)  # its old member is not in this group
    reply = ask(group, group.follower)
    assert reply["leader_addr"] == f"tcp://127.0.0.1:{1000 + group.leader}"
