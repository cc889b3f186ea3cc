"""A client's DEALER sockets: how each is set up, and what its connection's monitor events
mean for the requests pending on it (the client: transport/client.py; its lanes:
transport/lanes.py).

Rules:
- Every socket of one client is set up alike (`open_dealer`): the client's frame cap on
  what it receives, deep queues both ways, ZeroMQ's reconnect (0.1 s, backing off to 2 s)
  and heartbeats (every 2 s, a peer silent for 6 s is gone), the same CURVE keys, and the
  same local address to connect from (``source``: transport/source.py).
- A client that watches its connection (`WATCHED_EVENTS`) fails every request pending on
  it when the server refuses its key at the handshake (`HandshakeRefused`: its ZAP handler
  said no), the connection drops (the server's process died) or is refused (nothing
  listens there) (`ConnectionLost`): their replies can no longer come (ZeroMQ reconnects,
  but the server routes replies by connection). Other events mean nothing
  (`connection_failure`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import zmq

from api.errors import ConnectionLost, HandshakeRefused, TransportError
from transport.source import connect_endpoint

if TYPE_CHECKING:
    from transport.keys import KeyPair

__all__ = [
    "WATCHED_EVENTS",
    "connection_failure",
    "connection_lost",
    "new_keypair",
    "open_dealer",
]

WATCHED_EVENTS: Final = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED
)


def new_keypair() -> KeyPair:
    """A fresh CURVE keypair; `transport.keys` (hashlib) is imported only by a client that
    talks CURVE, not by swarmctl on the control socket."""
    from transport.keys import generate_keypair

    return generate_keypair()


def open_dealer(
    context: zmq.Context[zmq.Socket[bytes]],
    address: str,
    *,
    source: str | None,
    max_message_size: int,
    server_key: bytes | None,
    keypair: KeyPair | None,
    connect: bool = True,
) -> zmq.Socket[bytes]:
    """A DEALER set up as every socket of a client is (connected unless told not)."""
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    sock.maxmsgsize = max_message_size
    sock.sndhwm = 100_000
    sock.rcvhwm = 100_000
    sock.reconnect_ivl = 100
    sock.reconnect_ivl_max = 2_000
    sock.setsockopt(zmq.HEARTBEAT_IVL, 2_000)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 6_000)
    if server_key is not None and keypair is not None:
        sock.curve_serverkey = server_key
        sock.curve_publickey = keypair.public
        sock.curve_secretkey = keypair.secret
    if connect:
        sock.connect(connect_endpoint(address, source))
    return sock


def connection_lost(event: int, address: str) -> ConnectionLost | None:
    """What a socket monitor's ``event`` means for the requests pending on a connection to
    ``address``: lost when it dropped (the server's process died) or was refused (nothing
    listens there); None for any other event."""
    if event == zmq.EVENT_DISCONNECTED:
        return ConnectionLost(f"the connection to {address} closed")
    if event == zmq.EVENT_CONNECT_RETRIED:
        return ConnectionLost(f"{address} refused the connection")
    return None


def connection_failure(event: int, value: int, address: str) -> TransportError | None:
    """What a watched connection's monitor ``event`` (with its ``value``) means for the
    requests pending on it: `HandshakeRefused`, `ConnectionLost`, or None (nothing)."""
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return HandshakeRefused(f"{address} refused this key at the handshake (status {value})")
    return connection_lost(event, address)
