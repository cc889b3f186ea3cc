"""The RaftNode: the I/O shell around `RaftCore` (DESIGN.md §5, STYLE.md rules 1 and 9).

Threads: ONE loop thread (loop.py) owns the core, the storage and the store's apply side.
Everything else talks to it through a thread-safe inbox of typed commands (commands.py):
proposals, inbound Raft frames, replies to forwarded writes, and calls (status, conf
changes, transfers). The transport handlers (handlers.py) are inline: the endpoint's I/O
thread runs the round for a peer's frame or proposal itself when the loop thread is not in
one (`hand_in`; the round's lock keeps one round at a time), else puts it on the inbox,
still packed. Nobody ever
asks the loop synchronously while it fsyncs: askers get futures. The parts:
- loop.py: the rounds (intake.py steps frames in, forwarding.py routes writes,
  carry_out.py carries out each Ready, the same function the simulation runs);
- members.py: the peer table; status.py: what `status()` answers;
- events.py: leadership changes to subscribers, on their own thread.
`RaftNodeActor` is the pykka shell a supervisor runs: it starts the node in ``on_start``,
stops it in ``on_stop`` and crashes when the loop (or the events thread) fails, so the
supervisor restarts it (over the reopened storage).
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from typing import Any

import pykka

from actors.log import get_logger
from actors.metrics import raft as metrics
from actors.raft_node.commands import MAX_INBOX, Call, Command, Inbox, Propose, Receive, Stop
from actors.raft_node.core import RaftCore
from actors.raft_node.events import LeadershipChange, LeadershipNotifier
from actors.raft_node.handlers import RaftHandlers
from actors.raft_node.loop import RaftLoop, StateMachine
from actors.raft_node.members import PeerTable
from actors.raft_node.peers import CurvePeers, Peer, PeerNetwork
from actors.raft_node.proposals import Completion
from actors.raft_node.status import PeerInfo, RaftStatus
from actors.raft_node.types import ConfChange
from actors.store.errors import TooLarge
from actors.supervisor import ChildContext, SupervisedActor
from api.limits import MAX_ENTRY_BYTES
from transport.endpoint import Handler
from transport.keys import KeyPair

__all__ = [
    "MAX_INBOX",
    "LeadershipChange",
    "PeerInfo",
    "RaftNode",
    "RaftNodeActor",
    "RaftStatus",
    "StateMachine",
]


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

    Writes (forwarding.py): a local write made while no leader is known is held (up to
    ``leader_wait``, default three election timeouts) and proposed or forwarded once one
    is; past that it fails with NotLeader. A write forwarded to a leader that changes
    before answering fails at once with ProposalDropped.
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
        snapshot_interval: int | Callable[[], int] = 10_000,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        forward_timeout: float = 5.0,
        voters: Sequence[int] | None = None,
        resolve_peer: Callable[[int], Peer | None] | None = None,
        leader_wait: float | None = None,
        source: str | None = None,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
        on_removed: Callable[[int], None] | None = None,
    ) -> None:
        """``on_removed``: called (on the thread that sends Raft frames; it must not block)
        with the id of the member that said this one was removed from the group (peers.py)."""
        ids = sorted(peers.keys() if isinstance(peers, Mapping) else peers)
        if voters is None and node_id not in ids:
            raise ValueError(f"node {node_id} is not among the peers {ids}")
        bootstrap = ids if voters is None else sorted(voters)
        self.id = node_id
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
        if on_removed is not None and hasattr(network, "on_removed"):
            network.on_removed = on_removed
        self._network = network
        self._storage = storage
        self._store = store
        self._max_entry_bytes = max_entry_bytes
        self._clock = clock
        self.log = get_logger("raft", raft_id=node_id)
        self._core = RaftCore(
            node_id,
            bootstrap,
            storage,
            election_tick=election_tick,
            heartbeat_tick=heartbeat_tick,
            rng=rng or random.Random(),
            logger=self.log,
        )
        self._inbox = Inbox()
        addrs = {pid: p.addr for pid, p in peers.items()} if isinstance(peers, Mapping) else {}
        election_seconds = tick_interval * election_tick
        self._events = LeadershipNotifier(self.log, self._failed)
        self._loop = RaftLoop(
            node_id,
            self._core,
            storage,
            store,
            network,
            self._inbox,
            PeerTable(node_id, addrs, network),
            self._events,
            clock=clock,
            log=self.log,
            tick_interval=tick_interval,
            election_seconds=election_seconds,
            leader_wait=3 * election_seconds if leader_wait is None else leader_wait,
            snapshot_interval=(
                snapshot_interval
                if callable(snapshot_interval)
                else functools.partial(int, snapshot_interval)
            ),
        )
        self._handlers = RaftHandlers(self, self._inbox, self._core, clock, self.log)
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._failure_lock = threading.Lock()
        self._on_failure: Callable[[BaseException], None] | None = None
        self.failure: BaseException | None = None

    # ------------------------------------------------------------------ views
    # cheap, racy-but-safe views for other threads (ints swapped under the GIL)
    @property
    def is_leader(self) -> bool:
        return self._loop.is_leader

    @property
    def leader_id(self) -> int:
        return self._loop.leader_id

    @property
    def term(self) -> int:
        return self._loop.term

    @property
    def removed_ids(self) -> frozenset[int]:
        """The Raft ids removed from the group: their frames are answered ``raft.removed``."""
        return self._loop.removed_ids

    @property
    def removed_by(self) -> int | None:
        """The member that said this one was removed from the group (None: it was not)."""
        return getattr(self._network, "removed_by", None)

    @property
    def leaderless_seconds(self) -> float:
        """How long this member has known no leader (0.0 while it knows one)."""
        lost = self._loop.leader_lost_at
        return 0.0 if lost is None else max(0.0, self._clock() - lost)

    @property
    def applied_index(self) -> int:
        return self._loop.applied_index

    @property
    def refused_frames(self) -> int:
        """Frames dropped for their sender (senders.py)."""
        return self._loop.intake.refused

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> RaftNode:
        started = self._clock()
        snap = self._storage.snapshot()
        if not snap.is_empty:
            self._store.restore(snap.data)
            metrics.SNAPSHOT_BYTES.set(len(snap.data))
        restore_s = self._clock() - started
        self._thread = threading.Thread(
            target=self._loop.run, args=(self._failed,), name=f"raft-{self.id}", daemon=True
        )
        self._thread.start()
        self.log.info(
            "raft.node.started",
            term=self._core.term,
            last_index=self._core.last_index,
            snapshot_index=self._loop.snapshot_index,
            snapshot_bytes=len(snap.data),
            snapshot_restore_s=round(restore_s, 3),
        )
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop, fail what is pending, close peers and storage. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._inbox.put(Stop())
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._network.close()
        self._events.close()
        with contextlib.suppress(Exception):
            self._storage.close()
        self.log.info("raft.node.stopped")

    def report_failures_to(self, callback: Callable[[BaseException], None]) -> None:
        """Call ``callback`` (once) when the loop or the events thread fails, at once if
        one failed already (a subscriber may raise before this is called)."""
        with self._failure_lock:
            self._on_failure = callback
            failure = self.failure
        if failure is not None:
            callback(failure)

    def _failed(self, exc: BaseException) -> None:
        """The loop or the events thread failed: the node is broken (its actor restarts)."""
        with self._failure_lock:
            if self.failure is not None:
                return
            self.failure = exc
            callback = self._on_failure
        if callback is not None:
            callback(exc)

    # ------------------------------------------------------------------ proposer
    def propose(self, data: bytes) -> Future[int]:
        """The store's `Proposer`: the future gives the entry's index once it is committed
        and applied here; it fails with NotLeader (no leader became known within
        ``leader_wait``) or ProposalDropped (also when the leader a follower forwarded it to
        changes before answering: the write may or may not have been applied)."""
        if not data:
            raise ValueError("empty data is reserved for Raft's no-op entries")
        self.check_size((data,))
        future: Future[int] = _timed(Future())
        self._inbox.put(Propose((data,), future))
        return future

    def propose_many(self, datas: Sequence[bytes]) -> Future[int]:
        """Propose consecutive entries; the future gives the last one's index."""
        if not datas or not all(datas):
            raise ValueError("give at least one non-empty entry")
        self.check_size(datas)
        future: Future[int] = _timed(Future())
        self._inbox.put(Propose(tuple(datas), future))
        return future

    def propose_forwarded(self, datas: Sequence[bytes]) -> Future[int]:
        """Entries a follower forwarded here: proposed, never forwarded again (NotLeader
        when this node does not lead)."""
        self.check_size(datas)
        future: Future[int] = Future()
        self._inbox.put(Propose(tuple(datas), future, forwarded=True))
        return future

    def propose_answering(
        self, datas: Sequence[bytes], answer: Completion, *, forwarded: bool = False
    ) -> None:
        """`propose_many` (``forwarded``: `propose_forwarded`) for a transport handler:
        the outcome goes to ``answer`` (set_result / set_exception, on the loop thread),
        which answers its peer itself; no Future on every remote write's path."""
        if not datas or not all(datas):
            raise ValueError("give at least one non-empty entry")
        self.check_size(datas)
        self.hand_in(Propose(tuple(datas), answer, forwarded=forwarded))

    def hand_in(self, command: Command) -> None:
        """From the endpoint's I/O thread (handlers.py): queue ``command`` for the round
        `run_handed_in` runs once the batch of inbound frames it came in is dispatched."""
        self._inbox.put_quiet(command)

    def run_handed_in(self) -> float | None:
        """Carry out what was handed in, in a round run on the calling thread when the
        loop is free (`RaftLoop.run_inline`), else on the loop thread. Never from a thread
        that may hold what a round needs (a store's lock): the round applies to the store.
        Returns the seconds after which to call it again (held commit notices), or None:
        the endpoint's timer for an inline ``after``."""
        return self._loop.run_inline()

    def check_size(self, datas: Sequence[bytes]) -> None:
        """Every way in to the log passes here: an entry over its budget could never be
        sent to a follower (it must fit a frame), so it is refused, never proposed."""
        for data in datas:
            if len(data) > self._max_entry_bytes:
                raise TooLarge("a Raft entry", len(data), self._max_entry_bytes, "one entry")

    # ------------------------------------------------------------------ control plane
    def subscribe(self, callback: Callable[[LeadershipChange], None]) -> Callable[[], None]:
        """Call `callback` (on the events thread, in order) with the current leadership and
        then at every change: leader-only subsystems start on ``is_leader`` and stop when
        it turns false. A callback that raises fails the node. Returns the unsubscribe."""
        return self._events.subscribe(callback, self._loop.seen)

    def call(self, fn: Callable[[RaftCore], Any]) -> Future[Any]:
        """Run `fn(core)` on the loop thread (its effects go through the next Ready)."""
        future: Future[Any] = Future()
        self._inbox.put(Call(fn, future))
        return future

    def status(self, timeout: float = 5.0) -> RaftStatus:
        status: RaftStatus = self.call(self._loop.status).result(timeout)
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
        members = self._loop.members
        return self.call(lambda core: members.add_member(core, peer))

    def reencrypt_at_rest(self) -> Future[None]:
        """Rewrite the storage under its cipher's current key (a rotated data key): a new
        snapshot of the applied state, the log rewritten after it, older files deleted
        (`DurableStorage.reencrypt`). Runs on the loop, between two Readies."""
        return self.call(self._loop.reencrypt)

    # ------------------------------------------------------------------ transport side
    def handlers(self) -> dict[str, Handler]:
        """Handlers to mount on the node's remote endpoint (handlers.py)."""
        return self._handlers.table()

    def receive(self, src: int, seq: int, batch: bytes, sender_key: bytes | None = None) -> None:
        """Hand in one frame of Raft messages (any thread; never blocks). The loop unpacks
        it; a frame that does not unpack is dropped and logged there. ``sender_key``: the
        CURVE key it came with, checked against member ``src``'s (senders.py); None only
        for frames handed in by this process (in-process networks)."""
        self._inbox.put(Receive(src, seq, batch, sender_key))


