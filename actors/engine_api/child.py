"""The ``engine`` child: the Engine API served by the shared HTTP shell (actors/http/).

Rules:
- ``unix:///PATH``: the socket file is 0600, as the control socket: only the node's user
  reaches it, like Docker's own socket.
- ``tcp://HOST:PORT`` on a loopback address may go without TLS; on any other address it
  needs ``--engine-api-tls`` (tls.py: mutual TLS under the cluster CA), or the node
  refuses to start (`check_engine_address`): the Engine API can do anything the control
  API can.
"""

from __future__ import annotations

import ssl
from typing import Final

from aiohttp import web

from actors.engine_api import files, logs, networks, nodes, services, system
from actors.engine_api.app import engine_app
from actors.engine_api.control import ControlCaller
from actors.http import HttpAddress, HttpServer, http_child, parse_http_address
from actors.supervisor import ChildContext, ChildSpec

__all__ = ["ENGINE_RESOURCES", "check_engine_address", "engine_api_child"]

# the routes the Engine API serves, each resource's own (engine_app builds the app of them)
ENGINE_RESOURCES: Final = (
    system.add_routes,
    nodes.add_routes,
    services.add_routes,
    files.add_routes,
    networks.add_routes,
    logs.add_routes,
)


def check_engine_address(text: str, tls: bool) -> HttpAddress:
    """``--engine-api``'s value, checked; ValueError names what is wrong."""
    address = parse_http_address(text, flag="--engine-api")
    if not address.is_unix and not address.is_loopback() and not tls:
        raise ValueError(
            f"--engine-api {text}: a non-loopback TCP address needs --engine-api-tls "
            "(certificates from the cluster CA): the Engine API controls the whole cluster"
        )
    return address


def engine_api_child(
    address: HttpAddress,
    control_address: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    stop_timeout: float = 10.0,
) -> ChildSpec:
    """Serve the Engine API on ``address``, calling the control API at ``control_address``
    (this manager's own control socket, ``ipc://PATH``)."""

    def build(_ctx: ChildContext | None, server: HttpServer) -> web.Application:
        return engine_app(ControlCaller(control_address), server, ENGINE_RESOURCES)

    return http_child("engine", address, build, ssl_context=ssl_context, stop_timeout=stop_timeout)
