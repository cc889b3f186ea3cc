"""What an endpoint's I/O thread knows of its connections: the ROUTER's monitor events, its
ZAP requests (CURVE endpoints) and the strangers' limits (transport/strangers.py).

`Connections` lives on the I/O thread (transport/router_loop.py), with the sockets it reads:

- The monitor (a PAIR): with CURVE, accepts (each connection's descriptor and peer, for the
  gate), handshake failures and disconnects. Failures and disconnects are logged at most
  once a second per kind (with the number since), so a peer reconnecting in a loop does
  not make a log line per connection; a disconnect names the peer (address, key
  fingerprint, member or stranger) and the socket's frame cap, as ZeroMQ drops a peer that
  sends a frame over it without saying so (``transport.peer.disconnected``). Without CURVE
  (the local ``ipc://`` control socket) a peer that hangs up is an ordinary end of a
  connection, logged at debug level only.
- Each refusal is counted once, under the code that names its reason: a handshake the
  gate refused is ``stranger.CODE`` only (its monitor event, a failure for "auth" with
  status 300, is not counted again as ``handshake.refused``), and so is a connection the
  gate shut down: the handshake failure ZeroMQ reports for it is not counted as
  ``handshake.failed``. That failure names no connection, but it comes just before the
  disconnect of the same connection, which does: it is judged there.
- The ZAP socket (a REP): each request is answered by a `ZapHandler` on this thread, after
  every monitor event already sent was read (the gate's guess at the handshake's
  connection needs its accept). The policy admits or refuses the key; `StrangerGate.admit`
  then bounds a stranger's: a refusal is counted (``stranger.CODE``), logged
  (``transport.stranger.refused``, at most once a second per code, with the number since)
  and answered 300 ("temporary"): ZeroMQ sends the client no ERROR, which would end its
  reconnecting, and drops the connection, after which the client's ZeroMQ connects again
  (a joining node's request waits meanwhile). A stranger admitted in the place of a
  connection of a source holding more has that connection closed (code ``evicted``).
  Members pass untouched.
- Frames: the endpoint reports a stranger's frames (`stranger_frame`) and the first of each
  member's connection (`member_frame`, once: a set lookup per member frame), with the
  descriptor each came on (``ZMQ_SRCFD``). A connection past the frames a stranger may
  send, or past its lifetime without a member's frame (unless its key, its frames' or else
  its handshake's, is a member's now), is closed: ``shutdown(2)`` of that descriptor, once
  the monitor was read again and the descriptor still holds a connection accepted on the
  endpoint's port from that peer (ZeroMQ then sees the peer gone and drops it; a
  descriptor the process reused meanwhile for a file or a connection of its own to
  another node is left alone), counted and logged as ``transport.stranger.closed``. The
  descriptors acted on come from frames and accepts, never from the gate's guess.
- Accepts: a connection past the unproven connections its source may hold, or past those
  the endpoint may (its share of the process's descriptors), or on a descriptor in the
  process's reserve (`StrangerGate.crowded`, with the soft ``ulimit -n`` read at each
  accept), is closed the same way when its accept is read, or has the connection it
  takes the place of closed (code ``evicted``): raw connections that never greet must
  not take the descriptors ZeroMQ needs for sockets of its own (it aborts the process
  when it has none: ``Too many open files (ipc_listener.cpp)``), nor keep out those of
  other addresses.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from typing import Final

import structlog
import zmq
from zmq.utils.monitor import recv_monitor_message

from transport.accepted import descriptor_limit, peer_of, shut_down
from transport.auth import ZAP_ENDPOINT, ZAP_TEMPORARY, AdmissionPolicy, ZapHandler
from transport.keys import fingerprint
from transport.stats import EndpointStats
from transport.strangers import Connection, Label, Refusal, StrangerGate, StrangerLimits, source_of
from transport.trust import RefusalTally

__all__ = ["HANDSHAKE_TIMEOUT", "MONITOR_QUEUE", "Connections"]

# how long a CURVE handshake may take (ZMQ_HANDSHAKE_IVL; ZeroMQ's default is 30 s): the
# handshakes of loopback and LAN peers take milliseconds, ZAP's answer included; a client
# the gate turned away connects again this much later
HANDSHAKE_TIMEOUT: Final = 5.0

# monitor events waiting to be read: a flood of connections while this thread is busy
# must not drop the accepts and disconnects the gate counts by (a lost one costs a slot
# until its descriptor is reused)
MONITOR_QUEUE: Final = 65_536

_FAILURES: Final = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_DISCONNECTED
)
# errno values of a handshake "failure" that is only the peer hanging up
_HUNG_UP: Final = frozenset({0, errno.EPIPE, errno.ECONNRESET})
_PROTOCOL_ERRORS: Final[dict[int, str]] = {
    int(zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH): "security mechanism mismatch (no CURVE?)",
    int(zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC): "cryptographic error (wrong server key?)",
    int(zmq.PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE): "key exchange failed",
}
_SRCFD: Final = int(zmq.SRCFD)

_log = structlog.get_logger(subsystem="transport")


class Connections:
    """The monitor, the ZAP socket and the stranger gate of one ROUTER (the module's
    rules); every method runs on the endpoint's I/O thread."""

    def __init__(
        self,
        endpoint: str,
        stats: EndpointStats,
        *,
        max_message_size: int,
        admission: AdmissionPolicy | None,
        strangers: StrangerLimits,
    ) -> None:
        self._endpoint = endpoint
        self._stats = stats
        self._max_message_size = max_message_size
        self._admission = admission
        self._gate = StrangerGate(strangers)
        self._zap_handler = ZapHandler(admission, self._judge) if admission is not None else None
        self._tally = RefusalTally()
        self.monitor: zmq.Socket[bytes] | None = None
        self.zap: zmq.Socket[bytes] | None = None
        # routing ids of the connections a member's frame came on (the endpoint's test of
        # a member's frame: in it, nothing to do)
        self.proven: set[bytes] = set()
        # when the oldest connection's lifetime ends (None: none is open): the loop's check
        self.due: float | None = None
        self._port: int | None = None  # the TCP port the ROUTER listens on (`bound`)
        # a handshake failure's errno, judged at the disconnect that follows it (the rules)
        self._failure: int | None = None

    def open(self, context: zmq.Context[zmq.Socket[bytes]], router: zmq.Socket[bytes]) -> None:
        """Bind the ZAP socket (CURVE) and monitor ``router``; before it binds or connects."""
        try:
            if self._zap_handler is not None:
                router.handshake_ivl = int(HANDSHAKE_TIMEOUT * 1000)
                self.zap = context.socket(zmq.REP)
                self.zap.linger = 0
                self.zap.bind(ZAP_ENDPOINT)
            events = _FAILURES | (zmq.EVENT_ACCEPTED if self.zap is not None else 0)
            address = f"inproc://monitor.{self._endpoint}.{id(self):x}"
            router.monitor(address, events)
            self.monitor = context.socket(zmq.PAIR)
            self.monitor.linger = 0
            self.monitor.rcvhwm = MONITOR_QUEUE
            self.monitor.connect(address)
        except BaseException:
            self.close(router)
            raise

    def bound(self, address: str) -> None:
        """The ROUTER listens on ``address`` (``tcp://HOST:PORT``): only connections
        accepted on its port are judged and closed."""
        if address.startswith("tcp://"):
            self._port = int(address.rsplit(":", 1)[1])

    def close(self, router: zmq.Socket[bytes]) -> None:
        with contextlib.suppress(zmq.ZMQError):
            router.disable_monitor()
        for sock in (self.monitor, self.zap):
            if sock is not None:
                sock.close(linger=0)
        self.monitor = self.zap = None

    # --- ZAP ---------------------------------------------------------------------------

    def answer_zap(self) -> None:
        """Answer the ZAP requests waiting (each after the monitor's events)."""
        zap, handler = self.zap, self._zap_handler
        assert zap is not None and handler is not None
        while True:
            try:
                request = zap.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            zap.send_multipart(handler.answer(request))

    def _judge(self, address: str, key: bytes, admitted: bool) -> str | None:
        """The gate's word on a handshake (``admitted`` by the policy): None, or why the
        policy's admission is refused."""
        self.drain()  # the accept of the connection this handshake is on, at least
        assert self._admission is not None
        now = time.monotonic()
        source = source_of(address)
        if not admitted:  # the policy refused it, and logged why
            self._gate.refused(source, key)
            return None
        admission = self._gate.admit(source, key, self._admission.is_member(key), now)
        self._stats.strangers = self._gate.strangers()
        evicted, refusal = admission.evicted, admission.refusal
        if evicted is not None:
            self._close(
                evicted,
                "evicted",
                f"was closed for one from {source}, which held fewer: all addresses "
                f"held {self._gate.limits.connections}",
            )
        if refusal is None:
            return None
        self._refused(refusal, address, key, now)
        return refusal.reason

    def _refused(self, refusal: Refusal, address: str, key: bytes, now: float) -> None:
        reason = f"stranger.{refusal.code}"
        self._stats.refuse(reason)
        count = self._tally.refuse(reason, now)
        if count is not None:
            _log.warning(
                "transport.stranger.refused",
                endpoint=self._endpoint,
                peer_address=address,
                key_fingerprint=fingerprint(key),
                code=refusal.code,
                reason=f"handshake refused: {refusal.reason}",
                count=count,
            )

    # --- frames and lifetimes -------------------------------------------------------

    def stranger_frame(self, frame: zmq.Frame, key: bytes | None) -> None:
        """Count a frame the endpoint took as a stranger's (``key``: the one ZAP admitted);
        close its connection when it is past the frames a stranger may send."""
        fd = _source_fd(frame)
        if fd is None or key is None:
            return
        connection = self._gate.stranger_frame(fd, key)
        self._stats.strangers = self._gate.strangers()
        if connection is not None:
            limit = self._gate.limits.frames
            self._close(connection, "frames", f"sent more than {limit} frames")

    def member_frame(self, identity: bytes, frame: zmq.Frame) -> None:
        """The first member's frame of the connection with routing id ``identity``."""
        fd = _source_fd(frame)
        if fd is not None and self._gate.member_frame(fd, identity) is not None:
            self.proven.add(identity)
            self._stats.strangers = self._gate.strangers()

    def expire(self, now: float) -> float | None:
        """Close the connections past their lifetime without a member's frame; returns
        `due` again."""
        self.drain()
        assert self._admission is not None
        lifetime = self._gate.limits.lifetime
        for connection in self._gate.overdue(now):
            key = connection.key
            if key is not None and self._admission.is_member(key):
                if connection.proven:
                    self._gate.joined(connection)  # its join succeeded: a member's now
                # else its handshake was a member's, and it has had nothing to say (a
                # follower's Raft connection to another follower while the leader lives):
                # kept, still counted as unproven against its source
            elif connection.proven:
                self._close(connection, "lifetime", f"was open for {lifetime:g} s")
            else:
                self._close(connection, "silent", f"sent nothing in {lifetime:g} s")
        self._stats.strangers = self._gate.strangers()
        self.due = self._gate.next_due()
        return self.due

    def _close(self, connection: Connection, code: str, what: str) -> None:
        self.drain()  # the record must still be this connection's, the descriptor its
        if self._gate.connection(connection.fd) is not connection:
            return
        self._end(connection, code, what)

    def _end(self, connection: Connection, code: str, what: str) -> None:
        """Shut ``connection`` down (still its peer's descriptor), counted and logged."""
        if not shut_down(connection.fd, connection.peer, self._port):
            return
        self._gate.closing(connection, code)
        self._stats.strangers = self._gate.strangers()
        reason = f"stranger.{code}"
        self._stats.refuse(reason)
        count = self._tally.refuse(reason, time.monotonic())
        if count is not None:
            _log.warning(
                "transport.stranger.closed",
                endpoint=self._endpoint,
                peer=connection.peer,
                key_fingerprint=(
                    fingerprint(connection.key) if connection.key and connection.proven else None
                ),
                code=code,
                reason=f"a connection that showed no member's key {what}",
                count=count,
            )

    # --- the monitor --------------------------------------------------------------------

    def drain(self) -> None:
        """Read every monitor event waiting: note accepts and disconnects, log the rest."""
        monitor = self.monitor
        if monitor is None:
            return
        while True:
            try:
                event = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            kind = event["event"]
            value = event["value"]
            if kind == zmq.EVENT_ACCEPTED:
                self._accepted(value)
                continue
            if kind == zmq.EVENT_DISCONNECTED:
                self._disconnected(value)
                continue
            if self.zap is None:
                if _hung_up(kind, value):
                    _log.debug("transport.peer.closed", endpoint=self._endpoint)
                    continue
            elif kind == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                if self._failure is not None:  # its disconnect event was lost
                    self._handshake_failed(kind, self._failure)
                self._failure = value  # judged at its connection's disconnect, next
                continue
            elif kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH and value == ZAP_TEMPORARY:
                continue  # the gate's refusal: counted and logged as stranger.CODE
            self._handshake_failed(kind, value)

    def _handshake_failed(self, kind: int, value: int) -> None:
        """Count and log a handshake that failed (a monitor event's ``kind`` and
        ``value``), not the gate's doing."""
        if kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            self._stats.refuse("handshake.refused")
        else:
            self._stats.refuse("handshake.failed")
        count = self._tally.refuse(f"monitor.{kind}.{value}", time.monotonic())
        if count is None:
            return
        if kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            _log.warning(
                "transport.handshake.refused",
                endpoint=self._endpoint,
                zap_status=int(value),
                count=count,
            )
        elif kind == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            _log.warning(
                "transport.handshake.failed",
                endpoint=self._endpoint,
                reason=_PROTOCOL_ERRORS.get(value, f"protocol error {value:#x}"),
                count=count,
            )
        else:
            _log.warning(
                "transport.handshake.failed",
                endpoint=self._endpoint,
                reason="security handshake did not complete (peer without CURVE or with "
                f"a wrong server key?): {os.strerror(value) if value > 0 else value}",
                count=count,
            )

    def _accepted(self, fd: int) -> None:
        stale = self._gate.connection(fd)  # its disconnect event was lost
        if stale is not None and stale.identity is not None:
            self.proven.discard(stale.identity)
        peer = peer_of(fd, self._port)
        host, port = peer if peer is not None else ("", 0)  # closed already: its disconnect follows
        connection = self._gate.accepted(fd, source_of(host), f"{host}:{port}", time.monotonic())
        if self.due is None:
            self.due = connection.due
        admission = self._gate.crowded(connection, descriptor_limit())
        refusal, evicted = admission.refusal, admission.evicted
        if refusal is not None:  # the peer just read holds the descriptor (or none does)
            self._end(connection, refusal.code, f"was closed at its accept: {refusal.reason}")
        elif evicted is not None:  # the record is still its: its disconnect is not read yet
            self._end(
                evicted,
                "evicted",
                f"was closed for one from {connection.source}, which held fewer: the "
                "connections that showed no member's key had taken their descriptors",
            )

    def _disconnected(self, fd: int) -> None:
        if self.zap is None:  # the local socket: a client hung up
            _log.debug("transport.peer.closed", endpoint=self._endpoint)
            return
        failure, self._failure = self._failure, None  # this connection's handshake's
        connection = self._gate.closed(fd)
        if connection is not None:
            self._stats.strangers = self._gate.strangers()
            if connection.identity is not None:
                self.proven.discard(connection.identity)
            if connection.closing is not None:
                return  # the gate shut it: counted and logged as stranger.CODE
        if failure is not None:
            self._handshake_failed(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, failure)
        if connection is not None and connection.label in (Label.HANDSHAKE, Label.REFUSED):
            return  # its handshake's failure or refusal was logged
        count = self._tally.refuse(f"disconnected.{fd}", time.monotonic())
        if count is None:
            return
        _log.info(
            "transport.peer.disconnected",
            endpoint=self._endpoint,
            peer=connection.peer if connection is not None else None,
            key_fingerprint=(
                fingerprint(connection.key) if connection is not None and connection.key else None
            ),
            trust=connection.label.value if connection is not None else None,
            # its frames named the key, or only its handshake (matched by address)
            known_by=_known_by(connection),
            note="peer closed, or was dropped for a frame over the size limit",
            max_message_size=self._max_message_size,
            count=count,
        )


def _known_by(connection: Connection | None) -> str | None:
    if connection is None:
        return None
    return "frames" if connection.proven else "handshake"


def _source_fd(frame: zmq.Frame) -> int | None:
    """The descriptor of the connection a received frame came on."""
    try:
        fd = frame.get(_SRCFD)
    except zmq.ZMQError:
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def _hung_up(kind: int, value: int) -> bool:
    """A monitor event that only says a peer closed its connection, on a socket without
    security: a greeting cut short by the peer hanging up."""
    return kind == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL and value in _HUNG_UP
