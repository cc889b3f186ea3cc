"""The ``web`` child of a manager's tree (``swarm-node --web-addr HOST:PORT``).

Served by the shared HTTP shell (actors/http/) on a TCP address: ``PORT`` or ``:PORT``
alone binds the loopback address; any other host only when written out, and the node then
logs that other hosts can read the view (and, with a web token, that the token crosses
the network in clear: put the view behind TLS or keep it on loopback). A taken port fails
the node's start with the address named, as ``--metrics-addr`` does.
"""

from __future__ import annotations

from aiohttp import web

from actors.control.services import ServiceControl
from actors.http import HttpAddress, HttpServer, http_child, parse_http_address
from actors.log import get_logger
from actors.store import MemoryStore
from actors.supervisor import ChildContext, ChildSpec
from actors.web.app import LogTail, web_app
from actors.web.auth import WriteAuth
from actors.web.feed import LiveFeed

__all__ = ["parse_web_addr", "web_child"]

FLAG = "--web-addr"

_log = get_logger("web")


def parse_web_addr(text: str) -> HttpAddress:
    """``HOST:PORT``, ``[IPV6]:PORT``, ``:PORT`` or ``PORT`` (loopback); ValueError names
    the flag. A browser needs TCP: a unix socket is refused."""
    address = parse_http_address(text, flag=FLAG)
    if address.is_unix:
        raise ValueError(f"{FLAG} wants HOST:PORT (a browser cannot open a unix socket)")
    return address


def web_child(
    addr: str,
    store: MemoryStore,
    *,
    token: str | None,
    logs: LogTail,
    stop_timeout: float = 5.0,
) -> ChildSpec:
    address = parse_web_addr(addr)
    auth = WriteAuth(token)

    def factory(_ctx: ChildContext | None, server: HttpServer) -> web.Application:
        if not address.is_loopback():
            _log.warning(
                "web.exposed",
                address=address.url(),
                reason=f"{FLAG} names a non-loopback address: other hosts can read the view",
                writes_in_clear=auth.writes,
            )
        return web_app(server, LiveFeed(store), auth=auth, scale=ServiceControl(store), logs=logs)

    return http_child("web", address, factory, stop_timeout=stop_timeout)
