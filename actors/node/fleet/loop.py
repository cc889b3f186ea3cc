"""The fleet's one I/O thread: every node's dispatcher session over its own ZeroMQ
connection, multiplexed on one epoll.

Each node is a `FleetMember` (its own certificate and CURVE key pair), a `FleetSession`
(the agent's rules, sans I/O) and its `NodeTasks` over its own `SimExecutor`. The thread
owns every node's connection (sockets.py), one zmq context (its own I/O thread does the
CURVE work) and a wake-up pipe. Per turn it waits on the epoll until the earliest timer,
then: runs the calls handed to it (``call``), drains every socket that may hold frames
(decoding each frame with `transport.codec` under the reply limits, as
`transport.client.Client` does) into its node's session, fires due timers (session
wake-ups, task timers: timers.py), and polls each node that something happened to,
carrying out the effects its session returns. So a node costs a socket and some memory,
never a thread.

The epoll watches each socket's ``ZMQ_FD``, not the sockets themselves: zmq's own poll
asks every socket of a thousand nodes (two each, with the monitors) for its events at
every turn, about 4 ms, whatever few are ready. ``ZMQ_FD`` only says that a socket's
events may have changed, and a send or receive may take that signal: so a socket is
drained while its ``ZMQ_EVENTS`` say a frame waits, and asked again after each send on it.

A frame that does not decode fails the request it answers (the session ends and
reconnects); a frame for a request the node no longer waits for is dropped. Each socket
has a monitor telling when its connection drops or is refused, and the session or the
attempt ends at once (sockets.py).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import select
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, cast

import zmq

from actors.log import get_logger
from actors.node.fleet.members import FleetMember
from actors.node.fleet.session import (
    DEFAULT_CONFIG,
    Connect,
    Disconnect,
    Effect,
    FleetSession,
    Forget,
    Send,
    SessionConfig,
)
from actors.node.fleet.sockets import close_connection, connection_lost_event, open_connection
from actors.node.fleet.tasks import NodeTasks
from actors.node.fleet.timers import FleetTimers
from actors.worker.executors.sim import SimExecutor
from actors.worker.session_calls import Call
from api.errors import CodecError
from api.objects import NodeDescription
from api.schema.frame import DEFAULT_MAX_MESSAGE_SIZE, REPLY_LIMITS
from transport.codec import decode, encode

__all__ = ["DEFAULT_SIM", "FleetLoop", "FleetNode", "SimSettings"]

_log = get_logger("fleet")
_BATCH: Final = 256  # frames drained from one socket per turn
_POLLIN: Final = int(zmq.POLLIN)  # zmq.POLLIN is an IntFlag: its ``&`` runs in Python
_SOCKET: Final = 0  # what an fd the epoll watches belongs to
_MONITOR: Final = 1

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SimSettings:
    """How the fleet's simulated executors behave (actors/worker/executors/sim.py)."""

    start_delay: float = 0.0
    fail_rate: float = 0.0


DEFAULT_SIM: Final = SimSettings()


@dataclass(slots=True)
class FleetNode:
    member: FleetMember
    session: FleetSession
    tasks: NodeTasks
    executor: SimExecutor
    socket: zmq.Socket[bytes] | None = None
    monitor: zmq.Socket[bytes] | None = None  # the socket's dropped and refused connections
    fds: tuple[int, int] = (-1, -1)  # the socket's and the monitor's ZMQ_FD, watched
    pending: dict[int, Call] = field(default_factory=dict)

    def forget(self, call: Call) -> None:
        """Owe ``call``'s requests no reply: one that still comes is dropped, so a late
        reply to a status batch put back never answers the batch sent again."""
        for rid in [rid for rid, owed in self.pending.items() if owed is call]:
            del self.pending[rid]


