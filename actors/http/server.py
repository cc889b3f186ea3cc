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
    ) -> None:
        self.name = name
        self.address = address
        self.app = app
        self._ssl = ssl_context
        self._on_exit = on_exit
        self._grace = grace
        self._workers = workers
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
        runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=self._grace)
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
            await runner.cleanup()
            if self.address.is_unix and bound:  # only a socket file this server made
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.address.path)

    async def _listen(self, runner: web.AppRunner) -> str:
        address = self.address
        if address.is_unix:
            if os.path.lexists(address.path) and not _is_socket(address.path):
                raise FileExistsError(17, "the path exists and is not a socket")
            _unlink_stale_socket(address.path)
            # created 0600 from the start: no window in which others may connect
            old_umask = os.umask(0o177)
            try:
                site: web.BaseSite = web.UnixSite(runner, address.path, ssl_context=self._ssl)
                await site.start()
            finally:
                os.umask(old_umask)
            return address.url()
        site = web.TCPSite(runner, address.host, address.port, ssl_context=self._ssl)
        await site.start()
        server = site._server  # the real port when 0 was asked for
        sockets = getattr(server, "sockets", None) or ()
        port = sockets[0].getsockname()[1] if sockets else address.port
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
