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
- The ZAP socket (a REP): each request is answered by a `ZapHandler` on this thread, after
  every monitor event already sent was read, so the gate knows the connection the
  handshake is on (ZeroMQ sends a connection's accept event before its ZAP request). The
  policy admits or refuses the key; `StrangerGate.admit` then bounds a stranger's: a
  refusal is counted (``stranger.CODE``) and logged (``transport.stranger.refused``, at
  most once a second per code, with the number since). Members pass untouched.
- A stranger's connection past its frames or its lifetime is closed: ``shutdown(2)`` of
  the descriptor ZeroMQ accepted it on, once the monitor was read again and the
  descriptor still holds that peer (ZeroMQ then sees the peer gone and drops it), counted
  and logged as ``transport.stranger.closed``. One whose key is a member's by then (its
  join succeeded) is left open, a member's.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import time
from typing import Final

import structlog
import zmq
from zmq.utils.monitor import recv_monitor_message

from transport.auth import ZAP_ENDPOINT, AdmissionPolicy, ZapHandler
from transport.keys import fingerprint
from transport.stats import EndpointStats
from transport.strangers import (
    Connection,
    Refusal,
    State,
    StrangerGate,
    StrangerLimits,
    source_of,
)
from transport.trust import RefusalTally

__all__ = ["MONITOR_QUEUE", "Connections"]

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
        # when the oldest stranger's lifetime ends (None: none is open): the loop's check
        self.due: float | None = None

    @property
    def gate(self) -> StrangerGate:
        return self._gate

    def open(self, context: zmq.Context[zmq.Socket[bytes]], router: zmq.Socket[bytes]) -> None:
        """Bind the ZAP socket (CURVE) and monitor ``router``; before it binds or connects."""
        try:
            if self._zap_handler is not None:
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
        verdict = self._gate.admit(source, key, self._admission.is_member(key), now)
        if isinstance(verdict, Refusal):
            self._refused(verdict, address, key, now)
            return verdict.reason
        connection = verdict.connection
        if self.due is None and connection is not None and connection.state is State.STRANGER:
            self.due = connection.due  # the oldest's: every stranger lives as long
        return None

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

    # --- what strangers do --------------------------------------------------------------

    def stranger_frame(self, frame: zmq.Frame) -> None:
        """Count a frame the endpoint took as a stranger's; close its connection when it
        is over the frames a stranger may send."""
        try:
            fd = frame.get(_SRCFD)
        except zmq.ZMQError:
            return
        if not isinstance(fd, int):
            return
        connection = self._gate.frame(fd)
        if connection is not None:
            self._close(connection, "frames", f"sent {connection.frames - 1} frames (at most)")

    def expire(self, now: float) -> float | None:
        """Close the strangers' connections past their lifetime; returns `due` again."""
        self.drain()
        assert self._admission is not None
        for connection in self._gate.overdue(now):
            if connection.key is not None and self._admission.is_member(connection.key):
                self._gate.became_member(connection)  # joined: a member's connection now
            else:
                limit = self._gate.limits.lifetime
                self._close(connection, "lifetime", f"open {limit:g} s (at most)")
        self.due = self._gate.next_due()
        return self.due

    def _close(self, connection: Connection, code: str, what: str) -> None:
        self.drain()  # the record must still be this connection's, the descriptor its
        if self._gate.connection(connection.fd) is not connection:
            return
        if not _shutdown(connection.fd, connection.peer):
            return
        reason = f"stranger.{code}"
        self._stats.refuse(reason)
        count = self._tally.refuse(reason, time.monotonic())
        if count is not None:
            _log.warning(
                "transport.stranger.closed",
                endpoint=self._endpoint,
                peer=connection.peer,
                key_fingerprint=fingerprint(connection.key) if connection.key else None,
                reason=f"a connection without a certificate {what}",
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
            if self.zap is None and _hung_up(kind, value):
                _log.debug("transport.peer.closed", endpoint=self._endpoint)
                continue
            if kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                self._stats.refuse("handshake.refused")
            else:
                self._stats.refuse("handshake.failed")
            count = self._tally.refuse(f"monitor.{kind}.{value}", time.monotonic())
            if count is None:
                continue
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
        peer = _peer_of(fd)
        if peer is None:  # closed already: its disconnect event follows
            self._gate.accepted(fd, "", "")
            return
        host, port = peer
        self._gate.accepted(fd, source_of(host), f"{host}:{port}")

    def _disconnected(self, fd: int) -> None:
        connection = self._gate.connection(fd) if self.zap is not None else None
        if self.zap is not None:
            self._gate.closed(fd)
        if self.zap is None:  # the local socket: a client hung up
            _log.debug("transport.peer.closed", endpoint=self._endpoint)
            return
        if connection is not None and connection.key is None:
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
            trust=connection.state.value if connection is not None else None,
            note="peer closed, or was dropped for a frame over the size limit",
            max_message_size=self._max_message_size,
            count=count,
        )


def _peer_of(fd: int) -> tuple[str, int] | None:
    """The TCP peer of descriptor ``fd`` (ZeroMQ's: borrowed, never closed here)."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return None
    try:
        peer = sock.getpeername()
    except OSError:
        return None
    finally:
        sock.detach()
    return str(peer[0]), int(peer[1])


def _shutdown(fd: int, peer: str) -> bool:
    """End the TCP connection on ``fd`` if it is still the one with ``peer``; ZeroMQ sees
    its peer gone, closes the descriptor and reports the disconnect."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return False
    try:
        host, port = sock.getpeername()[:2]
        if f"{host}:{port}" != peer:
            return False
        sock.shutdown(socket.SHUT_RDWR)
        return True
    except OSError:
        return False
    finally:
        sock.detach()


def _hung_up(kind: int, value: int) -> bool:
    """A monitor event that only says a peer closed its connection, on a socket without
    security: a greeting cut short by the peer hanging up."""
    return kind == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL and value in _HUNG_UP