class FleetLoop:
    def __init__(
        self,
        members: Sequence[FleetMember],
        describe: Callable[[FleetMember], NodeDescription],
        *,
        sim: SimSettings = DEFAULT_SIM,
        config: SessionConfig = DEFAULT_CONFIG,
        seed: int | None = None,
        ramp: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        """``ramp``: spread the nodes' first session attempts over this many seconds."""
        self._clock = clock
        self._wall = wall
        self._max_size = max_message_size
        self._limits = REPLY_LIMITS.capped(max_message_size)
        rng = random.Random(seed)
        now = clock()
        self.nodes: list[FleetNode] = []
        for i, member in enumerate(members):
            node_rng = random.Random(rng.getrandbits(64))
            executor = SimExecutor(
                member.node_id,
                start_delay=sim.start_delay,
                fail_rate=sim.fail_rate,
                rng=node_rng,
                on_exit=self._exit_listener(i),
            )
            tasks = NodeTasks(executor)
            first = now + (ramp * i / len(members) if members else 0.0)
            session = FleetSession(
                member.node_id, describe(member), member.managers, tasks, node_rng, config,
                now=first,
            )  # fmt: skip
            self.nodes.append(FleetNode(member, session, tasks, executor))
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        # a closed socket counts until libzmq's reaper thread has freed it: when every
        # session reconnects at once (a leader change, a stalled manager) each node holds
        # two for a while; nodes + 64 made the loop die of EMFILE at 1,000 nodes. Each
        # has its monitor (a PAIR socket) too
        self._context.set(zmq.MAX_SOCKETS, 8 * len(self.nodes) + 64)
        self._epoll = select.epoll()
        self._by_fd: dict[int, tuple[int, int]] = {}  # fd -> (_SOCKET or _MONITOR, node)
        self._readable: set[int] = set()  # nodes whose socket may hold frames
        self._timers = FleetTimers(len(self.nodes))  # wake-ups and task timers (timers.py)
        self._rids = itertools.count(1)
        self._dirty: set[int] = set()
        self._calls: list[tuple[Callable[[], Any], Future[Any]]] = []
        self._calls_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.turns = 0

    def _exit_listener(self, index: int) -> Callable[[str, int], None]:
        def exited(task_id: str, code: int) -> None:
            self.nodes[index].tasks.exited(task_id, code)

        return exited

    # -- public (any thread) -------------------------------------------------------------
    def start(self) -> None:
        for i, node in enumerate(self.nodes):
            self._timers.wake_at(i, node.session.next_wakeup())
        self._thread = threading.Thread(target=self._run, name="fleet-io", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        self._poke()
        if self._thread is not None:
            self._thread.join(timeout)
        for node in self.nodes:
            if node.socket is not None:
                node.socket.close(linger=0)
                node.socket = None
        self._context.destroy(linger=0)
        self._epoll.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def call(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on the loop's thread (it may read and change any node)."""
        future: Future[T] = Future()
        with self._calls_lock:
            self._calls.append((fn, future))
        self._poke()
        return future

    def touched(self, index: int) -> None:
        """Loop thread only: node ``index`` changed outside a reply (``call``)."""
        self._dirty.add(index)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the thread ----------------------------------------------------------------------
    def _poke(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _run(self) -> None:
        epoll = self._epoll
        wake = self._wake_r
        epoll.register(wake, select.EPOLLIN)
        by_fd = self._by_fd
        try:
            while not self._stopping:
                self.turns += 1
                for fd, _ in epoll.poll(self._timeout()):
                    found = by_fd.get(fd)
                    if found is not None:
                        kind, index = found
                        if kind == _SOCKET:
                            self._readable.add(index)  # (a new set each turn)
                        else:
                            self._disconnected(index)
                    elif fd == wake:
                        self._run_calls()
                self._drain_readable()
                self._fire_timers()
                self._poll_dirty()
        except Exception as exc:  # a bug: logged; the owner sees the loop dead (``alive``)
            _log.exception("fleet.loop.crashed", error=repr(exc))
            raise

    def _timeout(self) -> float:
        """Seconds the epoll may wait (-1: until something happens)."""
        if self._calls or self._dirty or self._readable:
            return 0
        due = self._timers.next_due()
        if due is None:
            return -1
        return max(0.0, due - self._clock()) + 0.001

    def _run_calls(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 4096)
        with self._calls_lock:
            calls, self._calls = self._calls, []
        for fn, future in calls:
            try:
                future.set_result(fn())
            except Exception as exc:
                future.set_exception(exc)

    def _drain_readable(self) -> None:
        """Drain each socket that may hold frames: up to ``_BATCH`` each, so one busy node
        cannot hold up the others (one that has more stays readable for the next turn).
        Draining a socket may make another readable (its send asks it again): those wait
        for the next turn too."""
        readable, self._readable = self._readable, set()
        for index in readable:
            self._drain(index)

    def _drain(self, index: int) -> None:
        node = self.nodes[index]
        sock = node.socket
        for _ in range(_BATCH):
            if node.socket is not sock or sock is None:
                return  # the session ended (and reconnected) meanwhile
            # asked before each receive (the fd only said something changed): a receive
            # that finds nothing raises, and that exception costs more than the question
            if not cast(int, sock.get(zmq.EVENTS)) & _POLLIN:
                return
            self._deliver(index, node, sock.recv(zmq.NOBLOCK))
        self._readable.add(index)

    def _disconnected(self, index: int) -> None:
        node = self.nodes[index]
        monitor = node.monitor
        if monitor is None:
            return
        lost = connection_lost_event(monitor, node.session.manager)
        if lost is not None:
            reason = str(lost)
            self._effects(index, node.session.on_failure(self._clock(), Call.SESSION, reason))

    def _deliver(self, index: int, node: FleetNode, frame: bytes) -> None:
        now = self._clock()
        session = node.session
        try:
            envelope = decode(frame, limits=self._limits)
        except CodecError as exc:
            call = node.pending.pop(exc.request_id, None) if exc.request_id else None
            if call is not None:
                self._effects(index, session.on_failure(now, call, exc.message))
            return
        call = node.pending.get(envelope.id)
        if call is None:
            return
        self._dirty.add(index)
        if envelope.type == "error":
            del node.pending[envelope.id]
            code = str(envelope.body.get("code"))
            reason = f"{code}: {envelope.body.get('message')}"
            self._effects(index, session.on_failure(now, call, reason, code))
            return
        if not envelope.more:
            del node.pending[envelope.id]
        if call is Call.SESSION:
            effects = session.on_frame(now, envelope.body, self._wall())
            if not envelope.more and not any(isinstance(e, Disconnect) for e in effects):
                effects += session.on_reply(now, call, envelope.body)
            self._effects(index, effects)
        else:
            self._effects(index, session.on_reply(now, call, envelope.body))

    def _fire_timers(self) -> None:
        """A node's task timer fires into its tasks; a session's wake-up only marks its
        node, polled next."""
        for index, timer in self._timers.due(self._clock()):
            if timer is not None:
                self.nodes[index].tasks.fire(timer, self._wall())
            self._dirty.add(index)

    def _poll_dirty(self) -> None:
        while self._dirty:
            dirty, self._dirty = self._dirty, set()
            now = self._clock()
            for index in dirty:
                node = self.nodes[index]
                self._effects(index, node.session.poll(now))
                for timer in node.tasks.take_timers():
                    self._timers.task_at(index, now + timer.delay, timer)
                self._timers.wake_at(index, node.session.next_wakeup())

    # -- effects -------------------------------------------------------------------------
    def _effects(self, index: int, effects: list[Effect]) -> None:
        node = self.nodes[index]
        for effect in effects:
            if isinstance(effect, Send):
                self._send(index, node, effect)
            elif isinstance(effect, Connect):
                self._close(node)
                self._open(index, node, effect)
            elif isinstance(effect, Disconnect):
                self._close(node)
            elif isinstance(effect, Forget):
                node.forget(effect.call)
        if effects:
            self._dirty.add(index)

    def _open(self, index: int, node: FleetNode, connect: Connect) -> None:
        sock, monitor = open_connection(
            self._context, connect.manager, node.member.keypair, self._max_size
        )
        node.socket, node.monitor = sock, monitor
        fds = (cast(int, sock.get(zmq.FD)), cast(int, monitor.get(zmq.FD)))
        node.fds = fds
        for kind, fd in ((_SOCKET, fds[0]), (_MONITOR, fds[1])):
            self._by_fd[fd] = (kind, index)
            self._epoll.register(fd, select.EPOLLIN)

    def _close(self, node: FleetNode) -> None:
        sock, node.socket = node.socket, None
        monitor, node.monitor = node.monitor, None
        node.pending.clear()
        for fd in node.fds:  # before the sockets close: a closed fd's number is reused
            if fd >= 0:
                self._epoll.unregister(fd)
                del self._by_fd[fd]
        node.fds = (-1, -1)
        close_connection(sock, monitor)

    def _send(self, index: int, node: FleetNode, send: Send) -> None:
        sock = node.socket
        if sock is None:
            return
        rid = next(self._rids)
        try:
            # unchecked against the declaration: the session builds every body with the
            # wire's typed encoders (matching a status batch to it was 4% of the fleet)
            frame = encode(
                send.call.value, send.body, request_id=rid, max_size=self._max_size, check=False
            )
            sock.send(frame, zmq.NOBLOCK)
        except (CodecError, zmq.Again) as exc:
            reason = exc.message if isinstance(exc, CodecError) else "send queue full"
            self._effects(index, node.session.on_failure(self._clock(), send.call, reason))
            return
        node.pending[rid] = send.call
        self._readable.add(index)  # the send may have taken the fd's signal of a frame
