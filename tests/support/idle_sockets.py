"""Idle TCP connections that send nothing, for the tests of a server's bound on the
connections a peer may hold open (the metrics endpoint, the HTTP shell, the web view)."""

from __future__ import annotations

import socket

__all__ = ["closed_by_peer", "idle_connections"]


def idle_connections(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` connections to ``host:port``, non-blocking, that never send a byte."""
    conns = [socket.create_connection((host, port)) for _ in range(count)]
    for conn in conns:
        conn.setblocking(False)
    return conns


def closed_by_peer(conns: list[socket.socket]) -> int:
    """How many of ``conns`` the server has closed (EOF or reset); the rest are held."""
    ended = 0
    for conn in conns:
        try:
            ended += conn.recv(1) == b""
        except BlockingIOError:
            pass  # still held open
        except ConnectionResetError:
            ended += 1
    return ended
