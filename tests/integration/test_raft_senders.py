"""A Raft frame speaks only for the member whose key sent it (issue 8, item 1).

Two members of a three-member group run in this process, each a real `RaftNode` over CURVE
(`CurvePeers`) behind a real transport ``Endpoint``; member 3 does not run, and the test
sends frames with its key pair (a manager whose certificate is good) or a stranger's. A
frame claiming another member's id, this node's own id, an unknown id, or carrying a
message of another member is dropped and counted (``RaftNode.refused_frames``); the same
frame in member 3's own name is stepped. Waits poll with a deadline; nothing is timed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from actors.raft_node.actor import RaftNode
from actors.raft_node.peers import Peer
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState, Message, MessageType
from actors.raft_node.wire import encode_batch
from actors.store import MemoryStore
from api.objects import Node
from tests.support.raft_cluster import free_port
from tests.support.waiting import any_error, wait_for
from transport import AllowList, Client, Endpoint, KeyPair, generate_keypair

IDS = (1, 2, 3)
RUNNING = (1, 2)
ABSENT = 3


@dataclass
class Member:
    node: RaftNode
    store: MemoryStore
    endpoint: Endpoint


@dataclass
class Group:
    keys: dict[int, KeyPair]
    peers: dict[int, Peer]
    members: dict[int, Member]
    stranger: KeyPair

    def leader(self) -> int:
        def find() -> int | None:
            leaders = [i for i, m in self.members.items() if m.node.is_leader]
            return leaders[0] if len(leaders) == 1 else None

        return wait_for(find, "a leader", 20, tolerate=any_error)

    def send(self, keys: KeyPair, dst: int, claimed: int, messages: list[Message]) -> None:
        peer = self.peers[dst]
        with Client(peer.addr, server_key=peer.server_key, keypair=keys) as client:
            client.send(
                "raft.messages", {"from": claimed, "seq": 1, "batch": encode_batch(messages)}
            )
            # a request after it on the same connection: once answered, the frame is in
            client.request("raft.status", {}, timeout=10.0)


@pytest.fixture
def group(tmp_path: Path) -> Iterator[Group]:
    keys = {i: generate_keypair() for i in IDS}
    stranger = generate_keypair()
    peers = {i: Peer(i, f"tcp://127.0.0.1:{free_port()}", keys[i].public) for i in IDS}
    # ZAP admits every key a manager's admission would (all hold manager certificates),
    # and the stranger, as it admits unknown keys; the frames are judged by the node
    admission = AllowList([*(k.public for k in keys.values()), stranger.public])
    members: dict[int, Member] = {}
    try:
        for i in RUNNING:
            storage = DurableStorage.open(
                tmp_path / str(i), initial_conf_state=ConfState(voters=IDS)
            )
            store = MemoryStore(clock=time.time)
            node = RaftNode(
                i,
                peers,
                storage,
                store,
                keypair=keys[i],
                tick_interval=0.02,
                rng=random.Random(i),
            )
            store.attach_proposer(node)
            endpoint = Endpoint(
                peers[i].addr, node.handlers(), keypair=keys[i], admission=admission, name=f"r{i}"
            )
            endpoint.start()
            members[i] = Member(node.start(), store, endpoint)
        yield Group(keys, peers, members, stranger)
    finally:
        for m in members.values():
            m.endpoint.stop()
            m.node.stop()


def takeover(src: int, dst: int, term: int) -> Message:
    """A heartbeat of a leader at ``term``: stepped, it makes ``dst`` follow ``src``."""
    return Message(type=MessageType.HEARTBEAT, src=src, dst=dst, term=term)


def test_forged_frames_are_dropped_and_counted(group: Group) -> None:
    leader = group.leader()
    follower = next(i for i in RUNNING if i != leader)
    target = group.members[follower].node
    high = target.term + 1000
    member_3, stranger = group.keys[ABSENT], group.stranger
    forgeries = [
        (member_3, leader, [takeover(leader, follower, high)]),  # another member's id
        (member_3, ABSENT, [takeover(leader, follower, high)]),  # a message of another
        (member_3, follower, [takeover(follower, follower, high)]),  # the receiver's id
        (member_3, 99, [takeover(99, follower, high)]),  # no member
        (stranger, ABSENT, [takeover(ABSENT, follower, high)]),  # a member's id, not its key
    ]
    for n, (keys, claimed, messages) in enumerate(forgeries, start=1):
        group.send(keys, follower, claimed, messages)
        wait_for(
            lambda n=n: target.refused_frames >= n,
            f"forged frame {n} refused",
            10,
            tolerate=any_error,
        )
    assert target.refused_frames == len(forgeries)
    assert target.term < high and target.leader_id == leader

    # the group still commits through both members
    group.members[leader].store.update(lambda tx: tx.create(Node("n" * 25)))
    wait_for(
        lambda: group.members[follower].store.view(lambda tx: tx.version) > 0,
        "the write replicated",
        10,
        tolerate=any_error,
    )

    # the same frame in member 3's own name is stepped: the forgeries would have counted
    group.send(member_3, follower, ABSENT, [takeover(ABSENT, follower, high)])
    wait_for(lambda: target.term >= high, "the member's own frame stepped", 10, tolerate=any_error)
    assert target.refused_frames == len(forgeries)


def test_a_member_is_not_re_announced_under_another_key(group: Group) -> None:
    leader = group.members[group.leader()].node
    other = next(i for i in RUNNING if i != leader.id)
    forged = Peer(other, "tcp://127.0.0.1:1", group.keys[ABSENT].public)
    with pytest.raises(ValueError, match="another member"):
        leader.add_member(forged).result(10)
    same = group.peers[other]
    assert leader.add_member(same).result(10) == 0  # its own key: refreshed, no change
