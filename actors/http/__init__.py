"""The one aiohttp server shell: an Application on a unix or TCP site, on its own event
loop thread, inside a supervised pykka actor (the Engine API and the web view use it)."""

from actors.http.actor import AppFactory, HttpLoopDied, HttpServerActor, http_child
from actors.http.address import LOOPBACK, HttpAddress, is_loopback, parse_http_address
from actors.http.server import HttpServer, HttpStartError

__all__ = [
    "LOOPBACK",
    "AppFactory",
    "HttpAddress",
    "HttpLoopDied",
    "HttpServer",
    "HttpServerActor",
    "HttpStartError",
    "http_child",
    "is_loopback",
    "parse_http_address",
]
