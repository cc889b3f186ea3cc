"""The RaftNode: the I/O shell around `RaftCore` (DESIGN.md §5, STYLE.md rules 1 and 9).

Threads: ONE loop thread owns the core, the storage and the store's apply side. Everything
else talks to it through a thread-safe inbox (`queue.SimpleQueue`): proposals, inbound
Raft frames, replies to forwarded writes, and calls (status, conf changes, transfers). The
transport handlers are inline (`transport.endpoint.inline`): the endpoint's I/O thread puts
inbound frames, still packed, and proposals straight on the inbox; the loop unpacks them.
`RaftNodeActor` is the pykka shell a supervisor runs: it starts the node in ``on_start``,
stops it in ``on_stop`` and crashes when the loop dies, so the supervisor restarts it (over
the reopened storage). Nobody ever asks the loop synchronously while it fsyncs: askers get
futures.

One loop round (rules):
  1. wait for the inbox or the next tick; drain the inbox in bulk;
  2. step every inbound message (frames of one sender in `seq` order; a frame whose sender
     is not the member of the key it came with is dropped and counted, senders.py);
     propose every queued write with ONE `propose_batch` (a follower forwards them in ONE
     request); tick when due;
  3. for each Ready: on a leader, send its AppendEntries/heartbeats first (the thesis'
     §10.2.1: acks are only counted after this round's fsync, in a later round); persist
     with ONE `storage.save` (one write, one fsync) — a Ready that only moves the commit
     index is not synced, its hard state rides on the next save; send the other messages
     (votes, acks) only after that fsync, batched per peer in frames that fit
     (`frames.split_messages`; the transport chunks a larger batch); restore the store from
     an installed snapshot; apply committed entries in order; complete futures; `advance`;
  4. snapshot the store every `snapshot_interval` applied entries, then compact.

Writes and leader changes (SwarmKit/etcd): a local write made while no leader is known is
held (up to ``leader_wait``) and proposed or forwarded once one is; past that it fails with
NotLeader. A write forwarded to a leader that is no longer the leader (another one, or none,
before it answered) fails at once with ProposalDropped, not after the forward timeout: it
is not re-forwarded, since the old leader may have appended it and it may still commit; the
store's version checks let the control API retry it safely (`actors.control.writes`).
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import pykka

from actors.log import get_logger
from actors.metrics import raft as metrics
from actors.raft_node.core import RaftCore, decode_conf_change
from actors.raft_node.frames import (
    Chunk,
    ChunkAssembler,
    ChunkRejected,
    SnapshotPacer,
    group_within,
    split_messages,
)
from actors.raft_node.peers import (
    CurvePeers,
    Peer,
    PeerNetwork,
    decode_peer_context,
    encode_peer_context,
)
from actors.raft_node.proposals import AppliedWaiters, Proposals, reject, resolve
from actors.raft_node.ready import NotLeader as CoreNotLeader
from actors.raft_node.ready import ProposalDropped as CoreProposalDropped
from actors.raft_node.ready import Ready
from actors.raft_node.senders import frame_refusal, member_key_refusal, stray_message
from actors.raft_node.types import ConfChange, ConfChangeType, EntryType, HardState, MessageType
from actors.raft_node.wire import WireError, decode_batch, encode_batch
from actors.store.errors import NotLeader, ProposalDropped, TooLarge
from actors.supervisor import ChildContext, SupervisedActor
from api.errors import ErrorCode
from api.limits import MAX_ENTRY_BYTES, MAX_SNAPSHOT_BYTES, RAFT_BATCH_BYTES
from transport.endpoint import Handler, Request, inline
from transport.keys import KeyPair, fingerprint
from transport.trust import RefusalTally

__all__ = [
    "LeadershipChange",
    "PeerInfo",
    "RaftNode",
    "RaftNodeActor",
    "RaftStatus",
    "StateMachine",
]

MT = MessageType
_LEADER_FIRST = frozenset({MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT, MT.TIMEOUT_NOW})
_CONF = EntryType.CONF_CHANGE

# inbox item tags
_PROPOSE, _RECV, _FORWARDED, _CALL, _STOP = range(5)
# frames and proposals from peers beyond this many waiting items are refused: the inbox
# between the endpoint's I/O thread and the loop never grows without bound (Raft resends
# dropped messages; a refused proposal is answered busy)
MAX_INBOX: Final = 4096

_Groups = list[tuple[tuple[bytes, ...], Future[int]]]

# the slowest transfer a snapshot is expected to make: its copy in flight is not sent again
# before it could have arrived at this rate (frames.SnapshotPacer)
SNAPSHOT_RATE = 8 << 20  # bytes per second


class StateMachine(Protocol):
    """What the node applies to: `actors.store.MemoryStore` fits."""

    def apply(self, index: int, data: bytes) -> object: ...

    def snapshot(self) -> bytes: ...

    def restore(self, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class LeadershipChange:
    is_leader: bool
    leader_id: int  # 0: no leader known
    term: int


@dataclass(frozen=True, slots=True)
class PeerInfo:
    id: int
    addr: str
    reachable: bool  # heard from within an election timeout
    last_heard: float | None  # seconds ago; None: never
    match: int | None = None  # leader only
    next: int | None = None
    progress: str | None = None  # 'probe' | 'replicate' | 'snapshot'


@dataclass(frozen=True, slots=True)
class RaftStatus:
    node_id: int
    state: str
    term: int
    leader_id: int
    is_leader: bool
    commit: int
    applied: int
    last_index: int
    snapshot_index: int
    voters: tuple[int, ...]
    learners: tuple[int, ...]
    peers: dict[int, PeerInfo] = field(default_factory=dict)


class RaftNode:
    """One Raft member. It owns `storage` (closed by `stop`) and applies to `store`.

    ``peers``: every voter (this node included) as ``Peer``s, or bare ids with a custom
    ``network``. Without ``network``, ``keypair`` is required and the node reaches peers
    over CURVE DEALERs (`CurvePeers`). Mount `handlers()` on the node's remote endpoint.

    ``voters``: the bootstrap membership when the storage holds none (default: the ids of
    ``peers``). A node joining an existing group passes the group's bootstrap voters (the
    configuration its log starts from; a snapshot replaces it) without itself: it is not a
    member until the leader adds it (`add_member`); ``peers`` are then only the addresses
    it knows. ``resolve_peer`` finds the address of a member that is not in the
    peer table (one added before the last snapshot).
    """

    def __init__(
        self,
        node_id: int,
        peers: Mapping[int, Peer] | Sequence[int],
        storage: Any,
        store: StateMachine,
        *,
        keypair: KeyPair | None = None,
        network: PeerNetwork | None = None,
        tick_interval: float = 0.1,
        election_tick: int = 10,
        heartbeat_tick: int = 1,
        snapshot_interval: int = 10_000,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        forward_timeout: float = 5.0,
        voters: Sequence[int] | None = None,
        resolve_peer: Callable[[int], Peer | None] | None = None,
        leader_wait: float | None = None,
        source: str | None = None,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
    ) -> None:
        ids = sorted(peers.keys() if isinstance(peers, Mapping) else peers)
        if voters is None and node_id not in ids:
            raise ValueError(f"node {node_id} is not among the peers {ids}")
        bootstrap = ids if voters is None else sorted(voters)
        self.id = node_id
        self._peer_addrs = (
            {pid: p.addr for pid, p in peers.items()} if isinstance(peers, Mapping) else {}
        )
        if network is None:
            if keypair is None or not isinstance(peers, Mapping):
                raise ValueError("without a network, give peers as Peer records and a keypair")
            network = CurvePeers(
                node_id,
                peers,
                keypair,
                forward_timeout=forward_timeout,
                resolve=resolve_peer,
                source=source,
            )
        self._network = network
        # the CURVE key a member's frames must come with (senders.py); networks that cannot
        # say refuse every frame that comes with a key
        self._member_key: Callable[[int], bytes | None] = getattr(
            network, "server_key", lambda _id: None
        )
        self.refused_frames = 0  # frames dropped for their sender (senders.py)
        self._refusal_logged = float("-inf")
        self._storage = storage
        self._store = store
        self._tick_interval = tick_interval
        self._election_seconds = tick_interval * election_tick
        # how long a local write made while no leader is known waits for one
        self._leader_wait = 3 * self._election_seconds if leader_wait is None else leader_wait
        self._snapshot_interval = snapshot_interval
        self._max_entry_bytes = max_entry_bytes
        self._chunks = ChunkAssembler(MAX_SNAPSHOT_BYTES)
        self._pacer = SnapshotPacer(SNAPSHOT_RATE)
        self._clock = clock
        self.log = get_logger("raft", node_id=str(node_id))
        self._core = RaftCore(
            node_id,
            bootstrap,
            storage,
            election_tick=election_tick,
            heartbeat_tick=heartbeat_tick,
            rng=rng or random.Random(),
            logger=self.log,
        )
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._inbox_refusals = RefusalTally()  # peers' frames refused for a full inbox
        self._proposals = Proposals()
        self._waiters = AppliedWaiters()
        # forwards awaiting the leader's answer: token -> (leader, groups)
        self._forwarding: dict[int, tuple[int, _Groups]] = {}
        self._forward_seq = 0
        # local writes made while no leader was known: (deadline, datas, future)
        self._held: list[tuple[float, tuple[bytes, ...], Future[int]]] = []
        self._last_heard: dict[int, float] = {}
        self._last_seq: dict[int, int] = {}
        hs, _ = storage.initial_state()
        self._saved_hs: HardState = hs
        self._deferred_hs: HardState | None = None
        self._snapshot_index = storage.snapshot().metadata.index
        self._thread: threading.Thread | None = None
        self._events = _Notifier(self.log)
        self._seen = LeadershipChange(False, 0, self._core.term)
        self._stopped = threading.Event()
        self.failure: BaseException | None = None
        self.on_failure: Callable[[BaseException], None] | None = None
        # cheap, racy-but-safe views for other threads (ints swapped under the GIL)
        self.is_leader = False
        self.leader_id = 0
        self.term = self._core.term
        self.applied_index = self._core.applied_index

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> RaftNode:
        snap = self._storage.snapshot()
        if not snap.is_empty:
            self._store.restore(snap.data)
            metrics.SNAPSHOT_BYTES.set(len(snap.data))
        self._thread = threading.Thread(target=self._run, name=f"raft-{self.id}", daemon=True)
        self._thread.start()
        self.log.info(
            "raft.node.started",
            term=self._core.term,
            last_index=self._core.last_index,
            snapshot_index=self._snapshot_index,
        )
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop, fail what is pending, close peers and storage. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._inbox.put((_STOP,))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._network.close()
        self._events.close()
        with contextlib.suppress(Exception):
            self._storage.close()
        self.log.info("raft.node.stopped")

    # ------------------------------------------------------------------ proposer
    def propose(self, data: bytes) -> Future[int]:
        """The store's `Proposer`: the future gives the entry's index once it is committed
        and applied here; it fails with NotLeader (no leader became known within
        ``leader_wait``) or ProposalDropped (also when the leader a follower forwarded it to
        changes before answering: the write may or may not have been applied)."""
        if not data:
            raise ValueError("empty data is reserved for Raft's no-op entries")
        self._check_size((data,))
        future: Future[int] = _timed(Future())
        self._inbox.put((_PROPOSE, (data,), future))
        return future

    def propose_many(self, datas: Sequence[bytes]) -> Future[int]:
        """Propose consecutive entries; the future gives the last one's index."""
        if not datas or not all(datas):
            raise ValueError("give at least one non-empty entry")
        self._check_size(datas)
        future: Future[int] = _timed(Future())
        self._inbox.put((_PROPOSE, tuple(datas), future))
        return future

    def _check_size(self, datas: Sequence[bytes]) -> None:
        """Every way in to the log passes here: an entry over its budget could never be
        sent to a follower (it must fit a frame), so it is refused, never proposed."""
        for data in datas:
            if len(data) > self._max_entry_bytes:
                raise TooLarge("a Raft entry", len(data), self._max_entry_bytes, "one entry")

    def _propose_remote(self, datas: Sequence[bytes]) -> Future[int]:
        future: Future[int] = Future()
        self._inbox.put((_PROPOSE, tuple(datas), future, True))
        return future

    # ------------------------------------------------------------------ control plane
    def subscribe(self, callback: Callable[[LeadershipChange], None]) -> Callable[[], None]:
        """Call `callback` (on a notifier thread, in order) with the current leadership and
        then at every change: leader-only subsystems start on ``is_leader`` and stop when
        it turns false. Returns the unsubscribe function."""
        return self._events.subscribe(callback, self._seen)

    def call(self, fn: Callable[[RaftCore], Any]) -> Future[Any]:
        """Run `fn(core)` on the loop thread (its effects go through the next Ready)."""
        future: Future[Any] = Future()
        self._inbox.put((_CALL, fn, future))
        return future

    def status(self, timeout: float = 5.0) -> RaftStatus:
        status: RaftStatus = self.call(self._status).result(timeout)
        return status

    def transfer_leadership(self, to: int) -> Future[None]:
        return self.call(lambda core: core.transfer_leadership(to))

    def propose_conf_change(self, change: ConfChange) -> Future[int]:
        return self.call(lambda core: core.propose_conf_change(change))

    def add_member(self, peer: Peer) -> Future[int]:
        """Leader: add ``peer`` as a learner, its address and key in the change's context
        (every member's peer table follows it when applied); the future gives the change's
        index, 0 if ``peer`` is a member already (its address is refreshed; ValueError when
        it comes with another key than the member's: senders.py)."""

        def add(core: RaftCore) -> int:
            conf = core.conf_state
            if peer.id in conf.voters or peer.id in conf.learners:
                refusal = member_key_refusal(peer.id, self._member_key(peer.id), peer.server_key)
                if refusal is not None:
                    raise ValueError(refusal)
                self._set_peer(peer)
                return 0
            context = encode_peer_context(peer)
            return core.propose_conf_change(
                ConfChange(ConfChangeType.ADD_LEARNER, peer.id, context)
            )

        return self.call(add)

    def _set_peer(self, peer: Peer) -> None:
        self._peer_addrs[peer.id] = peer.addr
        set_peer = getattr(self._network, "set_peer", None)
        if set_peer is not None:
            set_peer(peer)

    def _follow_conf_change(self, data: bytes) -> None:
        """Keep the peer table in step with an applied configuration change."""
        change = decode_conf_change(data)
        if change.node_id == self.id:
            return
        if change.type is ConfChangeType.REMOVE:
            self._peer_addrs.pop(change.node_id, None)
            remove = getattr(self._network, "remove_peer", None)
            if remove is not None:
                remove(change.node_id)
            return
        peer = decode_peer_context(change.node_id, change.context)
        if peer is not None:
            self._set_peer(peer)

    def _status(self, core: RaftCore) -> RaftStatus:
        st = core.status()
        now = self._clock()
        peers = {}
        for pid in (*st.conf_state.voters, *st.conf_state.learners):
            if pid == self.id:
                continue
            heard = self._last_heard.get(pid)
            ago = None if heard is None else now - heard
            pr = st.progress.get(pid)
            peers[pid] = PeerInfo(
                id=pid,
                addr=self._peer_addrs.get(pid, ""),
                reachable=ago is not None and ago < self._election_seconds,
                last_heard=ago,
                match=pr.match if pr else None,
                next=pr.next if pr else None,
                progress=pr.state if pr else None,
            )
        return RaftStatus(
            node_id=self.id,
            state=st.state,
            term=st.term,
            leader_id=st.leader_id,
            is_leader=st.state == "leader",
            commit=st.commit,
            applied=st.applied,
            last_index=st.last_index,
            snapshot_index=self._snapshot_index,
            voters=st.conf_state.voters,
            learners=st.conf_state.learners,
            peers=peers,
        )

    # ------------------------------------------------------------------ transport side
    def handlers(self) -> dict[str, Handler]:
        """Handlers to mount on the node's remote endpoint. All inline: they only put work
        on the inbox (or read a few ints), never block."""
        return {
            "raft.messages": inline(self._handle_messages),
            "raft.chunk": inline(self._handle_chunk),
            "raft.propose": inline(self._handle_propose),
            "raft.status": inline(self._handle_status),
        }

    def receive(self, src: int, seq: int, batch: bytes, sender_key: bytes | None = None) -> None:
        """Hand in one frame of Raft messages (any thread; never blocks). The loop unpacks
        it; a frame that does not unpack is dropped and logged there. ``sender_key``: the
        CURVE key it came with, checked against member ``src``'s (senders.py); None only
        for frames handed in by this process (in-process networks)."""
        self._inbox.put((_RECV, src, seq, batch, sender_key))

    def _inbox_full(self, request: Request) -> bool:
        """True (and the request refused, counted, logged at most once a second) when the
        inbox holds `MAX_INBOX` items."""
        if self._inbox.qsize() < MAX_INBOX:
            return False
        count = self._inbox_refusals.refuse(request.type, self._clock())
        if count is not None:
            self.log.warning("raft.inbox.full", type=request.type, refused=count)
        request.error(ErrorCode.BUSY, "raft inbox full")
        return True

    def _handle_messages(self, request: Request) -> None:
        if self._inbox_full(request):
            return
        body = request.body
        self.receive(body["from"], body["seq"], body["batch"], request.peer_key or b"")

    def _handle_chunk(self, request: Request) -> None:
        """A piece of a batch too large for one frame: the loop puts it back together."""
        if self._inbox_full(request):
            return
        b = request.body
        chunk = Chunk(b["from"], b["stream"], b["total"], b["offset"], b["data"])
        self._inbox.put((_RECV, chunk.src, b["seq"], chunk, request.peer_key or b""))

    def _handle_propose(self, request: Request) -> None:
        if self._inbox_full(request):
            return None
        body = request.body
        datas = body["data"]
        if not datas or not all(datas):
            return request.reply({"index": 0, "error": "dropped", "message": "empty entry"})
        try:
            self._check_size(datas)
        except TooLarge as exc:
            reply = {"index": 0, "error": "too_large", "message": str(exc)[:300]}
            return request.reply({**reply, "size": exc.size, "limit": exc.limit})
        future = self._propose_remote(datas) if body.get("forwarded") else self.propose_many(datas)

        def done(f: Future[int]) -> None:
            exc = f.exception()
            if exc is None:
                request.reply({"index": f.result()})
            elif isinstance(exc, NotLeader):
                request.reply({"index": 0, "error": "not_leader", "leader_id": exc.leader_id or 0})
            else:
                request.reply({"index": 0, "error": "dropped", "message": str(exc)[:300]})

        future.add_done_callback(done)
        return None

    def _handle_status(self, request: Request) -> dict[str, Any]:
        core = self._core  # racy read of ints: fine for a status probe
        return {
            "node_id": self.id,
            "state": core.state,
            "term": core.term,
            "leader_id": core.leader_id,
            "commit": core.commit_index,
            "applied": self.applied_index,
            "last_index": core.last_index,
        }

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:
            self.failure = exc
            self.log.exception("raft.loop.crashed", error=repr(exc))
            if self.on_failure is not None:
                with contextlib.suppress(Exception):
                    self.on_failure(exc)
        finally:
            self._shutdown_pending()

    def _loop(self) -> None:
        inbox, clock, core = self._inbox, self._clock, self._core
        tick = self._tick_interval
        next_tick = clock() + tick
        empty = queue.Empty
        while True:
            items = []
            wait = next_tick - clock()
            try:
                items.append(inbox.get(timeout=wait) if wait > 0 else inbox.get_nowait())
                while True:
                    items.append(inbox.get_nowait())
            except empty:
                pass
            if items and self._handle_items(items):
                return
            now = clock()
            if now >= next_tick:
                core.tick()
                next_tick += tick
                if next_tick <= now:
                    next_tick = now + tick
            if self._held:
                self._release_held()
            self._process_ready()

    def _handle_items(self, items: list[tuple[Any, ...]]) -> bool:
        """Step, propose and call; True when told to stop."""
        core = self._core
        frames = []
        groups: list[tuple[tuple[bytes, ...], Future[int]]] = []
        remote: list[tuple[tuple[bytes, ...], Future[int]]] = []
        stop = False
        for item in items:
            tag = item[0]
            if tag == _PROPOSE:
                (remote if len(item) == 4 else groups).append((item[1], item[2]))
            elif tag == _RECV:
                frames.append(item)
            elif tag == _FORWARDED:
                self._forwarded(item[1], item[2])
            elif tag == _CALL:
                try:
                    resolve(item[2], item[1](core))
                except Exception as exc:
                    reject(item[2], exc)
            elif tag == _STOP:
                stop = True
        if frames:
            now = self._clock()
            if len(frames) > 1:
                frames.sort(key=lambda f: (f[1], f[2]))
            for _, src, seq, batch, key in frames:
                if key is not None:
                    refusal = frame_refusal(src, self.id, key, self._sender_key(src))
                    if refusal is not None:
                        self._refuse_frame(src, key, refusal)
                        continue
                if type(batch) is Chunk:
                    self._last_heard[src] = now
                    batch = self._assemble(batch)
                    if batch is None:
                        continue
                try:
                    messages = decode_batch(batch)
                except WireError as exc:
                    self.log.warning("raft.frame.rejected", src=src, error=str(exc))
                    continue
                stray = stray_message(src, messages)
                if stray is not None:
                    self._refuse_frame(src, key, stray)
                    continue
                self._last_heard[src] = now
                self._last_seq[src] = seq
                for m in messages:
                    if m.dst == self.id:
                        core.step(m)
        if groups or remote:
            self._propose_groups(groups, remote)
        return stop

    def _assemble(self, chunk: Chunk) -> bytes | None:
        """Feed a chunk to the assembler (frames.py rules); the batch once complete."""
        lead = self._core.leader_id
        if chunk.offset == 0 and lead and chunk.src != lead:
            self.log.warning("raft.chunk.ignored", src=chunk.src, leader_id=lead)
            return None
        try:
            batch = self._chunks.add(chunk)
        except ChunkRejected as exc:
            self.log.warning("raft.chunk.rejected", src=chunk.src, error=str(exc))
            return None
        if batch is not None:
            self.log.info("raft.batch.assembled", src=chunk.src, bytes=len(batch))
        return batch

    def _sender_key(self, src: int) -> bytes | None:
        """Member ``src``'s key, looked up (and resolved: a store scan) only for a member of
        the configuration or an id the peer table already holds, so forged ids cost
        nothing."""
        conf = self._core.conf_state
        if src in conf.voters or src in conf.learners or src in self._peer_addrs:
            return self._member_key(src)
        return None

    def _refuse_frame(self, src: int, key: bytes | None, reason: str) -> None:
        """Drop a frame for its sender (senders.py): counted, logged at most once a second."""
        self.refused_frames += 1
        now = self._clock()
        if now - self._refusal_logged >= 1.0:
            self._refusal_logged = now
            self.log.warning(
                "raft.frame.refused",
                src=src,
                key_fingerprint=fingerprint(key) if key else None,
                reason=reason,
                refused=self.refused_frames,
            )

    def _propose_groups(
        self,
        groups: list[tuple[tuple[bytes, ...], Future[int]]],
        remote: list[tuple[tuple[bytes, ...], Future[int]]],
    ) -> None:
        core = self._core
        all_groups = groups + remote
        datas = [d for g, _ in all_groups for d in g] if len(all_groups) > 1 else all_groups[0][0]
        try:
            first = core.propose_batch(datas)
        except CoreNotLeader as exc:
            for _, f in remote:  # never forward twice
                reject(f, NotLeader(exc.leader_id or None))
            lead = exc.leader_id
            if not groups:
                return
            if lead and lead != self.id:
                for part in _forward_parts(groups):
                    self._forward(lead, part)
            else:  # no leader known (an election): hold them until one is
                deadline = self._clock() + self._leader_wait
                self._held.extend((deadline, g, f) for g, f in groups)
            return
        except CoreProposalDropped as exc:
            for _, f in all_groups:
                reject(f, ProposalDropped(str(exc)))
            return
        term = core.term
        add = self._proposals.add
        index = first - 1
        for g, f in all_groups:
            index += len(g)
            add(index, term, f)

    def _forward(self, lead: int, groups: _Groups) -> None:
        fwd = [d for g, _ in groups for d in g] if len(groups) > 1 else groups[0][0]
        self._forward_seq += 1
        token = self._forward_seq
        self._forwarding[token] = (lead, groups)
        reply = self._network.forward(lead, fwd)
        reply.add_done_callback(lambda f: self._inbox.put((_FORWARDED, token, f)))

    def _release_held(self) -> None:
        """Propose the held writes once a leader is known; fail the expired ones."""
        if self._core.leader_id:
            held, self._held = self._held, []
            groups = [(g, f) for _, g, f in held if not f.done()]
            if groups:
                self._propose_groups(groups, [])
            return
        now, held = self._clock(), self._held
        expired = 0
        while expired < len(held) and held[expired][0] <= now:
            reject(held[expired][2], NotLeader(None))
            expired += 1
        if expired:
            del held[:expired]

    def _drop_forwards(self, lead: int, term: int) -> None:
        """The leader changed: fail the writes still waiting for another leader's answer.
        Not re-forwarded: the old leader may have appended them and they may still commit."""
        error = ProposalDropped(
            f"leader changed (now {lead or 'none'}, term {term}); "
            "the write may or may not have been applied"
        )
        for token, (dst, groups) in list(self._forwarding.items()):
            if dst != lead:
                del self._forwarding[token]
                for _, f in groups:
                    reject(f, error)

    def _forwarded(self, token: int, reply: Future[int]) -> None:
        got = self._forwarding.pop(token, None)
        if got is None:
            return  # failed already: the leader changed before it answered
        groups = got[1]
        exc = reply.exception()
        if exc is not None:
            for _, f in groups:
                reject(f, exc)
            return
        index = reply.result() - sum(len(g) for g, _ in groups)
        for g, f in groups:
            index += len(g)
            self._waiters.add(index, f)
        self._waiters.applied(self.applied_index)

    def _process_ready(self) -> None:
        core = self._core
        while True:
            rd = core.ready()
            if rd is None:
                break
            self._handle_ready(core, rd)
        self._after_round(core)

    def _handle_ready(self, core: RaftCore, rd: Ready) -> None:
        early: list[Any] = []
        late: list[Any] = []
        if rd.messages:
            if core.state == "leader":
                for m in rd.messages:
                    (early if m.type in _LEADER_FIRST else late).append(m)
                self._send(early)
            else:
                late = list(rd.messages)
        self._persist(rd)
        if rd.snapshot is not None:
            self._install_snapshot(rd)
        if late:
            self._send(late)
        if rd.committed_entries:
            self._apply(rd)
        core.advance(rd)
        if rd.committed_entries:
            self._maybe_snapshot(core)

    def _persist(self, rd: Ready) -> None:
        hs = rd.hard_state
        saved = self._saved_hs
        if not rd.entries and rd.snapshot is None:
            if hs is None:
                return
            if hs.term == saved.term and hs.vote == saved.vote:
                self._deferred_hs = hs  # only the commit index moved: no fsync needed
                return
        if hs is None:
            hs = self._deferred_hs
        self._storage.save(hs, list(rd.entries), rd.snapshot)
        if hs is not None:
            self._saved_hs = hs
        self._deferred_hs = None

    def _send(self, messages: list[Any]) -> None:
        if not messages:
            return
        by_dst: dict[int, list[Any]] = {}
        now = self._clock()
        allow = self._pacer.allow
        for m in messages:
            snap = m.snapshot
            if snap is not None and not allow(
                m.dst, m.term, snap.metadata.index, len(snap.data), now
            ):
                continue  # the same snapshot may still be on its way there
            by_dst.setdefault(m.dst, []).append(m)
        send = self._network.send
        for dst, msgs in by_dst.items():
            for batch in split_messages(msgs, RAFT_BATCH_BYTES):
                send(dst, encode_batch(batch))

    def _install_snapshot(self, rd: Ready) -> None:
        snap = rd.snapshot
        assert snap is not None
        index = snap.metadata.index
        self._store.restore(snap.data)
        self._snapshot_index = index
        metrics.SNAPSHOT_BYTES.set(len(snap.data))
        self._proposals.fail_through(index, ProposalDropped("replaced by a snapshot"))
        self.applied_index = index
        self._waiters.applied(index)
        self.log.info("raft.snapshot.installed", index=index, term=snap.metadata.term)

    def _apply(self, rd: Ready) -> None:
        apply = self._store.apply
        applied = self._proposals.applied
        for e in rd.committed_entries:
            if e.type is _CONF:
                apply(e.index, b"")
                self._follow_conf_change(e.data)
            else:
                apply(e.index, e.data)
            applied(e.index, e.term)
        last = rd.committed_entries[-1].index
        self.applied_index = last
        if len(self._waiters):
            self._waiters.applied(last)

    def _maybe_snapshot(self, core: RaftCore) -> None:
        applied = core.applied_index
        if applied - self._snapshot_index < self._snapshot_interval:
            return
        data = self._store.snapshot()
        self._storage.create_snapshot(applied, core.conf_state, data)
        self._storage.compact(applied)
        self._snapshot_index = applied
        metrics.SNAPSHOT_BYTES.set(len(data))
        self.log.info("raft.snapshot.created", index=applied, bytes=len(data))

    def reencrypt_at_rest(self) -> Future[None]:
        """Rewrite the storage under its cipher's current key (a rotated data key): a new
        snapshot of the applied state, the log rewritten after it, older files deleted
        (`DurableStorage.reencrypt`). Runs on the loop, between two Readies."""
        return self.call(self._reencrypt)

    def _reencrypt(self, core: RaftCore) -> None:
        applied = core.applied_index
        data = self._store.snapshot() if applied > self._snapshot_index else None
        self._storage.reencrypt(applied, core.conf_state, data)
        if data is not None:
            self._snapshot_index = applied
        self.log.info("raft.storage.reencrypted", index=applied, snapshot=data is not None)

    def _after_round(self, core: RaftCore) -> None:
        is_leader = core.state == "leader"
        lead, term = core.leader_id, core.term
        seen = self._seen
        if is_leader == seen.is_leader and lead == seen.leader_id:
            self.term = term
            return
        if self._forwarding and lead != seen.leader_id:
            self._drop_forwards(lead, term)
        if self._chunks.src not in (None, lead):
            self._chunks.drop()  # a snapshot from a member that no longer leads
        if seen.is_leader and not is_leader:
            self._proposals.fail_all(
                ProposalDropped(f"node {self.id} lost leadership in term {term}; outcome unknown")
            )
        self.is_leader, self.leader_id, self.term = is_leader, lead, term
        change = LeadershipChange(is_leader, lead, term)
        self._seen = change
        metrics.LEADER_CHANGES.inc()
        self.log.info("raft.leadership.changed", is_leader=is_leader, leader_id=lead, term=term)
        self._events.publish(change)

    def _shutdown_pending(self) -> None:
        error = ProposalDropped(f"raft node {self.id} stopped; outcome unknown")
        self._proposals.fail_all(error)
        self._waiters.fail_all(error)
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            if item[0] in (_PROPOSE, _CALL):
                reject(item[2], error)
        forwarding, self._forwarding = self._forwarding, {}
        for _, groups in forwarding.values():
            for _, f in groups:
                reject(f, error)
        held, self._held = self._held, []
        for _, _, f in held:
            reject(f, error)
        if self._deferred_hs is not None and self.failure is None:
            with contextlib.suppress(Exception):
                self._storage.save(self._deferred_hs, [])
            self._deferred_hs = None


