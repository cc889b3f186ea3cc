"""Ports for the nodes, registries and servers of tests and benches: free when picked, and
below the kernel's ephemeral range.

A node is told its port, so the port is picked (checked free by binding it) a moment
before the node binds it, and again for every restart on the same port. A port from the
ephemeral range (``bind((host, 0))``; ``net.ipv4.ip_local_port_range``) can be taken in
between as the source port of any outgoing connection on the machine (other nodes, the
Docker client, other test workers): the node then fails with "Address already in use".
The kernel numbers connections only from that range, so a port below it is taken only by
a bind that names it. Each pytest-xdist worker (``PYTEST_XDIST_WORKER``) picks from its
own slice of those ports, and each process walks its slice from a random start, so two
workers, or a test and the bench it runs, do not hand out one port twice. Where no such
range is left (a machine whose ephemeral range starts low), the OS picks as before.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

__all__ = ["free_port", "free_port_pair"]

LOWEST = 10_000  # below: well-known services' ports
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_MIN_SLICE = 500


def _ephemeral_start() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(_RANGE_FILE.read_text().split()[0])
    return 32768  # Linux's default


def worker_slice(ephemeral_start: int, worker: str | None, worker_count: str | None) -> range:
    """The ports this process picks from: ``[LOWEST, ephemeral_start)`` cut into one slice
    per xdist worker (``gw0``, ``gw1``...); empty if a slice would be too small."""
    workers = int(worker_count) if worker_count and worker_count.isdigit() else 1
    workers = max(workers, 1)
    index = 0
    if worker and worker.startswith("gw") and worker[2:].isdigit():
        index = int(worker[2:]) % workers  # a replacement for a crashed worker counts on
    size = (ephemeral_start - LOWEST) // workers
    if size < _MIN_SLICE:
        return range(0)
    start = LOWEST + index * size
    return range(start, start + size)


_SLICE = worker_slice(
    _ephemeral_start(),
    os.environ.get("PYTEST_XDIST_WORKER"),
    os.environ.get("PYTEST_XDIST_WORKER_COUNT"),
)
_next = [random.randrange(len(_SLICE)) if _SLICE else 0]  # where the next pick starts


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _os_pick(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _candidates() -> Iterator[int]:
    """Every port of this process's slice, once, from where the last pick stopped."""
    for i in range(len(_SLICE)):
        yield _SLICE[(_next[0] + i) % len(_SLICE)]


def _handed_out(port: int, count: int = 1) -> int:
    """``port`` (and the ``count - 1`` after it) given: the next pick starts after them."""
    _next[0] = (_SLICE.index(port) + count) % len(_SLICE)
    return port


def free_port(host: str = "127.0.0.1") -> int:
    for port in _candidates():
        if _bindable(host, port):
            return _handed_out(port)
    return _os_pick(host)


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A free port on ``host`` whose successor is free too (a manager's join-hello
    endpoint)."""
    for port in _candidates():
        if port + 1 in _SLICE and _bindable(host, port) and _bindable(host, port + 1):
            return _handed_out(port, 2)
    for _ in range(100):
        port = _os_pick(host)
        if port < 65535 and _bindable(host, port + 1):
            return port
    raise RuntimeError("no pair of free ports found")
