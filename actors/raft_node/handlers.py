"""The RaftNode's handlers on the node's remote endpoint (``raft.messages``, ``raft.chunk``,
``raft.propose``, ``raft.status``).

All are inline (`transport.endpoint.inline`): they run on the endpoint's I/O thread and
only put commands on the inbox, still packed (the loop unpacks them), or read a few ints;
they never block. Past `MAX_INBOX` waiting commands a peer's frame or proposal is refused
busy (counted, logged at most once a second); Raft resends what matters. A proposal's
answer keeps its wire codes: ``not_leader`` (with the leader's id), ``too_large`` (with
the size and the limit), ``dropped``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from actors.proposal_errors import NotLeader
from actors.raft_node.commands import MAX_INBOX, Inbox, Receive
from actors.raft_node.core import RaftCore
from actors.raft_node.frames import Chunk
from actors.store.errors import TooLarge
from api.errors import ErrorCode
from transport.endpoint import Handler, Request, inline
from transport.trust import RefusalTally

if TYPE_CHECKING:
    from actors.raft_node.actor import RaftNode

__all__ = ["RaftHandlers"]


class RaftHandlers:
    def __init__(
        self, node: RaftNode, inbox: Inbox, core: RaftCore, clock: Callable[[], float], log: Any
    ) -> None:
        self._node = node
        self._inbox = inbox
        self._core = core  # read racily by raft.status: ints, fine for a probe
        self._clock = clock
        self._log = log
        self._refusals = RefusalTally()  # peers' requests refused for a full inbox

    def table(self) -> dict[str, Handler]:
        return {
            "raft.messages": inline(self._messages),
            "raft.chunk": inline(self._chunk),
            "raft.propose": inline(self._propose),
            "raft.status": inline(self._status),
        }

    def _inbox_full(self, request: Request) -> bool:
        """True (and the request refused) when the inbox holds `MAX_INBOX` commands."""
        if self._inbox.qsize() < MAX_INBOX:
            return False
        count = self._refusals.refuse(request.type, self._clock())
        if count is not None:
            self._log.warning("raft.inbox.full", type=request.type, refused=count)
        request.error(ErrorCode.BUSY, "raft inbox full")
        return True

    def _messages(self, request: Request) -> None:
        if self._inbox_full(request):
            return
        body = request.body
        self._inbox.put(Receive(body["from"], body["seq"], body["batch"], request.peer_key or b""))

    def _chunk(self, request: Request) -> None:
        """A piece of a batch too large for one frame: the loop puts it back together."""
        if self._inbox_full(request):
            return
        b = request.body
        chunk = Chunk(b["from"], b["stream"], b["total"], b["offset"], b["data"])
        self._inbox.put(Receive(chunk.src, b["seq"], chunk, request.peer_key or b""))

    def _propose(self, request: Request) -> None:
        if self._inbox_full(request):
            return None
        body = request.body
        datas = body["data"]
        if not datas or not all(datas):
            return request.reply({"index": 0, "error": "dropped", "message": "empty entry"})
        node = self._node
        try:  # both check every entry's size first
            if body.get("forwarded"):
                future = node.propose_forwarded(datas)
            else:
                future = node.propose_many(datas)
        except TooLarge as exc:
            reply = {"index": 0, "error": "too_large", "message": str(exc)[:300]}
            return request.reply({**reply, "size": exc.size, "limit": exc.limit})

        def done(f: Future[int]) -> None:
            try:  # one look at the future (each takes its condition's lock)
                index = f.result(0)
            except NotLeader as exc:
                request.reply({"index": 0, "error": "not_leader", "leader_id": exc.leader_id or 0})
            except Exception as exc:  # dropped, or cancelled: "dropped" either way
                request.reply({"index": 0, "error": "dropped", "message": str(exc)[:300]})
            else:
                request.reply({"index": index})

        future.add_done_callback(done)
        return None

    def _status(self, request: Request) -> Mapping[str, Any]:
        core = self._core
        return {
            "node_id": core.id,
            "state": core.state.value,
            "term": core.term,
            "leader_id": core.leader_id,
            "commit": core.commit_index,
            "applied": self._node.applied_index,
            "last_index": core.last_index,
        }
