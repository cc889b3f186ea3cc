"""The HTTP server behind ``--metrics-addr``: ``prometheus_client``'s WSGI app on a
thread-per-connection server whose threads a peer cannot multiply.

``prometheus_client.start_http_server`` gives every accepted connection a thread that
waits for the request without a time limit, so a peer that opens connections and sends
nothing grows the node's threads without bound. Here:
- at most ``MAX_CONNECTIONS`` connections are served at once; one more is closed as soon
  as it is accepted (a scraper tries again at its next interval);
- a connection that sends nothing, or reads nothing, for ``IO_TIMEOUT`` seconds is
  closed, so idle ones give their slot back.
"""

from __future__ import annotations

import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.registry import CollectorRegistry

from actors.log import get_logger

__all__ = ["IO_TIMEOUT", "MAX_CONNECTIONS", "MetricsServer", "serve_metrics"]

MAX_CONNECTIONS: Final = 16
IO_TIMEOUT: Final = 10.0  # seconds one read or write of a connection may wait

_log = get_logger("metrics")


class _QuietHandler(WSGIRequestHandler):
    timeout = IO_TIMEOUT  # StreamRequestHandler sets it on the connection

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


class MetricsServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    max_connections = MAX_CONNECTIONS

    def server_activate(self) -> None:
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self.refused = 0  # connections closed because every slot was taken
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that timed out or went away: logged at debug, not printed."""
        _log.debug("node.metrics.connection_failed", peer=str(client_address))


def serve_metrics(host: str, port: int, registry: CollectorRegistry) -> MetricsServer:
    """A bound server for ``registry`` on ``host:port``, serving on a daemon thread until
    its ``shutdown()``; OSError when the address cannot be bound."""
    family, _, _, _, sockaddr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]

    class Server(MetricsServer):
        address_family = family

    server = make_server(
        str(sockaddr[0]), port, make_wsgi_app(registry), Server, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