class RaftNodeActor(SupervisedActor):
    """The supervised shell: ``make()`` builds a RaftNode (opening its storage) in
    ``on_start``; the node stops in ``on_stop``; a failed node crashes the actor. Ask for
    ``node()`` to reach the node (its methods never block on the loop)."""

    def __init__(self, ctx: ChildContext | None, make: Callable[[], RaftNode]) -> None:
        super().__init__(ctx)
        self._make = make
        self._node: RaftNode | None = None

    def on_start(self) -> None:
        node = self._make()
        node.report_failures_to(self._node_failed)
        self._node = node.start()

    def on_stop(self) -> None:
        if self._node is not None:
            self._node.stop()

    def _node_failed(self, exc: BaseException) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(_NodeFailed(exc))

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _NodeFailed):
            raise RuntimeError("raft node failed") from message.error
        return None

    def node(self) -> RaftNode:
        assert self._node is not None
        return self._node


@dataclass(frozen=True, slots=True)
class _NodeFailed:
    error: BaseException


def _timed(future: Future[int]) -> Future[int]:
    """``future`` with its outcome reported to the metrics: the seconds from now until it
    is resolved (committed and applied here), or a failure."""
    started = time.monotonic()

    def done(f: Future[int]) -> None:
        try:  # one look at the future (each takes its condition's lock)
            failed = f.exception() is not None
        except CancelledError:
            failed = True
        metrics.proposal_done(time.monotonic() - started, failed)

    future.add_done_callback(done)
    return future
