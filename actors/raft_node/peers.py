"""How a RaftNode reaches its peers: one CURVE DEALER per peer, to the peer's ROUTER.

`PeerNetwork` is what the loop needs: ``send`` one frame of Raft messages to a peer (one
way, loss tolerated) and ``forward`` a batch of proposals to the leader (a request whose
future gives the index of the batch's last entry, once the leader has applied it).
`CurvePeers` implements it over `transport.Client`s; tests may plug in an in-process one.
Clients are created lazily and live until `close`; ZeroMQ reconnects them.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from actors.store.errors import NotLeader, ProposalDropped
from api.errors import TransportError
from transport.client import Client
from transport.keys import KeyPair

__all__ = ["CurvePeers", "Peer", "PeerNetwork", "propose_reply_error"]

MESSAGES = "raft.messages"
PROPOSE = "raft.propose"


@dataclass(frozen=True, slots=True)
class Peer:
    """A member of the Raft group: its id, its remote ROUTER address and CURVE server key."""

    id: int
    addr: str  # e.g. tcp://127.0.0.1:4242
    server_key: bytes  # Z85 public key of the peer's endpoint


class PeerNetwork(Protocol):
    def send(self, dst: int, batch: bytes) -> None:
        """Send one encoded batch of Raft messages to `dst` (one way; may be lost)."""
        ...

    def forward(self, dst: int, datas: Sequence[bytes]) -> Future[int]:
        """Ask leader `dst` to propose `datas`; the future gives the last entry's index or
        fails with NotLeader / ProposalDropped (store errors)."""
        ...

    def close(self) -> None: ...


def propose_reply_error(body: Mapping[str, Any]) -> Exception | None:
    """The store error a ``raft.propose.reply`` body carries, or None on success."""
    error = body.get("error")
    if not error:
        return None
    if error == "not_leader":
        return NotLeader(int(body.get("leader_id") or 0) or None)
    return ProposalDropped(str(body.get("message") or error))


class CurvePeers:
    def __init__(
        self,
        node_id: int,
        peers: Mapping[int, Peer],
        keypair: KeyPair,
        *,
        forward_timeout: float = 5.0,
    ) -> None:
        self._id = node_id
        self._peers = {pid: p for pid, p in peers.items() if pid != node_id}
        self._keypair = keypair
        self._forward_timeout = forward_timeout
        self._clients: dict[int, Client] = {}
        self._seq: dict[int, itertools.count[int]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _client(self, dst: int) -> Client | None:
        client = self._clients.get(dst)
        if client is not None:
            return client
        peer = self._peers.get(dst)
        if peer is None:
            return None
        with self._lock:
            if self._closed:
                return None
            client = self._clients.get(dst)
            if client is None:
                client = Client(
                    peer.addr,
                    server_key=peer.server_key,
                    keypair=self._keypair,
                    timeout=self._forward_timeout,
                    name=f"raft-{self._id}-to-{dst}",
                )
                self._seq[dst] = itertools.count(1)
                self._clients[dst] = client
        return client

    def send(self, dst: int, batch: bytes) -> None:
        client = self._client(dst)
        if client is None:
            return
        body = {"from": self._id, "seq": next(self._seq[dst]), "batch": batch}
        try:  # noqa: SIM105  (hot path: a bare try is cheaper than contextlib.suppress)
            client.send(MESSAGES, body)
        except TransportError:
            pass  # closed or over the size limit: Raft retries

    def forward(self, dst: int, datas: Sequence[bytes]) -> Future[int]:
        result: Future[int] = Future()
        client = self._client(dst)
        if client is None:
            result.set_exception(NotLeader(None))
            return result
        try:
            reply = client.request_async(PROPOSE, {"data": list(datas), "forwarded": True})
        except TransportError as exc:
            result.set_exception(ProposalDropped(f"forwarding to leader {dst} failed: {exc}"))
            return result

        def done(f: Future[dict[str, Any]]) -> None:
            exc = f.exception()
            if exc is not None:
                result.set_exception(
                    ProposalDropped(f"forwarding to leader {dst} failed: {exc}; outcome unknown")
                )
                return
            body = f.result()
            error = propose_reply_error(body)
            if error is not None:
                result.set_exception(error)
            else:
                result.set_result(int(body["index"]))

        reply.add_done_callback(done)
        return result

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
