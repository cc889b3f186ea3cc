"""One aiohttp Application served on its own event loop in its own thread.

Rules:
- ``start`` returns once the site listens, or raises `HttpStartError` naming the address
  and the reason (a taken port, a missing directory); nothing is left running then.
- The loop thread belongs to the server: handlers run on it and must not block it (blocking
  work goes through ``run_blocking``: a pool of ``workers`` threads).
- ``stop`` closes the site, lets in-flight requests finish for ``grace`` seconds, cancels
  what is left (streams), and joins the thread; it is safe to call twice or after a failed
  start. A unix socket file is removed on stop.
- ``on_exit`` is called (from the loop thread) if the loop ends while nobody asked it to
  stop, so the owning actor can crash and be restarted by its supervisor.
- A peer cannot take the process's descriptors: at most ``max_connections`` connections
  are open at once (one more is closed as soon as it is accepted), and one that has no
  request under way for ``idle_timeout`` seconds, its first included, is closed.
  aiohttp alone kept a connection that never sent a byte for an hour, and any number of
  them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import stat
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

from actors.http.address import HttpAddress
from actors.loop_thread import run_loop

__all__ = ["HttpServer", "HttpStartError"]

T = TypeVar("T")

START_TIMEOUT = 15.0
MAX_CONNECTIONS = 256
IDLE_TIMEOUT = 75.0  # seconds (aiohttp's default before 3.12, and nginx's)
BACKLOG = 128


class _Gate(asyncio.Protocol):
    """One connection, handed to aiohttp's handler once it is made, unless ``limit`` are
    open already: then it is closed at once. (Counted when made, not when the factory is
    called: a burst of accepts creates many protocols before the first is made.)"""

    def __init__(self, server: web.Server, limit: int) -> None:
        self._server = server
        self._limit = limit
        self._inner: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self._server.connections) >= self._limit:
            transport.close()
            return
        self._inner = self._server()
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class HttpStartError(OSError):
    """The server could not listen; the message names the address and the reason."""


class HttpServer:
    def __init__(
        self,
        name: str,
        address: HttpAddress,
        app: web.Application,
        *,
        ssl_context: ssl.SSLContext | None = None,
        on_exit: Callable[[BaseException | None], None] | None = None,
        grace: float = 2.0,
        workers: int = 16,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.name = name
        self.address = address
        self.app = app
        self._ssl = ssl_context
        self._on_exit = on_exit
        self._grace = grace
        self._workers = workers
        self._max_connections = max_connections
        self._idle_timeout = idle_timeout
        self._listener: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stop_event: asyncio.Event | None = None
        self._stopping = False
        self._bound: str = ""

    # -- from the owner's thread ----------------------------------------------------------
    def start(self) -> None:
        started: Future[str] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name=f"http-{self.name}", daemon=True
        )
        self._thread.start()
        try:
            self._bound = started.result(timeout=START_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        loop, stop_event, thread = self._loop, self._stop_event, self._thread
        if loop is not None and stop_event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop_event.set)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def bound(self) -> str:
        """Where it listens: ``unix:///PATH`` or ``tcp://HOST:PORT`` with the real port."""
        return self._bound

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """From a handler: ``await server.run_blocking(fn, ...)`` runs ``fn`` off the loop."""
        assert self._loop is not None
        return self._loop.run_in_executor(None, fn, *args)

    # -- on the loop thread ---------------------------------------------------------------
    def _run(self, started: Future[str]) -> None:
        loop = asyncio.new_event_loop()
        # blocking work of the handlers (run_blocking): bounded, named after the server
        loop.set_default_executor(
            ThreadPoolExecutor(self._workers, thread_name_prefix=f"http-{self.name}-work")
        )
        self._loop = loop
        run_loop(
            loop,
            lambda: loop.run_until_complete(self._serve(started)),
            loop.shutdown_default_executor,
            started,
            lambda: HttpStartError(f"{self.name}: the loop ended"),
            self._ended,
        )

    def _ended(self, error: BaseException | None) -> None:
        if not self._stopping and self._on_exit is not None:
            self._on_exit(error)

    async def _serve(self, started: Future[str]) -> None:
        self._stop_event = asyncio.Event()
        runner = web.AppRunner(
            self.app,
            handle_signals=False,
            shutdown_timeout=self._grace,
            keepalive_timeout=self._idle_timeout,
        )
        self._runner = runner
        await runner.setup()
        bound = ""
        try:
            try:
                bound = await self._listen(runner)
            except OSError as exc:
                raise HttpStartError(
                    f"{self.name}: cannot listen on {self.address.url()}: {exc.strerror or exc}"
                ) from None
            started.set_result(bound)
            if self._stopping:
                return
            await self._stop_event.wait()
        finally:
            listener, self._listener = self._listener, None
            if listener is not None:  # no new connection; runner.cleanup ends the others
                listener.close()
            await runner.cleanup()
            if self.address.is_unix and bound:  # only a socket file this server made
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.address.path)

    async def _listen(self, runner: web.AppRunner) -> str:
        address = self.address
        assert runner.server is not None
        server, limit = runner.server, self._max_connections

        def factory() -> asyncio.Protocol:
            return _Gate(server, limit)

        loop = asyncio.get_running_loop()
        if address.is_unix:
            if os.path.lexists(address.path) and not _is_socket(address.path):
                raise FileExistsError(17, "the path exists and is not a socket")
            _unlink_stale_socket(address.path)
            # created 0600 from the start: no window in which others may connect
            old_umask = os.umask(0o177)
            try:
                self._listener = await loop.create_unix_server(
                    factory, address.path, ssl=self._ssl, backlog=BACKLOG
                )
            finally:
                os.umask(old_umask)
            return address.url()
        self._listener = await loop.create_server(
            factory,
            address.host or None,
            address.port,
            ssl=self._ssl,
            backlog=BACKLOG,
            reuse_address=True,
        )
        sockets = self._listener.sockets or ()
        port = sockets[0].getsockname()[1] if sockets else address.port  # the real one for 0
        return HttpAddress(host=address.host, port=port).url()


def _is_socket(path: str) -> bool:
    return stat.S_ISSOCK(os.lstat(path).st_mode)


def _unlink_stale_socket(path: str) -> None:
    """Remove a socket file nobody listens on (left by a killed node); refuse a live one."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    finally:
        probe.close()
    raise OSError(98, "another process listens on this socket")
