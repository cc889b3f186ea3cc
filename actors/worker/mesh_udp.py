"""The routing mesh's UDP side (actors/worker/mesh.py runs it on its loop).

Rules:
- A flow is the datagrams of one client address to one ingress port. Its first datagram
  picks a backend (mesh_table.py ``BackendChooser``) and opens a connected UDP socket to
  it; the datagrams that arrive while it opens wait (at most ``PENDING_DATAGRAMS``, the
  rest are dropped, as a network would); each answer from the backend is sent back to
  the client from the ingress port.
- A flow ends after ``FLOW_IDLE`` seconds without a datagram either way, when the
  backend's host answers with an error (ICMP: its port closed, the task gone): the
  client's next datagram opens a new flow, to another backend when one is there), or
  when the port closes. A datagram that would open a flow past the bounds
  (mesh_table.py ``ConnectionBudget``) is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final, cast

from actors.dispatcher.ingress import IngressBackend
from actors.log import get_logger
from actors.worker.mesh_table import BackendChooser, ConnectionBudget, PortKey

__all__ = ["FLOW_IDLE", "UdpFront"]

_log = get_logger("mesh")

FLOW_IDLE: Final = 60.0
PENDING_DATAGRAMS: Final = 32
_Client = tuple[Any, ...]  # a socket address: (host, port) or (host, port, flow, scope)


class _Flow(asyncio.DatagramProtocol):
    """One client's datagrams to one backend."""

    def __init__(self, front: UdpFront, client: _Client, backend: IngressBackend) -> None:
        self.front = front
        self.client = client
        self.backend = backend
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.last = front.now()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        for data in self.pending:
            self.transport.sendto(data)
        self.pending.clear()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.last = self.front.now()
        self.front.reply(data, self.client)

    def error_received(self, exc: Exception) -> None:
        _log.info(
            "mesh.backend.unreachable",
            port=self.front.key[1],
            protocol="udp",
            backend=f"{self.backend.addr}:{self.backend.port}",
            error=str(exc),
        )
        self.front.end(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.front.end(self)

    def send(self, data: bytes) -> None:
        self.last = self.front.now()
        if self.transport is not None:
            self.transport.sendto(data)
        elif len(self.pending) < PENDING_DATAGRAMS:
            self.pending.append(data)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UdpFront(asyncio.DatagramProtocol):
    """The ingress port's socket: one per UDP port of the table."""

    def __init__(
        self,
        key: PortKey,
        backends: Callable[[], tuple[IngressBackend, ...]],
        chooser: BackendChooser,
        budget: ConnectionBudget,
        spawn: Callable[[Any], None],
    ) -> None:
        self.key = key
        self._backends = backends
        self._chooser = chooser
        self._budget = budget
        self._spawn = spawn
        self._transport: asyncio.DatagramTransport | None = None
        self._flows: dict[_Client, _Flow] = {}
        self._sweep: asyncio.TimerHandle | None = None

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        self._sweep = asyncio.get_running_loop().call_later(FLOW_IDLE / 2, self._expire)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        flow = self._flows.get(addr)
        if flow is None:
            backend = self._chooser.choose(self.key, self._backends())
            if backend is None or not self._budget.take(self.key):
                return
            flow = self._flows[addr] = _Flow(self, addr, backend)
            self._chooser.opened(backend)
            self._spawn(self._open(flow))
        flow.send(data)

    async def _open(self, flow: _Flow) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_datagram_endpoint(
                lambda: flow, remote_addr=(flow.backend.addr, flow.backend.port)
            )
        except OSError as exc:
            flow.error_received(exc)
            return
        if flow.closed and flow.transport is not None:  # ended while it opened
            flow.transport.close()

    def reply(self, data: bytes, client: _Client) -> None:
        if self._transport is not None:
            self._transport.sendto(data, client)

    def end(self, flow: _Flow) -> None:
        if self._flows.get(flow.client) is flow:
            del self._flows[flow.client]
            self._chooser.closed(flow.backend)
            self._budget.give(self.key)
        if not flow.closed:
            flow.close()

    def _expire(self) -> None:
        idle_since = self.now() - FLOW_IDLE
        for flow in [f for f in self._flows.values() if f.last < idle_since]:
            self.end(flow)
        self._sweep = asyncio.get_running_loop().call_later(FLOW_IDLE / 2, self._expire)

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        for flow in list(self._flows.values()):
            self.end(flow)
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error for a reply to a client that went away: nothing to do

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()
