"""`HttpServerActor`: the supervised pykka shell around one `HttpServer`.

Rules:
- The Application is built in ``on_start`` by the child's ``app_factory(ctx, server)``, so
  a restart builds a fresh one (an aiohttp Application can be run only once); the factory
  gets the server to hand its handlers ``run_blocking``.
- ``on_start`` binds: a start failure (a taken port, a bad path) fails the child's start
  with `HttpStartError` naming the address. ``on_stop`` stops the loop and joins it.
- If the loop dies on its own, the actor stops with that error so its supervisor restarts
  it with backoff, as any crashed child.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import pykka
from aiohttp import web

from actors.http.address import HttpAddress
from actors.http.server import HttpServer
from actors.log import get_logger
from actors.supervisor import ChildContext, ChildSpec, SupervisedActor

__all__ = ["AppFactory", "HttpLoopDied", "HttpServerActor", "http_child"]

AppFactory = Callable[[ChildContext | None, HttpServer], web.Application]

_log = get_logger("http")


class HttpLoopDied(RuntimeError):
    """The server's event loop ended while nobody asked it to stop."""


class HttpServerActor(SupervisedActor):
    def __init__(
        self,
        ctx: ChildContext | None,
        address: HttpAddress,
        app_factory: AppFactory,
        *,
        ssl_context: ssl.SSLContext | None = None,
        grace: float = 2.0,
    ) -> None:
        super().__init__(ctx)
        self._address = address
        self._app_factory = app_factory
        self._ssl = ssl_context
        self._grace = grace
        self._server: HttpServer | None = None

    def on_start(self) -> None:
        server = HttpServer(
            self.child_name,
            self._address,
            web.Application(),
            ssl_context=self._ssl,
            on_exit=self._loop_died,
            grace=self._grace,
        )
        server.app = self._app_factory(self.ctx, server)
        server.start()
        self._server = server
        tls = self._ssl is not None
        _log.info("http.listening", child=self.child_name, address=server.bound(), tls=tls)

    def on_stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            _log.info("http.stopped", child=self.child_name)

    def bound(self) -> str:
        """``unix:///PATH`` or ``tcp://HOST:PORT`` with the port the OS gave."""
        return self._server.bound() if self._server is not None else ""

    def _loop_died(self, error: BaseException | None) -> None:
        # from the loop thread: make the actor fail on its own thread, so the supervisor
        # sees a crash and restarts it
        self.actor_ref.tell(_LoopDied(error))

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _LoopDied):
            raise HttpLoopDied(f"{self.child_name}: the HTTP loop ended: {message.error!r}")
        return super().on_receive(message)


class _LoopDied:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def http_child(
    name: str,
    address: HttpAddress,
    app_factory: AppFactory,
    *,
    ssl_context: ssl.SSLContext | None = None,
    stop_timeout: float = 10.0,
) -> ChildSpec:
    """A supervisor child serving ``app_factory``'s Application on ``address``."""

    def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
        return HttpServerActor.start(ctx, address, app_factory, ssl_context=ssl_context)

    return ChildSpec(name, start, stop_timeout=stop_timeout)
