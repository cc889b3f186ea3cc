"""The RaftNode's handlers on the node's remote endpoint (``raft.messages``, ``raft.chunk``,
``raft.propose``, ``raft.status``).

All are inline (`transport.endpoint.inline`): they run on the endpoint's I/O thread. The
frames and proposals of one inbound batch are queued (`RaftNode.hand_in`) and carried out
there in one round after the batch (the handlers' ``after``: `RaftNode.run_handed_in`)
when the loop is free: no hand-off to the loop thread on a write's path, one fsync for the
batch; else the loop thread is woken for them. They stay packed until the round unpacks
them. A chunk always goes to the loop thread; ``raft.status`` reads a few ints. Past
`MAX_INBOX` waiting commands a peer's frame or proposal is refused busy (counted, logged at
most once a second); Raft resends what matters. A proposal's answer keeps its wire codes:
``not_leader`` (with the leader's id), ``too_large`` (with the size and the limit),
``dropped``.

A frame from a member removed from the group (``RaftNode.removed_ids``) is dropped and
answered with a one-way ``raft.removed`` notice, so that member stops taking part (peers.py)
instead of forming a group of its own with other removed members: after
``--force-new-cluster`` on one manager, two old managers started again with their old
state made a majority of their old group between themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from actors.metrics import raft as metrics
from actors.proposal_errors import NotLeader, StorageFull
from actors.raft_node.commands import MAX_INBOX, Inbox, Receive
from actors.raft_node.core import RaftCore
from actors.raft_node.frames import Chunk
from actors.store.errors import TooLarge
from api.errors import ErrorCode
from api.schema.raft import RAFT_REMOVED
from transport.endpoint import Handler, Request, inline
from transport.trust import RefusalTally

if TYPE_CHECKING:
    from actors.raft_node.actor import RaftNode

__all__ = ["ProposalAnswer", "RaftHandlers"]


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
        self._told_removed = RefusalTally()  # frames of removed members answered so

    def table(self) -> dict[str, Handler]:
        return {
            "raft.messages": inline(self._messages, after=self._node.run_handed_in),
            "raft.chunk": inline(self._chunk),
            "raft.propose": inline(self._propose, after=self._node.run_handed_in),
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

    def _from_removed(self, request: Request) -> bool:
        """True (and the sender told so) when the frame comes from a removed member."""
        src = request.body["from"]
        if src not in self._node.removed_ids:
            return False
        request.tell_sender(RAFT_REMOVED.name, {"from": self._node.id, "member": src})
        count = self._told_removed.refuse(str(src), self._clock())
        if count is not None:
            self._log.warning("raft.removed_member.told", member=src, frames=count)
        return True

    def _messages(self, request: Request) -> None:
        if self._from_removed(request) or self._inbox_full(request):
            return
        body = request.body
        key = request.peer_key or b""
        self._node.hand_in(Receive(body["from"], body["seq"], body["batch"], key))

    def _chunk(self, request: Request) -> None:
        """A piece of a batch too large for one frame: the loop thread puts it back together
        (a snapshot: its install may take long, never on the endpoint's I/O thread)."""
        if self._from_removed(request) or self._inbox_full(request):
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
        forwarded = bool(body.get("forwarded"))
        answer = ProposalAnswer(request, None if forwarded else self._clock)
        try:  # checks every entry's size first
            self._node.propose_answering(datas, answer, forwarded=forwarded)
        except TooLarge as exc:
            reply = {"index": 0, "error": "too_large", "message": str(exc)[:300]}
            return request.reply({**reply, "size": exc.size, "limit": exc.limit})
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


class ProposalAnswer:
    """A peer's proposal's outcome, answered to the peer when the loop sets it (the
    `Completion` the loop resolves; the first outcome wins, later ones are ignored).
    With a ``clock``, its latency is counted in the proposal metrics as a local write's."""

    __slots__ = ("_clock", "_done", "_request", "_started")

    def __init__(self, request: Request, clock: Callable[[], float] | None) -> None:
        self._request = request
        self._clock = clock
        self._started = clock() if clock is not None else 0.0
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, result: Any) -> None:
        if self._claim():
            # the loop's int index: the body needs no matching to its declaration
            self._request.reply({"index": result}, check=False)
            self._count(failed=False)  # after the answer: off its path

    def set_exception(self, exception: BaseException) -> None:
        if not self._claim():
            return
        if isinstance(exception, NotLeader):
            lead = exception.leader_id or 0
            self._request.reply({"index": 0, "error": "not_leader", "leader_id": lead})
        elif isinstance(exception, StorageFull):  # nothing appended: the caller may say so
            self._request.reply({"index": 0, "error": "no_space", "message": str(exception)[:300]})
        else:  # dropped, or the node stopped: "dropped" either way
            self._request.reply({"index": 0, "error": "dropped", "message": str(exception)[:300]})
        self._count(failed=True)

    def _claim(self) -> bool:
        """True for the first outcome (which is answered), False for any later one."""
        if self._done:
            return False
        self._done = True
        return True

    def _count(self, *, failed: bool) -> None:
        if self._clock is not None:
            metrics.proposal_done(self._clock() - self._started, failed)