def _timed(future: Future[int]) -> Future[int]:
    """``future`` with its outcome reported to the metrics: the seconds from now until it
    is resolved (committed and applied here), or a failure."""
    started = time.monotonic()

    def done(f: Future[int]) -> None:
        metrics.proposal_done(
            time.monotonic() - started, f.cancelled() or f.exception() is not None
        )

    future.add_done_callback(done)
    return future


def _forward_parts(groups: _Groups, budget: int = RAFT_BATCH_BYTES) -> list[_Groups]:
    """Writes to forward, in requests that each fit a frame (a group is never split)."""
    return group_within(groups, lambda g: sum(len(d) for d in g[0]), budget)


class _Notifier:
    """Delivers leadership changes to subscribers on one thread, in order."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self._subscribers: list[Callable[[LeadershipChange], None]] = []
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="raft-events", daemon=True)
        self._thread.start()

    def subscribe(
        self, callback: Callable[[LeadershipChange], None], current: LeadershipChange
    ) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)
        self._queue.put(((callback,), current))

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, change: LeadershipChange) -> None:
        with self._lock:
            subscribers = tuple(self._subscribers)
        if subscribers:
            self._queue.put((subscribers, change))

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            callbacks, change = item
            for cb in callbacks:
                try:
                    cb(change)
                except Exception as exc:
                    self._log.exception("raft.leadership.callback_failed", error=repr(exc))


class RaftNodeActor(SupervisedActor):
    """The supervised shell: ``make()`` builds a RaftNode (opening its storage) in
    ``on_start``; the node stops in ``on_stop``; a dead loop crashes the actor. Ask for
    ``node()`` to reach the node (its methods never block on the loop)."""

    def __init__(self, ctx: ChildContext | None, make: Callable[[], RaftNode]) -> None:
        super().__init__(ctx)
        self._make = make
        self._node: RaftNode | None = None

    def on_start(self) -> None:
        node = self._make()
        node.on_failure = self._loop_failed
        self._node = node.start()

    def on_stop(self) -> None:
        if self._node is not None:
            self._node.stop()

    def _loop_failed(self, exc: BaseException) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(_LoopDied(exc))

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _LoopDied):
            raise RuntimeError("raft loop died") from message.error
        return None

    def node(self) -> RaftNode:
        assert self._node is not None
        return self._node


@dataclass(frozen=True, slots=True)
class _LoopDied:
    error: BaseException
