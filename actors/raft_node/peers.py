"""How a RaftNode reaches its peers: one CURVE DEALER per peer, to the peer's ROUTER.

`PeerNetwork` is what the loop needs: ``send`` one frame of Raft messages to a peer (one
way, loss tolerated) and ``forward`` a batch of proposals to the leader (a request whose
future gives the index of the batch's last entry, once the leader has applied it).
`CurvePeers` implements it over CURVE DEALERs; tests may plug in an in-process one.

Membership: the peer table follows applied configuration changes. A new member's address
and CURVE server key ride in its ``ADD_LEARNER`` change's context (`encode_peer_context`);
the loop calls ``set_peer``/``remove_peer`` (optional methods of a network) as it applies
them. Members whose change was compacted into a snapshot are found through ``resolve``
(the node assembly looks them up in the store), retried at most once a second.

Threads: `send` is called by the Raft loop thread only, and writes to a DEALER that thread
owns (one per peer, send-only, ``ZMQ_IMMEDIATE``: frames for an unconnected peer are
dropped, not queued, as Raft resends what matters). That saves a hand-off to an I/O thread
on every hop of the hot path. What a peer sends back on a DEALER is read at each send: only
a ``raft.removed`` notice, which says this member was removed from the group; from then on
``send`` sends nothing (``removed_by``), so a removed member cannot vote, campaign or lead.
A batch larger than ``batch_bytes`` (a snapshot) goes as ``raft.chunk`` frames
(`frames.cut`). A send that fails (the peer is not connected or its queue is full, no
address is known for it, the batch is over every limit) is counted per peer and reason
(`failed_sends`) and logged as an error, at most once per ``log_every`` seconds per peer
and reason, with the count since the last line. `forward` is a request/reply and goes
through a `transport.Client` per peer (its own I/O thread), usable from any thread. Sockets
are created lazily and live until `close` (called once the loop thread has ended); ZeroMQ
reconnects them.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol, cast

import zmq

from actors.log import get_logger
from actors.proposal_errors import NotLeader, ProposalDropped, StorageFull
from actors.raft_node.frames import cut
from actors.store.errors import TooLarge
from api.errors import TransportError
from api.limits import (
    MAX_SNAPSHOT_BYTES,
    RAFT_BATCH_BYTES,
    REMOTE_MAX_REQUEST_BYTES,
    format_bytes,
)
from api.schema.raft import RAFT_REMOVED
from transport.client import Client
from transport.codec import CodecError, decode, encode
from transport.keys import KeyPair
from transport.source import connect_endpoint

__all__ = [
    "CurvePeers",
    "Peer",
    "PeerNetwork",
    "decode_peer_context",
    "encode_peer_context",
    "propose_reply_error",
]

MESSAGES = "raft.messages"
CHUNK = "raft.chunk"
PROPOSE = "raft.propose"
# plain ints: a zmq flag enum costs an enum operation at every call
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


@dataclass(frozen=True, slots=True)
class Peer:
    """A member of the Raft group: its id, its remote ROUTER address and CURVE server key."""

    id: int
    addr: str  # e.g. tcp://127.0.0.1:4242
    server_key: bytes  # Z85 public key of the peer's endpoint


def encode_peer_context(peer: Peer) -> bytes:
    """A conf change's context carrying a new member's address and server key."""
    return json.dumps({"addr": peer.addr, "key": peer.server_key.decode("ascii")}).encode()


def decode_peer_context(node_id: int, context: bytes) -> Peer | None:
    """The `Peer` in a conf change's context, or None (no context, or not ours)."""
    if not context:
        return None
    try:
        doc = json.loads(context)
        return Peer(node_id, str(doc["addr"]), str(doc["key"]).encode("ascii"))
    except (ValueError, KeyError, TypeError, UnicodeError):
        return None


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
    if error == "no_space":
        return StorageFull(str(body.get("message") or "the leader's disk is full"))
    if error == "too_large":
        size, limit = int(body.get("size") or 0), int(body.get("limit") or 0)
        return TooLarge("an entry forwarded to the leader", size, limit, "one entry")
    return ProposalDropped(str(body.get("message") or error))


