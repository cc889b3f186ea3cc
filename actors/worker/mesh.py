"""The routing mesh on a node: a userland proxy that listens on every ingress port of the
cluster and forwards each TCP connection (or UDP flow: mesh_udp.py) to a running task of
the port's service, wherever it runs (SwarmKit does this with IPVS on an overlay network;
swarmnode has no overlay, so a task publishes its target port on a port the engine picks,
and the mesh connects to that port on the task's node: actors/dispatcher/ingress.py).

Rules:
- One ``MeshProxy`` per node: an asyncio loop on its own thread, listening on
  ``--mesh-addr`` (every address by default). ``apply(table)`` (from any thread) opens
  the ports the table adds, closes those it drops and swaps the backends in place; the
  decisions are mesh_table.py's. A port that cannot be bound (taken by another program)
  is logged and tried again every ``RETRY`` seconds while the table holds it.
- A connection: a backend is chosen (least connections), connected within
  ``CONNECT_TIMEOUT`` (a refused one is passed over, up to CONNECT_ATTEMPTS), then bytes
  are copied both ways; one side's end of stream is passed on as a half close; the
  connection ends when both directions have. No backend, or past the connections'
  bounds (mesh_table.py ``ConnectionBudget``): the client is closed at once.
- ``Mesh`` is the supervised pykka shell: it starts and stops the proxy, feeds it the
  table the agent's session brings (``IngressHolder``: the last table survives a restart
  of the shell), and crashes if the loop dies so its supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

from actors.dispatcher.ingress import IngressBackend, IngressPort
from actors.log import get_logger
from actors.loop_thread import run_loop
from actors.supervised import ChildContext, SupervisedActor
from actors.worker.mesh_table import (
    CONNECT_ATTEMPTS,
    BackendChooser,
    ConnectionBudget,
    PortKey,
    listener_changes,
)
from actors.worker.mesh_udp import UdpFront
from api.enums import PortProtocol

__all__ = ["IngressHolder", "Mesh", "MeshLoopDied", "MeshProxy"]

_log = get_logger("mesh")

CONNECT_TIMEOUT: Final = 3.0
RETRY: Final = 5.0
_CHUNK: Final = 64 * 1024
_START_TIMEOUT: Final = 10.0

Table = tuple[IngressPort, ...]


class MeshLoopDied(RuntimeError):
    """The proxy's event loop ended while nobody asked it to stop."""


