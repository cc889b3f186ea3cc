"""Raft frames between RaftNodes of one process, for the node package's tests."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from actors.proposal_errors import ProposalDropped
from actors.raft_node.actor import RaftNode

__all__ = ["InProcess"]


class InProcess:
    """Raft frames straight to the other members; no forwarding (only leaders write)."""

    def __init__(self, members: dict[int, RaftNode], me: int) -> None:
        self.members, self.me = members, me

    def send(self, dst: int, batch: bytes) -> None:
        member = self.members.get(dst)
        if member is not None:
            member.receive(self.me, 0, batch)

    def forward(self, dst: int, datas: Any) -> Future[int]:
        refused: Future[int] = Future()
        refused.set_exception(ProposalDropped("the test writes on the leader only"))
        return refused

    def close(self) -> None:
        pass
