"""The routing mesh's decisions on a node, without I/O: the table the managers' changes
build (actors/dispatcher/ingress_changes.py), which ports to listen on for it, and which
backend takes the next connection.

Rules:
- ``NodeTable`` holds the table as the session's frames build it: a full table replaces
  it; a change applies only on the version it names (``TableOutOfStep`` otherwise: the
  agent ends the session, and the next one's first frame is a full table).
- The node listens on every TCP and UDP port of the table (SCTP is refused by the
  managers' validation; an entry of it is skipped), and on no other: a port that left
  the table (its service removed, or moved to another port) is closed.
- A connection (TCP) or a flow (UDP: the datagrams of one client address) goes to the
  backend with the fewest this node has open to it, ties broken round robin per port, so
  equal backends take turns and a slow one gets fewer (found by walking from the turn's
  start to the first backend with none open: a few steps while backends outnumber the
  connections, however many there are). A backend that refused a
  connection is passed over for the next attempt of the same connection (at most
  ``CONNECT_ATTEMPTS``).
- At most ``MAX_CONNECTIONS_PER_PORT`` connections or flows per port, and
  ``MAX_CONNECTIONS`` on the node, at once (``ConnectionBudget``): one past them is
  closed (its datagram dropped) at once. The table and its backends are bounded by the
  managers' side (actors/dispatcher/ingress.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from actors.dispatcher.ingress import IngressBackend, IngressPort, PortKey
from actors.dispatcher.ingress_changes import TableChange, apply_change
from api.enums import PortProtocol

__all__ = [
    "CONNECT_ATTEMPTS",
    "MAX_CONNECTIONS",
    "MAX_CONNECTIONS_PER_PORT",
    "MESH_PROTOCOLS",
    "BackendChooser",
    "ConnectionBudget",
    "ListenerChanges",
    "NodeTable",
    "PortKey",
    "TableOutOfStep",
    "listener_changes",
]

MAX_CONNECTIONS_PER_PORT: Final = 1024
MAX_CONNECTIONS: Final = 4096  # a TCP connection holds two file descriptors
CONNECT_ATTEMPTS: Final = 3
MESH_PROTOCOLS: Final = frozenset({PortProtocol.TCP, PortProtocol.UDP})


class TableOutOfStep(ValueError):
    """A change for another version than the one held."""


class NodeTable:
    """The routing mesh's table on a node, as one session's frames build it."""

    def __init__(self) -> None:
        self.version = 0  # none yet: only a full table applies
        self._ports: dict[PortKey, IngressPort] = {}

    def take(self, change: TableChange) -> tuple[IngressPort, ...]:
        """Apply ``change``; the table it leaves, by port. ValueError past the bounds."""
        if not change.full and change.base != self.version:
            raise TableOutOfStep(
                f"routing mesh: a change from version {change.base}, this node holds {self.version}"
            )
        self._ports = apply_change(self._ports, change)
        self.version = change.version
        return tuple(self._ports[key] for key in sorted(self._ports))


@dataclass(frozen=True, slots=True)
class ListenerChanges:
    open: tuple[PortKey, ...]  # ports to start listening on
    close: tuple[PortKey, ...]  # ports to stop listening on
    backends: dict[PortKey, tuple[IngressBackend, ...]]  # every listened port's backends


def listener_changes(
    listening: Collection[PortKey], table: Iterable[IngressPort]
) -> ListenerChanges:
    """What to do to go from the ports ``listening`` to ``table``'s."""
    wanted = {(e.protocol, e.port): e.backends for e in table if e.protocol in MESH_PROTOCOLS}
    return ListenerChanges(
        open=tuple(sorted(set(wanted) - set(listening))),
        close=tuple(sorted(set(listening) - set(wanted))),
        backends=wanted,
    )


class ConnectionBudget:
    """The connections and flows open, per port and in all."""

    def __init__(self, per_port: int = MAX_CONNECTIONS_PER_PORT, total: int = MAX_CONNECTIONS):
        self.per_port = per_port
        self.total = total
        self._open: dict[PortKey, int] = {}
        self._all = 0

    def take(self, port: PortKey) -> bool:
        """One more on ``port``, if the bounds allow it."""
        held = self._open.get(port, 0)
        if held >= self.per_port or self._all >= self.total:
            return False
        self._open[port] = held + 1
        self._all += 1
        return True

    def give(self, port: PortKey) -> None:
        """One on ``port`` ended."""
        held = self._open.get(port, 0)
        if held <= 0:
            return
        if held == 1:
            del self._open[port]
        else:
            self._open[port] = held - 1
        self._all -= 1

    def held(self, port: PortKey | None = None) -> int:
        return self._all if port is None else self._open.get(port, 0)


class BackendChooser:
    """Least connections, ties round robin; counts what this node has open."""

    def __init__(self) -> None:
        self._active: dict[IngressBackend, int] = {}
        self._turn: dict[PortKey, int] = {}  # port -> the next tie's start

    def choose(
        self,
        port: PortKey,
        backends: Sequence[IngressBackend],
        tried: Collection[IngressBackend] = (),
    ) -> IngressBackend | None:
        """The backend for the next connection to ``port`` (None: none left to try)."""
        count = len(backends)
        if not count:
            return None
        turn = self._turn.get(port, 0)
        self._turn[port] = turn + 1
        active = self._active
        best: IngressBackend | None = None
        fewest = 0
        for i in range(count):  # from the turn's start: the first of the least
            backend = backends[(turn + i) % count]
            if backend in tried:
                continue
            held = active.get(backend, 0)
            if held == 0:
                return backend
            if best is None or held < fewest:
                best, fewest = backend, held
        return best

    def opened(self, backend: IngressBackend) -> None:
        self._active[backend] = self._active.get(backend, 0) + 1

    def closed(self, backend: IngressBackend) -> None:
        left = self._active.get(backend, 0) - 1
        if left > 0:
            self._active[backend] = left
        else:
            self._active.pop(backend, None)

    def active(self, backend: IngressBackend) -> int:
        return self._active.get(backend, 0)

    def forget_port(self, port: PortKey) -> None:
        self._turn.pop(port, None)
