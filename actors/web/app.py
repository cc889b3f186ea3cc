"""The web view's aiohttp Application (served by the shared shell, actors/http/).

Routes:
    GET  /                              the page (actors/web/static/: no CDN, nothing external)
    GET  /static/{name}                 its script and style sheet
    GET  /api/info                      ``{"writes": bool}``: whether writes exist here
    GET  /api/state                     the whole document (actors/web/board.py)
    GET  /api/stream                    server-sent events: ``state`` (a whole document),
                                        then ``patch`` per batch of store changes, and
                                        ``quorum`` when this manager finds or loses its
                                        Raft leader
    GET  /api/tasks/{task}/logs         a task's log tail (`LogTail`)
    POST /api/services/{service}/scale  ``{"replicas": N}``: the control API's scale, only
                                        with the bearer token (actors/web/auth.py)

Every answer carries a strict Content-Security-Policy (the page's own script and style
only) and ``no-store``; a request whose ``Host`` fails the DNS-rebinding guard gets 421.
Writes go through the control API's own handler (`ServiceControl.scale`), so its checks
and errors are the ones ``swarmctl service scale`` gets.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any, Final, Protocol

from aiohttp import web

from actors.control.errors import ControlCode, ControlError, error_of
from actors.control.services import ServiceControl
from actors.http.server import HttpServer
from actors.web.auth import WriteAuth, host_allowed
from actors.web.feed import FeedBusy, LiveFeed, Message

__all__ = ["LOG_TAIL_LINES", "LogTail", "sse_frame", "web_app"]

KEEPALIVE: Final = 15.0  # seconds between comments on an idle stream (proxies drop silence)
LOG_TAIL_LINES: Final = 100
MAX_BODY: Final = 4096  # a scale request is a few bytes

STATIC: Final = {
    "web.js": "application/javascript",
    "web.css": "text/css",
}
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
STATUS_OF_CODE: Final[Mapping[str, int]] = {
    ControlCode.NOT_FOUND: 404,
    ControlCode.AMBIGUOUS: 400,
    ControlCode.INVALID_ARGUMENT: 400,
    ControlCode.INVALID_SPEC: 400,
    ControlCode.CONFLICT: 409,
    ControlCode.NOT_LEADER: 503,
    ControlCode.UNAVAILABLE: 503,
    ControlCode.TIMEOUT: 504,
}


class LogTail(Protocol):
    """A task's last lines: ``{"available": bool, "lines": [{"ts", "stream", "line"}],
    "notices": [...], "message": str}`` (blocking; run off the loop)."""

    def tail(self, task_id: str, lines: int) -> dict[str, Any]: ...


def _asset(name: str) -> bytes:
    return resources.files("actors.web").joinpath("static", name).read_bytes()


def sse_frame(message: Message) -> bytes:
    """One server-sent event; JSON on one ``data:`` line (json.dumps never writes a newline)."""
    data = json.dumps(message.data, separators=(",", ":"))
    return f"event: {message.kind}\nid: {message.version}\ndata: {data}\n\n".encode()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def web_app(
    server: HttpServer,
    feed: LiveFeed,
    *,
    auth: WriteAuth,
    scale: ServiceControl,
    logs: LogTail,
    keepalive: float = KEEPALIVE,
) -> web.Application:
    bound_host = server.address.host

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not server.address.is_unix and not host_allowed(request.host, bound_host):
            return _error(421, "this web view answers requests for a loopback host name only")
        response = await handler(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    page = _asset("index.html")
    assets = {name: _asset(name) for name in STATIC}

    async def index(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=page, content_type="text/html", charset="utf-8")

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in assets:
            return _error(404, f"no such file: {name}")
        return web.Response(body=assets[name], content_type=STATIC[name], charset="utf-8")

    async def info(_request: web.Request) -> web.StreamResponse:
        return web.json_response({"writes": auth.writes})

    async def state(_request: web.Request) -> web.StreamResponse:
        return web.json_response(feed.document())

    async def stream(request: web.Request) -> web.StreamResponse:
        try:
            subscription = feed.subscribe()
        except FeedBusy as busy:
            return _error(503, str(busy))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        try:
            await response.prepare(request)
            await response.write(b"retry: 1000\n\n")
            while True:
                message = await subscription.next(keepalive)
                if message is not None:
                    await response.write(sse_frame(message))
                elif subscription.closed or subscription.overflowed:
                    break  # the page reconnects and starts from a whole document
                else:
                    await response.write(b": keepalive\n\n")
        except (ConnectionResetError, ConnectionError):
            pass  # the page went away
        finally:
            feed.unsubscribe(subscription)
        return response

    async def log_tail(request: web.Request) -> web.StreamResponse:
        task_id = request.match_info["task"]
        if not task_id.isalnum() or len(task_id) > 64:
            return _error(400, f"not a task id: {task_id!r}")
        return web.json_response(await server.run_blocking(logs.tail, task_id, LOG_TAIL_LINES))

    async def scale_service(request: web.Request) -> web.StreamResponse:
        refusal = auth.refusal(request.headers.get("Authorization"))
        if refusal is not None:
            status, reason = refusal
            response = _error(status, reason)
            if status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="swarmnode"'
            return response
        try:
            body = json.loads(await request.read() or b"null")  # 413 past client_max_size
        except ValueError:
            return _error(400, 'the body must be JSON: {"replicas": N}')
        replicas = body.get("replicas") if isinstance(body, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            return _error(400, 'the body must be JSON: {"replicas": N} with N an integer')
        ref = request.match_info["service"]
        try:
            result = await server.run_blocking(scale.scale, {"service": ref, "replicas": replicas})
        except Exception as exc:
            err = error_of(exc)
            if err is None:
                raise
            return _control_error(err)
        return web.json_response(result)

    app = web.Application(middlewares=[guard], client_max_size=MAX_BODY)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/info", info)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/stream", stream)
    app.router.add_get("/api/tasks/{task}/logs", log_tail)
    app.router.add_post("/api/services/{service}/scale", scale_service)

    async def on_startup(_app: web.Application) -> None:
        feed.start()

    async def on_shutdown(_app: web.Application) -> None:
        feed.stop()  # ends the streams, so stopping waits for no page

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return app


def _control_error(err: ControlError) -> web.Response:
    return _error(STATUS_OF_CODE.get(err.code, 500), err.message)
