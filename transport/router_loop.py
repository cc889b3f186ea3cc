"""The I/O thread of an endpoint: the one thread that touches its ROUTER socket.

It polls the ROUTER, the outbox's wake-up pipe, the ROUTER's monitor socket and, with
CURVE, the ZAP socket of the endpoint's context (transport/connections.py: handshakes are
answered here, and the strangers' connections bounded). Inbound messages are drained in
batches (up to `BATCH` at a time, and no more once they hold `BATCH_BYTES`) and handed,
still encoded (as views of ZeroMQ's own buffers: a frame is never copied), to a callback
that runs on this thread (the endpoint's dispatch: it decodes them and runs inline handlers
or hands the rest to the handler pool, so it must never block); outbound
``[identity, frame]`` messages from the outbox are written to the ROUTER, those this thread
sends itself (an inline handler's reply) at once (`Outbox.own`). Before each poll it calls
``timers`` (the endpoint's timers of inline handlers, run on this thread), which returns
the seconds until it wants to be called again, or None: the poll waits no longer (nor past
the end of a young connection's lifetime, `Connections.due`). Handshake failures, refused
keys and dropped peers (ZeroMQ drops a peer that sends a frame over ``ZMQ_MAXMSGSIZE``, and
the log names it) are logged from the monitor's events. On an endpoint without CURVE (the
local ``ipc://`` control socket) there is no handshake to fail: a peer that closes before
or after its greeting (``swarmctl`` probing the socket, then hanging up after its call) is
an ordinary end of a connection, logged at debug level only (so is a local client dropped
for an oversized frame: it gets no reply, and says so).

The outbox's stop message ends the loop after everything queued before it is written; the
ROUTER then closes with a bounded linger (`CLOSE_LINGER`), so those replies still reach
the peers that read them, while the port is let go at once.

High-water marks are per peer and small: a peer whose frames arrive faster than this thread
takes them is held back by TCP (``PEER_RCVHWM`` frames wait in ZeroMQ at most), and one
that does not read its replies loses those past ``PEER_SNDHWM``, so no peer grows a queue
in this process.

Inbound bytes held, with ``S`` the socket's frame cap (``max_message_size``, checked by
ZeroMQ from a frame's header, before it allocates anything; on a manager, 8 MiB on the
remote socket, ``api.limits.REMOTE_MAX_REQUEST_BYTES``, and 4 KiB on the join-hello port):
- per connection, at most ``PEER_RCVHWM`` frames queued and one its connection is reading,
  ``(PEER_RCVHWM + 1) * S``: 520 MiB on the remote socket (it was 65 frames of 16 MiB),
  260 KiB on the hello port;
- in this thread, one batch: under ``BATCH_BYTES`` before its last frame, so at most
  ``BATCH_BYTES + S``, all of it let go before the next drain (a drain that took every
  frame waiting, and on the control socket copied each, held 109 frames of a fuzz at once,
  two of 15 MiB among them). What handlers hold after that is the handler pool's
  (transport/handler_pool.py);
- connections: members' are not bounded here (a node has one or a few; the cluster's size
  bounds them). Strangers' are (`transport.strangers.DEFAULT_STRANGER_LIMITS`): at most
  ``connections`` = 64 admitted at once, 16 from one source (an IPv4 address, an IPv6 /64),
  new ones at most ``burst`` = 800 at once then ``rate`` = 400 a second (200 and 100 from
  one source), each closed past ``frames`` = 32 frames or ``lifetime`` = 60 s, and before
  their handshakes 256 from one source (``source_unproven``), a third of the process's
  descriptors below its reserve from all (`transport.strangers.unproven_cap`) and none
  in the reserve (`transport.strangers.descriptor_reserve`) but a few lent. A newcomer
  that takes the place of another source's connection (the 64 are shared fairly) has
  that one shut: one in, one out (the frames it queued are read as any stranger's; this
  thread shuts connections only while it runs, so what follows holds should it stop
  reading). So strangers
  hold at most ``64 * (PEER_RCVHWM + 1) * S`` at once: 32.5 GiB on the remote socket should
  this thread stop reading while 64 strangers each fill their queue with frames just under
  the cap (read, a stranger's frame over 64 KiB is refused at once), 16.25 MiB on the hello
  port. The count is taken at each handshake, which ZAP names by address only: handshakes
  of one address that end out of order may trade their connections' labels until their
  first frames put them right, so it can be off by as many such handshakes as were in
  flight at once from one address.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final, cast

import structlog
import zmq

from transport.auth import AdmissionPolicy
from transport.connections import Connections
from transport.keys import KeyPair
from transport.outbox import STOP, Outbox
from transport.stats import endpoint_stats
from transport.strangers import DEFAULT_STRANGER_LIMITS, StrangerLimits
from transport.trust import RefusalTally

__all__ = [
    "BATCH",
    "BATCH_BYTES",
    "CLOSE_LINGER",
    "PEER_RCVHWM",
    "PEER_SNDHWM",
    "PROBED",
    "Inbound",
    "RouterLoop",
]

BATCH: Final = 512
# a drain takes no more frames once its batch holds this many bytes: a batch of small
# frames (a Raft round's, heartbeats) is cut by BATCH, big ones go a few at a time
BATCH_BYTES: Final = 4 * 1024 * 1024
# how long a stopping loop's ROUTER may keep what it was given to send (the replies queued
# before the stop, written in order before it) still going out to peers that read: a
# node answers ``cluster leave`` and stops at once; a peer that reads nothing costs this
CLOSE_LINGER: Final = 2.0
PEER_RCVHWM: Final = 64
PEER_SNDHWM: Final = 1024
# plain ints: a zmq flag enum costs an enum operation at every call
_NOBLOCK: Final = int(zmq.NOBLOCK)
_MORE_NOBLOCK: Final = int(zmq.SNDMORE | zmq.NOBLOCK)
_EVENTS: Final = int(zmq.EVENTS)
_POLLIN: Final = int(zmq.POLLIN)
# a drain asks ZMQ_EVENTS whether another message waits (~3 us) before each of its first
# PROBED receives, and only past them receives until zmq.Again (~20 us: pyzmq builds and
# raises an exception): a batch of one, every hop of a lone write, ends without one
PROBED: Final = 4
# (routing identity, frame, peer key Z85 with CURVE, the received zmq.Frame); the frame is
# a view of ZeroMQ's buffer
Inbound = tuple[bytes, bytes | memoryview, bytes | None, "zmq.Frame"]

_log = structlog.get_logger(subsystem="transport")


class RouterLoop(threading.Thread):
    def __init__(
        self,
        context: zmq.Context[zmq.Socket[bytes]],
        bind: str,
        outbox: Outbox,
        inbound: Callable[[list[Inbound]], None],
        *,
        timers: Callable[[], float | None] = lambda: None,
        name: str,
        keypair: KeyPair | None,
        max_message_size: int,
        admission: AdmissionPolicy | None = None,
        strangers: StrangerLimits = DEFAULT_STRANGER_LIMITS,
    ) -> None:
        super().__init__(name=f"{name}-io", daemon=True)
        if keypair is not None and admission is None:
            raise ValueError(f"a CURVE endpoint needs an admission policy: give {name} one")
        self._context = context
        self._bind = bind
        self._outbox = outbox
        self._inbound = inbound
        self._timers = timers
        self._endpoint = name
        self._keypair = keypair
        self._max_message_size = max_message_size
        self._tally = RefusalTally()
        self.stats = endpoint_stats(name)
        self.connections = Connections(
            name,
            self.stats,
            max_message_size=max_message_size,
            admission=admission if keypair is not None else None,
            strangers=strangers,
        )
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.address = ""

    def run(self) -> None:
        try:
            router = self._open()
        except BaseException as exc:
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        try:
            self._loop(router)
        except Exception as exc:
            _log.exception("transport.io.failed", endpoint=self._endpoint, error=repr(exc))
        finally:
            self.connections.close(router)
            # the context's term (the endpoint's close) waits for it, at most that long
            router.close(linger=int(CLOSE_LINGER * 1000))

    def _open(self) -> zmq.Socket[bytes]:
        router = self._context.socket(zmq.ROUTER)
        try:
            router.linger = 0
            router.maxmsgsize = self._max_message_size
            router.sndhwm = PEER_SNDHWM
            router.rcvhwm = PEER_RCVHWM
            if self._keypair is not None:
                router.curve_server = True
                router.curve_publickey = self._keypair.public
                router.curve_secretkey = self._keypair.secret
                router.zap_domain = self._endpoint.encode()
            self.connections.open(self._context, router)  # ZAP and monitor, before binding
            path = self._bind[len("ipc://") :] if self._bind.startswith("ipc://") else None
            if path is not None:
                _remove_stale_socket(path)
            router.bind(self._bind)
            if path is not None:
                os.chmod(path, 0o600)
            self.address = router.getsockopt_string(zmq.LAST_ENDPOINT)
            self.connections.bound(self.address)
        except BaseException:
            self.connections.close(router)
            router.close(linger=0)
            raise
        return router

    def _loop(self, router: zmq.Socket[bytes]) -> None:
        outbox = self._outbox
        connections = self.connections
        monitor, zap = connections.monitor, connections.zap
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(outbox.fd, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        if zap is not None:
            poller.register(zap, zmq.POLLIN)
        curve = self._keypair is not None
        wake_fd = outbox.fd
        stats = self.stats
        timers = self._timers
        send = functools.partial(self._send, router)
        outbox.own(send)  # an inline handler's reply leaves at once (outbox.py)
        while True:
            wait = timers()  # before sleep(): what they send needs no wake-up
            if connections.due is not None:  # a stranger is connected: its lifetime
                wait = self._strangers_due(wait)
            if outbox.sleep():
                timeout: int | None = 0
            else:  # zmq_poll counts whole milliseconds: never wake before the time
                timeout = None if wait is None else math.ceil(wait * 1000)
            ready = dict(poller.poll(timeout))
            outbox.woke(wake_fd in ready)
            if router in ready:
                batch = self._receive(router, curve)
                if batch:
                    stats.frames_in += len(batch)
                    stats.bytes_in += sum(len(item[1]) for item in batch)
                    self._inbound(batch)
            for parts in outbox.take(BATCH):
                if parts is STOP:
                    return
                send(parts)
            if monitor in ready:
                connections.drain()
            if zap is not None and zap in ready:
                connections.answer_zap()

    def _strangers_due(self, wait: float | None) -> float | None:
        """Close the strangers' connections past their lifetime; the seconds to wait,
        ``wait`` or less: until the next one's lifetime ends."""
        now = time.monotonic()
        due = self.connections.due
        if due is not None and due <= now:
            due = self.connections.expire(now)
        if due is None:
            return wait
        left = max(0.0, due - time.monotonic())
        return left if wait is None else min(wait, left)

    def _send(self, router: zmq.Socket[bytes], parts: Sequence[bytes]) -> None:
        """Write one [identity, frame] message to the ROUTER (on this thread only)."""
        try:
            router.send(parts[0], _MORE_NOBLOCK)
            router.send(parts[1], _NOBLOCK)
        except zmq.ZMQError as exc:  # peer gone or over its high-water mark
            self.stats.refuse("reply_dropped")
            _log.warning("transport.reply.dropped", endpoint=self._endpoint, error=str(exc))
        else:
            stats = self.stats
            stats.frames_out += 1
            stats.bytes_out += len(parts[1])

    def _receive(self, router: zmq.Socket[bytes], curve: bool) -> list[Inbound]:
        """Up to `BATCH` inbound messages (two parts each: routing identity, frame), and
        none past the one that brings the batch to `BATCH_BYTES`; a message of any other
        shape is dropped. Part by part (``Frame.more``), as ``recv_multipart`` would ask
        the socket for each part's RCVMORE."""
        batch: list[Inbound] = []
        held = 0
        for n in range(BATCH):
            if held >= BATCH_BYTES:
                break
            # the first: the poll said a message waits; the next few: asked (PROBED)
            if 0 < n < PROBED and not cast(int, router.get(_EVENTS)) & _POLLIN:
                break
            try:
                identity = router.recv(_NOBLOCK, copy=False)
            except zmq.Again:
                break
            parts = [identity]
            while parts[-1].more:
                parts.append(router.recv(_NOBLOCK, copy=False))
            if len(parts) != 2:
                self._dropped(len(parts))
                continue
            frame = parts[1]
            held += len(frame)
            batch.append((identity.bytes, frame.buffer, _user_id(frame) if curve else None, frame))
        return batch

    def _dropped(self, parts: int) -> None:
        self.stats.refuse("multipart")
        count = self._tally.refuse("multipart", time.monotonic())
        if count is not None:
            _log.warning(
                "transport.frame.dropped",
                endpoint=self._endpoint,
                reason=f"expected one frame per message, got {parts - 1}",
                count=count,
            )


def _user_id(frame: zmq.Frame) -> bytes | None:
    """The peer's CURVE key (Z85) that ZAP admitted, from a received frame's metadata."""
    try:  # a try, not contextlib.suppress: this runs for every frame received
        user_id = frame.get("User-Id")
    except (zmq.ZMQError, KeyError):
        return None
    return user_id.encode() if isinstance(user_id, str) and user_id else None


def peer_address(frame: zmq.Frame) -> str:
    """The address the frame came from as the socket saw it (TCP: the peer's IP), from its
    metadata; "" when the socket does not say."""
    with contextlib.suppress(zmq.ZMQError, KeyError):
        value = frame.get("Peer-Address")
        return value if isinstance(value, str) else ""
    return ""


def _remove_stale_socket(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"{path} exists and is not a socket")
    os.unlink(path)
    _log.info("transport.ipc.stale_removed", path=path)
