"""A peer's ``raft.propose`` is answered from the loop thread through a `ProposalAnswer`
(no Future on every remote write's path): with the entry's index once applied, or with
the wire codes of its failure; the first outcome is the only answer."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from actors.proposal_errors import NotLeader, ProposalDropped, StorageFull
from actors.raft_node.actor import RaftNode
from actors.raft_node.handlers import ProposalAnswer
from actors.raft_node.peers import propose_reply_error
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore
from tests.support.waiting import wait_for
from tests.unit.raft_actor.peer_request import PeerRequest


class SilentNetwork:
    def send(self, dst: int, batch: bytes) -> None:
        pass  # the other voters are down

    def forward(self, dst: int, datas: Any) -> Any:
        raise AssertionError("nothing is forwarded")

    def close(self) -> None:
        pass


def started(tmp_path: Path, voters: tuple[int, ...]) -> RaftNode:
    storage = DurableStorage.open(tmp_path, initial_conf_state=ConfState(voters=voters))
    node = RaftNode(
        1,
        voters,
        storage,
        MemoryStore(clock=time.time),
        network=SilentNetwork(),
        rng=random.Random(1),
        tick_interval=0.01,
    )
    return node.start()


def test_a_peer_proposal_is_answered_with_its_index_once_applied(tmp_path: Path) -> None:
    node = started(tmp_path, (1,))
    try:
        wait_for(lambda: node.is_leader, "node 1 to lead", 10)
        request = PeerRequest("raft.propose", {"data": [b"\xc4\x01x", b"\xc4\x01y"]})
        node.handlers()["raft.propose"](request)
        wait_for(lambda: request.replies, "the answer", 10)
        [answer] = request.replies
        assert request.errors == []
        assert answer["index"] > 0 and "error" not in answer
        assert node.applied_index >= answer["index"]  # answered once applied here
    finally:
        node.stop()


def test_a_forwarded_proposal_to_a_member_that_does_not_lead_is_answered_not_leader(
    tmp_path: Path,
) -> None:
    node = started(tmp_path, (1, 2, 3))  # no votes ever come: it never leads
    try:
        request = PeerRequest("raft.propose", {"data": [b"\xc4\x01x"], "forwarded": True})
        node.handlers()["raft.propose"](request)
        wait_for(lambda: request.replies, "the answer", 10)
        assert request.replies == [{"index": 0, "error": "not_leader", "leader_id": 0}]
    finally:
        node.stop()


def test_only_the_first_outcome_is_answered() -> None:
    request = PeerRequest("raft.propose", {"data": [b"x"]})
    answer = ProposalAnswer(request, None)  # type: ignore[arg-type]
    assert not answer.done()
    answer.set_exception(ProposalDropped("lost leadership; outcome unknown"))
    answer.set_result(7)
    answer.set_exception(NotLeader(2))
    assert answer.done()
    assert request.replies == [
        {"index": 0, "error": "dropped", "message": "lost leadership; outcome unknown"}
    ]


def test_a_full_disk_refusal_reaches_the_forwarding_member_as_such() -> None:
    request = PeerRequest("raft.propose", {"data": [b"x"], "forwarded": True})
    answer = ProposalAnswer(request, None)  # type: ignore[arg-type]
    answer.set_exception(StorageFull("no space left on the disk of the Raft log in /d"))
    assert request.replies == [
        {
            "index": 0,
            "error": "no_space",
            "message": "no space left on the disk of the Raft log in /d",
        }
    ]
    error = propose_reply_error(request.replies[0])
    assert isinstance(error, StorageFull) and "/d" in str(error)  # not retried as dropped