class IngressHolder:
    """The last table the node's sessions brought, and where to pass the next one: the
    agent calls ``set`` on its thread; the running ``Mesh`` listens (``watch``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._table: Table | None = None
        self._listener: Callable[[Table], None] | None = None

    def set(self, table: Table) -> None:
        with self._lock:
            self._table = table
            listener = self._listener
        if listener is not None:
            listener(table)

    def watch(self, listener: Callable[[Table], None] | None) -> Table | None:
        """Call ``listener`` with each table from now on (None: stop); the current one."""
        with self._lock:
            self._listener = listener
            return self._table


@dataclass
class _Listener:
    server: asyncio.AbstractServer | UdpFront | None  # None: not bound (yet)
    backends: tuple[IngressBackend, ...]


class MeshProxy:
    def __init__(self, host: str, on_exit: Callable[[BaseException | None], None]) -> None:
        self.host = host
        self._on_exit = on_exit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._ports: dict[PortKey, _Listener] = {}
        self._chooser = BackendChooser()
        self._budget = ConnectionBudget()
        self._tasks: set[asyncio.Future[None]] = set()  # connections and binds
        self._retry: asyncio.TimerHandle | None = None
        self._bound: tuple[PortKey, ...] = ()  # what ``listening`` answers other threads

    # -- from the owner's thread -----------------------------------------------------------
    def start(self) -> None:
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="mesh-proxy", daemon=True
        )
        self._thread.start()
        started.result(_START_TIMEOUT)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        loop, thread = self._loop, self._thread
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def apply(self, table: Table) -> None:
        """Listen as ``table`` says (any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._apply, table)

    def listening(self, protocol: PortProtocol = PortProtocol.TCP) -> list[int]:
        """The ports of ``protocol`` bound now (for tests and logs; a snapshot)."""
        return [port for proto, port in self._bound if proto is protocol]

    # -- on the loop thread ----------------------------------------------------------------
    def _run(self, started: Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.call_soon(started.set_result, None)
        run_loop(
            loop,
            loop.run_forever,
            self._close_all,
            started,
            lambda: MeshLoopDied("the mesh loop ended at start"),
            self._ended,
        )

    def _ended(self, error: BaseException | None) -> None:
        if not self._stopping:
            self._on_exit(error)

    async def _close_all(self) -> None:
        for port in list(self._ports):
            self._close(port)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _apply(self, table: Table) -> None:
        changes = listener_changes(list(self._ports), table)
        for key in changes.close:
            self._close(key)
            _log.info("mesh.port.closed", port=key[1], protocol=key[0].value)
        for port, backends in changes.backends.items():
            entry = self._ports.get(port)
            if entry is None:
                self._ports[port] = _Listener(None, backends)
            else:
                entry.backends = backends
        if changes.open:
            self._spawn(self._bind(changes.open))

    def _close(self, port: PortKey) -> None:
        entry = self._ports.pop(port, None)
        self._chooser.forget_port(port)
        if entry is not None and entry.server is not None:
            entry.server.close()
        self._note_bound()

    def _note_bound(self) -> None:
        self._bound = tuple(sorted(p for p, e in self._ports.items() if e.server is not None))

    async def _listen(self, key: PortKey, entry: _Listener) -> asyncio.AbstractServer | UdpFront:
        protocol, port = key
        if protocol is PortProtocol.TCP:
            return await asyncio.start_server(
                functools.partial(self._accept, key), self.host, port, reuse_address=True
            )
        front = UdpFront(key, lambda: entry.backends, self._chooser, self._budget, self._spawn)
        await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: front, local_addr=(self.host, port)
        )
        return front

    async def _bind(self, ports: tuple[PortKey, ...]) -> None:
        failed = False
        for key in ports:
            entry = self._ports.get(key)
            if entry is None or entry.server is not None:
                continue  # dropped meanwhile, or bound by an earlier try
            address = f"{self.host}:{key[1]}/{key[0].value}"
            try:
                entry.server = await self._listen(key, entry)
            except OSError as exc:
                failed = True
                _log.warning(
                    "mesh.port.listen_failed", address=address, error=exc.strerror or str(exc)
                )
                continue
            if self._ports.get(key) is not entry:  # dropped while binding
                entry.server.close()
                continue
            _log.info("mesh.port.listening", address=address)
        self._note_bound()
        if failed and self._retry is None:
            self._retry = asyncio.get_running_loop().call_later(RETRY, self._rebind)

    def _rebind(self) -> None:
        self._retry = None
        unbound = tuple(p for p, e in self._ports.items() if e.server is None)
        if unbound:
            self._spawn(self._bind(unbound))

    def _accept(
        self, port: PortKey, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        entry = self._ports.get(port)
        if entry is None or not self._budget.take(port):
            writer.close()
            return
        self._spawn(self._forward(port, entry, reader, writer))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the loop, held until it ends (and cancelled at stop)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward(
        self,
        port: PortKey,
        entry: _Listener,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        try:
            connected = await self._connect(port, entry)
            if connected is None:
                return
            backend, (up_reader, up_writer) = connected
            self._chooser.opened(backend)
            try:
                await asyncio.gather(
                    _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
                )
            finally:
                self._chooser.closed(backend)
                up_writer.close()
        finally:
            self._budget.give(port)
            writer.close()

    async def _connect(
        self, port: PortKey, entry: _Listener
    ) -> tuple[IngressBackend, tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None:
        tried: list[IngressBackend] = []
        for _ in range(CONNECT_ATTEMPTS):
            backend = self._chooser.choose(port, entry.backends, tried)
            if backend is None:
                break
            try:
                streams = await asyncio.wait_for(
                    asyncio.open_connection(backend.addr, backend.port), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError) as exc:
                tried.append(backend)
                _log.info(
                    "mesh.backend.unreachable",
                    port=port[1],
                    backend=f"{backend.addr}:{backend.port}",
                    error=str(exc) or type(exc).__name__,
                )
                continue
            return backend, streams
        _log.info("mesh.connection.dropped", port=port[1], reason="no backend answered")
        return None


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until the end of ``source``, then half-close ``sink``."""
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (OSError, RuntimeError):
        sink.close()  # one side broke: end both


class Mesh(SupervisedActor):
    def __init__(self, ctx: ChildContext | None, host: str, holder: IngressHolder) -> None:
        super().__init__(ctx)
        self._host = host
        self._holder = holder
        self._proxy: MeshProxy | None = None

    def on_start(self) -> None:
        proxy = MeshProxy(self._host, self._loop_died)
        proxy.start()
        self._proxy = proxy
        current = self._holder.watch(proxy.apply)
        if current is not None:
            proxy.apply(current)
        _log.info("mesh.started", address=self._host)

    def on_stop(self) -> None:
        self._holder.watch(None)
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            proxy.stop()
        _log.info("mesh.stopped")

    def listening(self, protocol: PortProtocol = PortProtocol.TCP) -> list[int]:
        return self._proxy.listening(protocol) if self._proxy is not None else []

    def _loop_died(self, error: BaseException | None) -> None:
        _log.error("mesh.loop.died", error=repr(error))
        with contextlib.suppress(Exception):
            self.actor_ref.tell(_Died(error))

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Died):
            raise MeshLoopDied(f"the mesh's loop ended: {message.error!r}")
        return super().on_receive(message)


@dataclass(frozen=True)
class _Died:
    error: BaseException | None
