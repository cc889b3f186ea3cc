"""The TCP connections ZeroMQ accepted, by descriptor: their peers, and ending one.

The descriptors are ZeroMQ's, named by its monitor events (transport/connections.py): each
is borrowed for a call and never closed here. A monitor event read late may name a
descriptor the process has reused since, for a file or a connection of its own to another
node; only a TCP connection accepted on the endpoint's port, from the peer its accept
named, is ever judged or shut down.
"""

from __future__ import annotations

import resource
import socket

__all__ = ["descriptor_limit", "peer_of", "shut_down"]


def descriptor_limit() -> int | None:
    """The process's soft limit of descriptors (None: unlimited)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def _accepted_peer(sock: socket.socket, port: int | None) -> tuple[str, int] | None:
    """The peer of ``sock`` if it is a TCP connection accepted on ``port`` (None: unknown),
    else None: a monitor event read late may name a descriptor the process has reused
    since, for a file or a connection of its own to another node, never to be judged."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    if port is not None and sock.getsockname()[1] != port:
        return None
    host, peer_port = sock.getpeername()[:2]
    return str(host), int(peer_port)


def peer_of(fd: int, port: int | None) -> tuple[str, int] | None:
    """The peer of the connection accepted on ``port`` that descriptor ``fd`` holds
    (ZeroMQ's: borrowed, never closed here), or None."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return None
    try:
        return _accepted_peer(sock, port)
    except OSError:
        return None
    finally:
        sock.detach()


def shut_down(fd: int, peer: str, port: int | None) -> bool:
    """End the TCP connection on ``fd`` if it is still the one accepted on ``port`` from
    ``peer``; ZeroMQ sees its peer gone, closes the descriptor and reports the disconnect."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return False
    try:
        found = _accepted_peer(sock, port)
        if found is None or f"{found[0]}:{found[1]}" != peer:
            return False
        sock.shutdown(socket.SHUT_RDWR)
        return True
    except OSError:
        return False
    finally:
        sock.detach()