class CurvePeers:
    def __init__(
        self,
        node_id: int,
        peers: Mapping[int, Peer],
        keypair: KeyPair,
        *,
        forward_timeout: float = 5.0,
        resolve: Callable[[int], Peer | None] | None = None,
        resolve_every: float = 1.0,
        source: str | None = None,
        batch_bytes: int = RAFT_BATCH_BYTES,
        max_batch_bytes: int = MAX_SNAPSHOT_BYTES,
        log_every: float = 5.0,
    ) -> None:
        self._id = node_id
        self._source = source  # our own address: connections leave from it (transport.source)
        self._peers = {pid: p for pid, p in peers.items() if pid != node_id}
        self._resolve = resolve
        self._resolve_every = resolve_every
        self._unresolved: dict[int, float] = {}
        self._keypair = keypair
        self._forward_timeout = forward_timeout
        self._clients: dict[int, Client] = {}
        self._dealers: dict[int, zmq.Socket[bytes]] = {}
        self._seq: dict[int, itertools.count[int]] = {}
        self._streams = itertools.count(1)
        self._batch_bytes = batch_bytes
        self._max_batch_bytes = max_batch_bytes
        self._failures: Counter[tuple[int, str]] = Counter()
        self._logged: dict[tuple[int, str], tuple[float, int]] = {}  # when, count then
        self._log_every = log_every
        self._log = get_logger("raft", raft_id=node_id)
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._lock = threading.Lock()
        self._closed = False
        # set once a member says this one was removed from the group (``raft.removed``):
        # from then on nothing is sent, so it neither votes, nor campaigns, nor leads
        self.removed_by: int | None = None
        self.on_removed: Callable[[int], None] | None = None

    def _peer(self, dst: int) -> Peer | None:
        peer = self._peers.get(dst)
        if peer is not None or self._resolve is None or dst == self._id:
            return peer
        now = time.monotonic()
        if now - self._unresolved.get(dst, -self._resolve_every) < self._resolve_every:
            return None
        try:
            peer = self._resolve(dst)
        except Exception:
            peer = None
        if peer is None:
            self._unresolved[dst] = now
            return None
        self._unresolved.pop(dst, None)
        self._peers[dst] = peer
        return peer

    def server_key(self, raft_id: int) -> bytes | None:
        """The CURVE key of member ``raft_id`` (resolved as for a send), which its frames
        must come with (actors/raft_node/senders.py); None for an unknown id or this node."""
        peer = self._peer(raft_id) if raft_id != self._id else None
        return peer.server_key if peer is not None else None

    def set_peer(self, peer: Peer) -> None:
        """Add a member, or change its address or key (its sockets are reopened)."""
        if peer.id == self._id:
            return
        if self._peers.get(peer.id) == peer:
            return
        self._drop(peer.id)
        self._peers[peer.id] = peer
        self._unresolved.pop(peer.id, None)

    def remove_peer(self, node_id: int) -> None:
        self._drop(node_id)
        self._peers.pop(node_id, None)

    def _drop(self, dst: int) -> None:
        with self._lock:
            client = self._clients.pop(dst, None)
            sock = self._dealers.pop(dst, None)
        if client is not None:
            client.close()
        if sock is not None:
            sock.close(linger=0)

    def _client(self, dst: int) -> Client | None:
        client = self._clients.get(dst)
        if client is not None:
            return client
        peer = self._peer(dst)
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
                    # what the leader's remote socket takes: a forward over it fails here,
                    # naming the limit, instead of being dropped there
                    max_request_size=REMOTE_MAX_REQUEST_BYTES,
                    name=f"raft-{self._id}-to-{dst}",
                    source=self._source,
                )
                self._clients[dst] = client
        return client

    def _dealer(self, dst: int) -> zmq.Socket[bytes] | None:
        peer = self._peer(dst)
        if peer is None or self._closed:
            return None
        sock = self._context.socket(zmq.DEALER)
        sock.linger = 0
        sock.sndhwm = 10_000
        sock.immediate = True
        sock.reconnect_ivl = 100
        sock.reconnect_ivl_max = 1_000
        sock.setsockopt(zmq.HEARTBEAT_IVL, 1_000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3_000)
        sock.curve_serverkey = peer.server_key
        sock.curve_publickey = self._keypair.public
        sock.curve_secretkey = self._keypair.secret
        sock.connect(connect_endpoint(peer.addr, self._source))
        self._dealers[dst] = sock
        self._seq[dst] = itertools.count(1)
        return sock

    def send(self, dst: int, batch: bytes) -> None:
        if self.removed_by is not None:
            return
        sock = self._dealers.get(dst) or self._dealer(dst)
        if sock is None:
            if not self._closed:
                self._failed(dst, "unknown_peer", f"no address is known for member {dst}")
            return
        try:
            if len(batch) <= self._batch_bytes:
                body = {"from": self._id, "seq": next(self._seq[dst]), "batch": batch}
                # built here from ints and bytes: not matched to its declaration again
                sock.send(encode(MESSAGES, body, check=False), zmq.NOBLOCK)
            else:
                self._send_chunked(dst, sock, batch)
            self._read_notices(dst, sock)
        except zmq.ZMQError as exc:
            # not connected (ZMQ_IMMEDIATE) or the queue is full: Raft resends
            reason = "unreachable" if exc.errno == zmq.EAGAIN else "socket_error"
            self._failed(dst, reason, str(exc))
        except TransportError as exc:
            self._failed(dst, "too_large", str(exc))

    def _read_notices(self, dst: int, sock: zmq.Socket[bytes]) -> None:
        """What member ``dst`` sent back on our connection to it: only ``raft.removed``
        (handlers.py), read here at each send, as a removed member keeps sending. Asked
        first whether a frame waits (``ZMQ_EVENTS``, ~2 us): a receive that finds none
        raises (~8 us, pyzmq builds an exception), and almost every send finds none."""
        while cast(int, sock.get(_EVENTS)) & _POLLIN:
            try:
                frame = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                envelope = decode(frame)
            except CodecError as exc:
                self._failed(dst, "bad_notice", str(exc))
                continue
            if envelope.type == RAFT_REMOVED.name and envelope.body["member"] == self._id:
                self._removed(int(envelope.body["from"]))
                return

    def _removed(self, by: int) -> None:
        if self.removed_by is not None:
            return
        self.removed_by = by
        self._log.error(
            "raft.member.removed",
            by=by,
            reason=(
                f"member {by} says this member was removed from the Raft group "
                "(--force-new-cluster on another manager, or a demotion or removal while "
                "this one was down): it takes no part in the group any more; its Raft "
                "state is out of date (a node drops it and joins again under a new Raft id)"
            ),
        )
        if self.on_removed is not None:
            self.on_removed(by)

    def _send_chunked(self, dst: int, sock: zmq.Socket[bytes], batch: bytes) -> None:
        total = len(batch)
        if total > self._max_batch_bytes:
            raise TransportError(
                f"a batch of {format_bytes(total)} is over the "
                f"{format_bytes(self._max_batch_bytes)} a member accepts"
            )
        stream = next(self._streams)
        seq = self._seq[dst]
        chunks = 0
        for offset, data in cut(batch, self._batch_bytes):
            body = {
                "from": self._id,
                "seq": next(seq),
                "stream": stream,
                "total": total,
                "offset": offset,
                "data": data,
            }
            sock.send(encode(CHUNK, body), zmq.NOBLOCK)
            chunks += 1
        self._log.info("raft.batch.chunked", to=dst, bytes=total, chunks=chunks)

    def failed_sends(self, dst: int | None = None, reason: str | None = None) -> int:
        """How many sends failed (to ``dst``, for ``reason``: unreachable, unknown_peer,
        too_large, socket_error); any thread may read it."""
        return sum(
            n
            for (d, r), n in list(self._failures.items())
            if (dst is None or d == dst) and (reason is None or r == reason)
        )

    def _failed(self, dst: int, reason: str, error: str) -> None:
        key = (dst, reason)
        self._failures[key] += 1
        count = self._failures[key]
        now = time.monotonic()
        last = self._logged.get(key)
        if last is not None and now - last[0] < self._log_every:
            return
        self._logged[key] = (now, count)
        self._log.error(
            "raft.send.failed",
            to=dst,
            reason=reason,
            error=error,
            failures=count - (last[1] if last is not None else 0),
        )

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
            dealers, self._dealers = list(self._dealers.values()), {}
        for client in clients:
            client.close()
        for sock in dealers:
            sock.close(linger=0)
        self._context.destroy(linger=0)
