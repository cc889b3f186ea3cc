"""The Raft inbox the endpoint's I/O thread feeds inline is bounded (issue 8, item 2): past
`MAX_INBOX` waiting items, peers' frames are dropped (Raft resends) and their proposals
answered busy; the node's own proposals still go in."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from actors.raft_node.actor import MAX_INBOX, RaftNode
from actors.raft_node.commands import Receive
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore
from api.errors import ErrorCode
from tests.unit.raft_actor.peer_request import PeerRequest


class NoNetwork:
    def send(self, dst: int, batch: bytes) -> None:
        raise AssertionError("nothing is sent")

    def forward(self, dst: int, datas: Any) -> Any:
        raise AssertionError("nothing is forwarded")

    def close(self) -> None:
        pass


def test_a_full_inbox_refuses_peers(tmp_path: Path) -> None:
    storage = DurableStorage.open(tmp_path, initial_conf_state=ConfState(voters=(1,)))
    node = RaftNode(
        1, (1,), storage, MemoryStore(clock=time.time), network=NoNetwork(), rng=random.Random(1)
    )
    handlers = node.handlers()  # not started: nothing drains the inbox
    for seq in range(MAX_INBOX):
        handlers["raft.messages"](
            PeerRequest("raft.messages", {"from": 2, "seq": seq, "batch": b""})
        )
    dropped = PeerRequest("raft.messages", {"from": 2, "seq": MAX_INBOX, "batch": b""}, id=0)
    handlers["raft.messages"](dropped)
    propose = PeerRequest("raft.propose", {"data": [b"x"], "forwarded": True})
    handlers["raft.propose"](propose)
    assert [code for code, _ in propose.errors] == [ErrorCode.BUSY] and propose.replies == []
    assert node._inbox.qsize() == MAX_INBOX  # neither went in
    node.propose_many([b"mine"])  # the node's own writes are not the peers' to crowd out
    assert node._inbox.qsize() == MAX_INBOX + 1
    # the inbox carries typed commands: a peer's frame, still packed, with its key
    assert node._inbox.get_nowait() == Receive(2, 0, b"", b"peer")
