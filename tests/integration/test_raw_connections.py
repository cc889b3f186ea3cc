"""Raw TCP connections that never greet, against a real manager's remote port: each costs
the process a descriptor until its handshake times out, and ZeroMQ aborts the process when
it finds none for a socket of its own (transport/strangers.py, connections.py)."""

from __future__ import annotations

import contextlib
import resource
import socket
from collections.abc import Iterator
from pathlib import Path

from actors.descriptors import NR_OPEN
from tests.support.swarm import Swarm, SwarmNode, poll
from transport.accepted import peer_of, shut_down


@contextlib.contextmanager
def raw_connections(node: SwarmNode, sources: list[str], each: int) -> Iterator[None]:
    """``each`` connections from each of ``sources`` to ``node``'s remote port, held open
    (sending nothing) until the block ends."""
    host, port = node.remote_api.rsplit(":", 1)
    held: list[socket.socket] = []
    try:
        for source in sources:
            for _ in range(each):
                sock = socket.socket()
                held.append(sock)
                sock.bind((source, 0))
                sock.connect((host, int(port)))
        yield
    finally:
        for sock in held:
            sock.close()


def closed_at_accept(node: SwarmNode, code: str) -> int:
    return sum(
        e.get("count", 0)
        for e in node.log_events()
        if e.get("event") == "transport.stranger.closed" and e.get("code") == code
    )


def test_a_node_raises_its_soft_descriptor_limit_to_the_hard_one(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with Swarm(tmp_path) as swarm:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # the node inherits it
        try:
            node = swarm.start_node("m1", wait=False)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        node.wait_started()
        assert node.process is not None
        expected = hard if hard != resource.RLIM_INFINITY else int(NR_OPEN.read_text())
        assert resource.prlimit(node.process.pid, resource.RLIMIT_NOFILE)[0] == expected
        (raised,) = [e for e in node.log_events() if e["event"] == "node.descriptor_limit.raised"]
        assert raised["before"] == 256


def test_a_manager_near_its_descriptor_limit_closes_new_connections_and_lives(
    tmp_path: Path,
) -> None:
    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1")
        node.wait_ready()
        assert node.process is not None
        hard = resource.prlimit(node.process.pid, resource.RLIMIT_NOFILE)[1]
        resource.prlimit(node.process.pid, resource.RLIMIT_NOFILE, (256, hard))
        # 400 from 8 addresses: within each source's share, past the process's descriptors
        with raw_connections(node, [f"127.0.0.{i}" for i in range(1, 9)], 50):
            poll(lambda: closed_at_accept(node, "descriptors") > 0, "connections closed")
            assert node.ctl("node", "ls").returncode == 0  # the control socket's client
            assert node.process.poll() is None


def test_one_address_holds_at_most_its_share_of_connections_without_a_members_key(
    tmp_path: Path,
) -> None:
    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1")
        node.wait_ready()
        before = len(node.log_events())
        with raw_connections(node, ["127.0.0.1"], 300):
            poll(lambda: closed_at_accept(node, "source_unproven") > 0, "connections closed")
            # the node's own agent, a member from the same address, keeps its session
            assert node.ctl_json("node", "ls")[0]["status"] == "ready"
        ended = [e for e in node.log_events()[before:] if e["event"] == "agent.session.ended"]
        assert ended == []


def test_a_descriptor_reused_for_a_connection_of_our_own_is_never_judged_nor_closed() -> None:
    """A monitor event read late names a descriptor the process may have reused since: for
    its own connection to another node it must neither be taken for an accepted peer nor
    shut down (the gate's rules would cut a Raft or session connection of the node)."""
    with (
        socket.create_server(("127.0.0.1", 0)) as listening,  # the endpoint's port
        socket.create_server(("127.0.0.1", 0)) as elsewhere,  # another node's
        socket.create_connection(elsewhere.getsockname()) as own,
        socket.create_connection(listening.getsockname()) as peer,
    ):
        port = listening.getsockname()[1]
        accepted, _ = listening.accept()
        with accepted:
            host, own_port = own.getpeername()[:2]
            assert peer_of(own.fileno(), port) is None
            assert not shut_down(own.fileno(), f"{host}:{own_port}", port)
            far, _ = elsewhere.accept()
            with far:
                own.sendall(b"still open")
                assert far.recv(16) == b"still open"
            peer_host, peer_port = accepted.getpeername()[:2]
            assert peer_of(accepted.fileno(), port) == (peer_host, peer_port)
            assert shut_down(accepted.fileno(), f"{peer_host}:{peer_port}", port)
            assert peer.recv(16) == b""  # the accepted connection ended
