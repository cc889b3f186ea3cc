"""A fleet node's connection to a manager (the fleet's loop: loop.py): one ZeroMQ DEALER,
CURVE with the node's keys pinned to the manager's server key, and a monitor of the
connection, both watched by the loop's epoll through their ``ZMQ_FD``.

Rules:
- The monitor tells when the connection drops (the manager's process died, or closed it)
  or is refused (nothing listens there): the session or the attempt ends at once, as a
  gRPC stream fails when its transport closes in SwarmKit's agent, rather than a
  heartbeat period and a request timeout (or a connect timeout) later. A drop says more
  than the refused reconnects that follow it (`connection_lost_event`).
- Options are set with ``setsockopt``, not pyzmq's attributes: those cost 8 us each
  through its Python setter, and a leader's loss brings thousands of attempts, each a new
  socket.
"""

from __future__ import annotations

import zmq
from zmq.utils.monitor import recv_monitor_message

from actors.dispatcher.wire import ManagerAddress
from api.errors import ConnectionLost
from transport.dealer import connection_lost
from transport.keys import KeyPair

__all__ = ["close_connection", "connection_lost_event", "connection_monitor", "open_connection"]


def connection_monitor(sock: zmq.Socket[bytes]) -> zmq.Socket[bytes]:
    """A monitor of ``sock``'s dropped and refused connections (call before ``connect``),
    its ZMQ_FD ready to wait on with epoll: a dropped connection ends the session at once,
    and a refused one (a manager killed) the attempt, instead of a heartbeat or connect
    timeout later."""
    monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED)
    # A ZMQ_FD signals an edge once the socket's pending commands are processed: never
    # asked, the monitor's stayed silent when the manager died (the nodes noticed at
    # their heartbeats' timeout, seconds later). Asking ZMQ_EVENTS arms it.
    monitor.get(zmq.EVENTS)
    return monitor


def open_connection(
    context: zmq.Context[zmq.Socket[bytes]],
    manager: ManagerAddress,
    keypair: KeyPair,
    max_message_size: int,
) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
    """A DEALER connected to ``manager`` with the node's ``keypair``, and its monitor."""
    sock = context.socket(zmq.DEALER)
    option = sock.setsockopt
    option(zmq.LINGER, 0)
    option(zmq.MAXMSGSIZE, max_message_size)
    option(zmq.SNDHWM, 10_000)
    option(zmq.RCVHWM, 10_000)
    option(zmq.RECONNECT_IVL, 100)
    option(zmq.RECONNECT_IVL_MAX, 2_000)
    option(zmq.CURVE_SERVERKEY, manager.server_key)
    option(zmq.CURVE_PUBLICKEY, keypair.public)
    option(zmq.CURVE_SECRETKEY, keypair.secret)
    monitor = connection_monitor(sock)
    sock.connect(manager.addr)
    return sock, monitor


def connection_lost_event(monitor: zmq.Socket[bytes], address: str) -> ConnectionLost | None:
    """Read every event ``monitor`` holds: the connection to ``address`` lost, or None."""
    lost: ConnectionLost | None = None
    while True:
        try:
            event = recv_monitor_message(monitor, zmq.NOBLOCK)
        except zmq.Again:
            return lost
        if lost is None or event["event"] == zmq.EVENT_DISCONNECTED:
            lost = connection_lost(event["event"], address) or lost


def close_connection(sock: zmq.Socket[bytes] | None, monitor: zmq.Socket[bytes] | None) -> None:
    """Close a connection and its monitor (unregister their fds from the epoll first: a
    closed fd's number is reused)."""
    if monitor is not None:
        if sock is not None:
            sock.disable_monitor()
        monitor.close(linger=0)
    if sock is not None:
        sock.close(linger=0)
