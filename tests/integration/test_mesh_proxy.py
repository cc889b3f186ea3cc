"""The routing mesh's proxy on real sockets (actors/worker/mesh.py), without Docker:
backends are plain TCP servers on 127.0.0.1. It listens on the table's ports and no
other, takes turns between backends, passes a half close on, passes over a backend that
refuses, and closes a client when no backend is left."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from actors.dispatcher.ingress import IngressBackend, IngressPort
from actors.worker.mesh import IngressHolder, Mesh, MeshProxy
from api.enums import PortProtocol
from tests.support.ports import free_port
from tests.support.waiting import wait_for

HOST = "127.0.0.1"


class _Named(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        data = self.rfile.read()  # until the client's half close
        self.wfile.write(self.server.name.encode() + b":" + data)  # type: ignore[attr-defined]


def backend(name: str) -> socketserver.ThreadingTCPServer:
    server = socketserver.ThreadingTCPServer((HOST, 0), _Named)
    server.daemon_threads = True
    server.name = name  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def proxy() -> Iterator[MeshProxy]:
    exits: list[BaseException | None] = []
    mesh = MeshProxy(HOST, exits.append)
    mesh.start()
    yield mesh
    mesh.stop()
    assert exits == []  # stopped when asked, never died


def ask(port: int, text: bytes = b"hi") -> bytes:
    with socket.create_connection((HOST, port), timeout=5.0) as conn:
        conn.sendall(text)
        conn.shutdown(socket.SHUT_WR)  # the backend reads to the end: a half close
        chunks = []
        while chunk := conn.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def entry(port: int, *servers: socketserver.TCPServer | int) -> IngressPort:
    ports = [s if isinstance(s, int) else s.server_address[1] for s in servers]
    return IngressPort(port, PortProtocol.TCP, "web", tuple(IngressBackend(HOST, p) for p in ports))


def test_connections_take_turns_between_backends(proxy: MeshProxy) -> None:
    a, b = backend("a"), backend("b")
    port = free_port()
    proxy.apply((entry(port, a, b),))
    wait_for(lambda: proxy.listening() == [port], "the mesh listening")
    answers = sorted(ask(port) for _ in range(4))
    assert answers == [b"a:hi", b"a:hi", b"b:hi", b"b:hi"]
    big = b"x" * 300_000
    assert ask(port, big) in (b"a:" + big, b"b:" + big)
    a.shutdown()
    b.shutdown()


def test_a_refusing_backend_is_passed_over_and_none_left_closes_the_client(
    proxy: MeshProxy,
) -> None:
    a = backend("a")
    dead = free_port()  # nothing listens there
    port = free_port()
    proxy.apply((entry(port, dead, a),))
    wait_for(lambda: proxy.listening() == [port], "the mesh listening")
    assert {ask(port) for _ in range(3)} == {b"a:hi"}
    proxy.apply((entry(port, dead),))
    assert wait_for(lambda: ask(port) == b"", "the client closed without an answer")
    a.shutdown()


def test_a_port_that_leaves_the_table_is_closed(proxy: MeshProxy) -> None:
    a = backend("a")
    first, second = free_port(), free_port()
    proxy.apply((entry(first, a),))
    wait_for(lambda: proxy.listening() == [first], "the first port")
    proxy.apply((entry(second, a),))
    wait_for(lambda: proxy.listening() == [second], "moved to the second port")
    with pytest.raises(ConnectionRefusedError):
        ask(first)
    assert ask(second) == b"a:hi"
    proxy.apply(())
    wait_for(lambda: proxy.listening() == [], "no port left")
    a.shutdown()


def test_a_taken_port_is_retried_and_the_shell_keeps_the_last_table() -> None:
    a = backend("a")
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind((HOST, 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    holder = IngressHolder()
    holder.set((entry(taken, a),))  # before the mesh starts: it reads the current table
    ref = Mesh.start(None, HOST, holder)
    try:
        mesh = ref.proxy()
        assert mesh.listening().get(timeout=5) == []  # the port is someone else's
        blocker.close()
        wait_for(lambda: mesh.listening().get(timeout=5) == [taken], "bound on a retry", 15)
        assert ask(taken) == b"a:hi"
        free = free_port()
        holder.set((entry(free, a),))  # the agent's next table
        wait_for(lambda: mesh.listening().get(timeout=5) == [free], "the next table")
    finally:
        ref.stop()
        blocker.close()
        a.shutdown()
