"""The routing mesh's proxy on real sockets (actors/worker/mesh.py), without Docker:
backends are plain TCP servers on 127.0.0.1. It listens on the table's ports and no
other, takes turns between backends, passes a half close on, passes over a backend that
refuses, and closes a client when no backend is left; UDP clients' datagrams go to one
backend each and the answers come back from the ingress port."""

from __future__ import annotations

import errno
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


def closed_without_answer(port: int) -> bool:
    """The proxy closed the client and sent nothing. A close with "hi" still unread is a
    reset, which the client may see at its half close or at its read."""
    try:
        return ask(port) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except OSError as error:
        if error.errno == errno.ENOTCONN:
            return True
        raise


def entry(
    port: int,
    *servers: socketserver.BaseServer | int,
    protocol: PortProtocol = PortProtocol.TCP,
) -> IngressPort:
    ports = [s if isinstance(s, int) else s.server_address[1] for s in servers]  # type: ignore[attr-defined]
    return IngressPort(port, protocol, "web", tuple(IngressBackend(HOST, p) for p in ports))


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(self.server.name.encode() + b":" + data, self.client_address)  # type: ignore[attr-defined]


def udp_backend(name: str) -> socketserver.ThreadingUDPServer:
    server = socketserver.ThreadingUDPServer((HOST, 0), _Echo)
    server.daemon_threads = True
    server.name = name  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def udp_ask(client: socket.socket, port: int, text: bytes) -> bytes:
    client.sendto(text, (HOST, port))
    data, source = client.recvfrom(4096)
    assert source == (HOST, port)  # the answer comes from the ingress port
    return data


def test_udp_clients_each_keep_to_one_backend(proxy: MeshProxy) -> None:
    a, b = udp_backend("a"), udp_backend("b")
    port = free_udp_port()
    proxy.apply((entry(port, a, b, protocol=PortProtocol.UDP),))
    wait_for(lambda: proxy.listening(PortProtocol.UDP) == [port], "the mesh on UDP")
    assert proxy.listening() == []  # no TCP port for a UDP entry
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        for c in clients:
            c.settimeout(5.0)
        first = [udp_ask(clients[0], port, b"x%d" % i) for i in range(3)]
        second = udp_ask(clients[1], port, b"y")
        name = first[0].split(b":")[0]
        assert first == [name + b":x0", name + b":x1", name + b":x2"]  # one flow, one backend
        assert second.split(b":")[0] != name  # the next client's flow: the other backend
        proxy.apply(())
        wait_for(lambda: proxy.listening(PortProtocol.UDP) == [], "the UDP port closed")
    finally:
        for c in clients:
            c.close()
        a.shutdown()
        b.shutdown()


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
    assert wait_for(lambda: closed_without_answer(port), "the client closed without an answer")
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


def test_a_udp_flow_to_a_closed_port_ends_and_the_next_datagram_tries_another(
    proxy: MeshProxy,
) -> None:
    a = udp_backend("a")
    dead = free_udp_port()  # nothing there: the host answers ICMP port unreachable
    port = free_udp_port()
    proxy.apply((entry(port, dead, a, protocol=PortProtocol.UDP),))
    wait_for(lambda: proxy.listening(PortProtocol.UDP) == [port], "the mesh on UDP")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(1.0)

        def answered() -> bytes | None:
            try:
                return udp_ask(client, port, b"q")
            except TimeoutError:
                return None  # sent to the dead backend: its flow ends on the ICMP error

        assert wait_for(answered, "an answer from the live backend", 10, interval=0.1) == b"a:q"
    a.shutdown()
