"""The Engine API's aiohttp Application: routes, Docker's headers and error bodies.

Rules:
- Every route answers with and without a version prefix (``/v1.50/services``,
  ``/services``); a version the endpoint does not speak is refused (versions.py).
- Every failure is Docker's ``{"message": ...}`` with its status: a refusal of the control
  API keeps its words (errors.py); a path this endpoint does not serve answers 501 naming
  it; an unexpected error answers 500 and is logged, never a dropped connection.
- Requests and bodies are bounded (`MAX_BODY`): a spec, a secret, a config fit in it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from actors.engine_api.control import ControlCaller
from actors.engine_api.errors import EngineError, bad_request
from actors.engine_api.release import live_users
from actors.engine_api.versions import API_VERSION, split_version
from actors.http import HttpServer
from actors.log import get_logger
from api.version import VERSION

__all__ = [
    "ENGINE",
    "MAX_BODY",
    "Engine",
    "engine_app",
    "json_body",
    "remove_when_released",
    "reply",
    "request_version",
    "route",
]

MAX_BODY: Final = 2 * 1024 * 1024  # bytes; the control API's own budgets are smaller
SERVER_HEADER: Final = f"swarmnode/{VERSION} (linux)"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_log = get_logger("engine_api")


@dataclass
class Engine:
    """What every handler reaches: the control API, the server (``run_blocking``), this
    node's identity (from the control API's ``version``), and the open streams."""

    control: ControlCaller
    server: HttpServer
    max_streams: int = 32
    streams: int = 0
    node: dict[str, Any] = field(default_factory=dict)

    async def node_identity(self) -> dict[str, Any]:
        """``{node_id, role, version}`` of the node this endpoint runs on."""
        if not self.node:
            self.node = await self.control.call("version")
        return self.node

    def open_stream(self) -> None:
        if self.streams >= self.max_streams:
            raise EngineError(503, f"too many open streams (at most {self.max_streams})")
        self.streams += 1

    def close_stream(self) -> None:
        self.streams -= 1


ENGINE: Final = web.AppKey("engine", Engine)

RELEASE_WAIT: Final = 60.0  # seconds a delete waits for services being removed to let go
RELEASE_POLL: Final = 0.2


async def remove_when_released(engine: Engine, kind: str, ref: str) -> None:
    """``control.{kind}.rm`` of ``ref``; while it is refused ``in_use`` only by services
    being removed, wait for them (release.py), up to `RELEASE_WAIT` seconds."""
    control = engine.control
    deadline = asyncio.get_running_loop().time() + RELEASE_WAIT
    while True:
        try:
            await control.call(f"control.{kind}.rm", {f"{kind}s": [ref]})
            return
        except EngineError as err:
            if err.code != "in_use" or asyncio.get_running_loop().time() > deadline:
                raise
            found = await control.call(f"control.{kind}.inspect", {kind: ref})
            listed = await control.listing(
                "control.service.ls", {"all": True, "full": True}, "services"
            )
            if live_users(kind, str(found[kind]["id"]), listed["services"]):
                raise
        await asyncio.sleep(RELEASE_POLL)


def reply(value: Any, status: int = 200) -> web.Response:
    # exactly "application/json", no charset: the docker CLI reads {"message"} only then
    return web.Response(
        body=json.dumps(value).encode(), status=status, headers={"Content-Type": "application/json"}
    )


async def json_body(request: web.Request, what: str) -> Any:
    """The request's JSON body; 400 naming ``what`` when it is not JSON."""
    raw = await request.read()
    if not raw:
        raise bad_request(f"{what}: the request has no body")
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request(f"{what}: the body is not JSON") from None


def request_version(request: web.Request) -> str:
    """The API version the request speaks (its path's prefix, or `API_VERSION`)."""
    return split_version(request.path)[0]


def route(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """``path`` with and without a ``/vX.Y`` prefix."""
    app.router.add_route(method, path, handler)
    app.router.add_route(method, r"/v{version:\d+\.\d+}" + path, handler)


@web.middleware
async def _docker_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        split_version(request.path)
        response = await handler(request)
    except EngineError as err:
        response = reply(err.body(), err.status)
    except web.HTTPNotFound:
        response = reply(
            {
                "message": f"{request.method} {request.path} is not supported by swarmnode's "
                "Engine API (it serves the swarm part of the Docker Engine API)"
            },
            501,
        )
    except web.HTTPMethodNotAllowed:
        response = reply({"message": f"{request.method} is not allowed on {request.path}"}, 405)
    except web.HTTPRequestEntityTooLarge:
        response = reply({"message": f"request body larger than {MAX_BODY} bytes"}, 413)
    except web.HTTPException:
        raise
    except Exception as exc:
        _log.error("engine_api.request.failed", path=request.path, exc_info=exc)
        response = reply({"message": f"internal error: {type(exc).__name__}: {exc}"}, 500)
    if not response.prepared:
        response.headers["Api-Version"] = API_VERSION
        response.headers["Docker-Experimental"] = "false"
        response.headers["Ostype"] = "linux"
        response.headers["Server"] = SERVER_HEADER
    return response


def engine_app(
    control: ControlCaller,
    server: HttpServer,
    resources: Sequence[Callable[[web.Application], None]],
) -> web.Application:
    """The Application the ``engine`` HTTP child serves: each of ``resources`` adds its
    routes (child.py lists them)."""
    app = web.Application(middlewares=[_docker_middleware], client_max_size=MAX_BODY)
    app[ENGINE] = Engine(control, server)
    for add_routes in resources:
        add_routes(app)

    async def opened(_app: web.Application) -> None:
        control.open()

    async def closed(_app: web.Application) -> None:
        control.close()

    app.on_startup.append(opened)
    app.on_cleanup.append(closed)
    return app
