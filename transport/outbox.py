"""Handing outbound frames to a socket's I/O thread, from any thread.

A ZeroMQ socket lives in one thread. Other threads give that thread frames through an
``inproc://`` PUSH socket connected to the PULL socket the I/O loop polls next to its
ROUTER or DEALER. The PUSH socket is shared behind a lock (a full memory barrier, which is
what ZeroMQ requires to use a socket from more than one thread); a send on it never
blocks (no high-water mark on an in-process pipe). One empty frame tells the loop to stop.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Final

import zmq

__all__ = ["STOP", "Outbox", "outbox_address", "pull_socket"]

STOP: Final = b""  # the one-frame message that stops an I/O loop
_serial = itertools.count(1)


def outbox_address(owner: str) -> str:
    return f"inproc://swarmnode.outbox.{owner}.{next(_serial)}"


def pull_socket(context: zmq.Context[zmq.Socket[bytes]], address: str) -> zmq.Socket[bytes]:
    """The I/O loop's end: bind before any `Outbox` connects."""
    sock = context.socket(zmq.PULL)
    sock.linger = 0
    sock.rcvhwm = 0
    sock.bind(address)
    return sock


class Outbox:
    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], address: str) -> None:
        self._lock = threading.Lock()
        self._sock: zmq.Socket[bytes] | None = context.socket(zmq.PUSH)
        self._sock.linger = 0
        self._sock.sndhwm = 0
        self._sock.connect(address)

    def send(self, parts: Sequence[bytes]) -> bool:
        """Queue one message for the I/O loop; False once the outbox is closed."""
        with self._lock:
            if self._sock is None:
                return False
            self._sock.send_multipart(parts)
            return True

    def stop_loop(self) -> None:
        self.send((STOP,))

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close(linger=0)
                self._sock = None
