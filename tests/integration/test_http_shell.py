"""The one aiohttp server shell (actors/http/): real sockets, a real event loop thread."""

from __future__ import annotations

import http.client
import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from actors.http import HttpAddress, HttpServer, HttpServerActor, HttpStartError, http_child
from actors.supervisor import ChildContext, Supervisor
from tests.support.idle_sockets import closed_by_peer
from tests.support.waiting import wait_for


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(self._path)
        self.sock = sock


def _app(_ctx: ChildContext | None, server: HttpServer) -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        # blocking work goes off the loop
        name = await server.run_blocking(lambda: threading.current_thread().name)
        return web.json_response({"hello": request.match_info["who"], "worker": name})

    app = web.Application()
    app.router.add_get("/hello/{who}", hello)
    return app


def _serving(address: HttpAddress) -> Any:
    """A started server actor (``start`` returns before ``on_start`` ran: ask once)."""
    ref: Any = HttpServerActor.start(None, address, _app)
    ref.proxy().bound().get(timeout=20)
    return ref


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def test_serves_on_tcp_with_an_os_port_and_stops_cleanly() -> None:
    ref = _serving(HttpAddress(host="127.0.0.1", port=0))
    try:
        bound = ref.proxy().bound().get(timeout=10)
        port = int(bound.rsplit(":", 1)[1])
        assert port > 0
        status, body = _get(http.client.HTTPConnection("127.0.0.1", port, timeout=10), "/hello/x")
        assert status == 200 and b'"hello": "x"' in body
        assert b"-work_" in body.split(b'"worker"')[1]  # on the pool, not the loop thread
    finally:
        ref.stop(timeout=10)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    assert not [t for t in threading.enumerate() if t.name == "http-HttpServerActor"]


def test_serves_on_a_unix_socket_0600_and_removes_it(tmp_path: Path) -> None:
    path = str(tmp_path / "engine.sock")
    ref = _serving(HttpAddress(path=path))
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        status, _body = _get(_UnixConnection(path), "/hello/y")
        assert status == 200
    finally:
        ref.stop(timeout=10)
    assert not os.path.exists(path)


def _failed_start(address: HttpAddress) -> BaseException:
    """Start the shell as a supervised child; the error its supervisor escalates."""
    errors: list[BaseException] = []
    Supervisor.start(
        None, [http_child("engine", address, _app)], on_escalate=errors.append, watch_interval=None
    )
    wait_for(lambda: errors, "the start failure escalated")
    return errors[0]


def test_a_taken_port_is_a_clear_start_error() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        error = _failed_start(HttpAddress(host="127.0.0.1", port=port))
        assert isinstance(error, HttpStartError)
        assert f"engine: cannot listen on tcp://127.0.0.1:{port}" in str(error)
    finally:
        taken.close()


def test_a_live_unix_socket_is_not_stolen(tmp_path: Path) -> None:
    path = str(tmp_path / "live.sock")
    first = _serving(HttpAddress(path=path))
    try:
        error = _failed_start(HttpAddress(path=path))
        assert isinstance(error, HttpStartError)
        assert "another process listens" in str(error)
        assert _get(_UnixConnection(path), "/hello/z")[0] == 200
    finally:
        first.stop(timeout=10)


def test_a_stale_unix_socket_file_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens: a node killed before it cleaned up
    ref = _serving(HttpAddress(path=path))
    try:
        assert _get(_UnixConnection(path), "/hello/w")[0] == 200
    finally:
        ref.stop(timeout=10)


@pytest.mark.parametrize("unix", [False, True])
def test_a_peer_cannot_hold_connections_past_the_bound_nor_idle_for_ever(
    tmp_path: Path, unix: bool
) -> None:
    """Connections that never send a byte used to stay open an hour each, any number of
    them (a descriptor of the node each): past ``max_connections`` they are closed at
    once, the others after ``idle_timeout``, and a request gets through after that."""
    address = (
        HttpAddress(path=str(tmp_path / "s.sock"))
        if unix
        else HttpAddress(host="127.0.0.1", port=0)
    )
    server = HttpServer("bounded", address, web.Application(), max_connections=4, idle_timeout=1.0)
    server.app = _app(None, server)
    server.start()
    try:

        def connect() -> socket.socket:
            if unix:
                conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conn.connect(address.path)
            else:
                conn = socket.create_connection(("127.0.0.1", int(server.bound().rsplit(":")[-1])))
            conn.setblocking(False)
            return conn

        idle = [connect() for _ in range(10)]
        try:
            wait_for(lambda: closed_by_peer(idle) >= 6, "the connections past the bound closed", 10)
            wait_for(lambda: closed_by_peer(idle) == 10, "the idle ones closed", 30)
        finally:
            for conn in idle:
                conn.close()
        conn = (
            _UnixConnection(address.path)
            if unix
            else http.client.HTTPConnection("127.0.0.1", int(server.bound().rsplit(":")[-1]))
        )
        assert _get(conn, "/hello/again")[0] == 200
    finally:
        server.stop()
