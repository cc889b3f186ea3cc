"""Requests a node makes while it starts, which its stop ends: a joining node's requests
to the manager's CA (actors/ca/join.py) and a manager's first ``raft.join``
(actors/node/membership/join.py) give way to a stop (a signal) instead of holding it
back until their timeout. The request is abandoned, not undone: whatever the manager
does with it, it does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import wait
from typing import Any, Final

from api.errors import RequestTimeout
from transport.client import Client

__all__ = ["STOP_CHECK", "StopRequested", "request_unless_stopped"]

STOP_CHECK: Final = 0.1  # a wait looks at the stop this often
_GRACE: Final = 1.0  # past the client's timeout, in case its I/O thread is stuck


class StopRequested(Exception):
    """The node's stop ended a wait of its start-up."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the node is stopping: {what} was not waited for")


def request_unless_stopped(
    client: Client,
    message_type: str,
    body: Mapping[str, Any] | None,
    stop: threading.Event,
) -> dict[str, Any]:
    """``client.request``, unless ``stop`` is set before the reply: `StopRequested`."""
    reply = client.request_async(message_type, body)
    deadline = time.monotonic() + client.timeout + _GRACE
    while not reply.done():
        wait((reply,), STOP_CHECK)
        if reply.done():
            break
        if stop.is_set():
            raise StopRequested(f"the reply to {message_type!r}")
        if time.monotonic() > deadline:
            raise RequestTimeout(f"no reply to {message_type!r} within {client.timeout}s")
    return reply.result()
