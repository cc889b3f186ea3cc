"""The fleet's connection monitor wakes its epoll when the manager's process dies: the
fleet's nodes end their sessions at once, as real agents do, instead of at their
heartbeats' timeout. Real ZeroMQ with CURVE against a server process killed with -9."""

from __future__ import annotations

import select
import time
from pathlib import Path

import zmq
from zmq.utils.monitor import recv_monitor_message

from actors.node.fleet.sockets import connection_monitor
from tests.integration.test_transport_tcp import start_server
from transport import encode, generate_keypair


def test_a_killed_manager_wakes_the_epoll_at_once(tmp_path: Path) -> None:
    keypair = generate_keypair()
    server = start_server(tmp_path / "server.log", [keypair])
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    epoll = select.epoll()
    try:
        sock = context.socket(zmq.DEALER)
        sock.linger = 0
        sock.curve_serverkey = server.public_key
        sock.curve_publickey = keypair.public
        sock.curve_secretkey = keypair.secret
        monitor = connection_monitor(sock)
        sock.connect(server.address)
        epoll.register(monitor.get(zmq.FD), select.EPOLLIN)
        sock.send(encode("ping", {}, request_id=1))
        assert sock.poll(30_000), "the server answered"
        sock.recv()
        server.process.kill()
        events: list[int] = []
        deadline = time.monotonic() + 30.0
        while zmq.EVENT_DISCONNECTED not in events and time.monotonic() < deadline:
            # no timeout can read the monitor here: only the epoll's wake-up does
            if not epoll.poll(deadline - time.monotonic()):
                break
            while True:
                try:
                    events.append(recv_monitor_message(monitor, zmq.NOBLOCK)["event"])
                except zmq.Again:
                    break
        assert zmq.EVENT_DISCONNECTED in events
        monitor.close(linger=0)
        sock.close(linger=0)
    finally:
        epoll.close()
        context.destroy(linger=0)
        server.process.kill()
        server.process.wait()
