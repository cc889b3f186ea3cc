"""A ZeroMQ socket wrapper for tests that check a loop asks ``ZMQ_EVENTS`` rather than
finding an empty queue by a receive that raises ``zmq.Again`` (each costs ~10 us)."""

from __future__ import annotations

from typing import Any

import zmq

__all__ = ["CountingSocket"]


class CountingSocket:
    """``sock``, counting the receives that found nothing (zmq.Again)."""

    def __init__(self, sock: zmq.Socket[bytes]) -> None:
        self._sock = sock
        self.agains = 0

    def recv(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._sock.recv(*args, **kwargs)
        except zmq.Again:
            self.agains += 1
            raise

    def get(self, option: int) -> Any:
        return self._sock.get(option)
