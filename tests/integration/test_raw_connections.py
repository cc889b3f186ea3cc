"""Raw TCP connections that never greet, against a real manager's remote port: each costs
the process a descriptor until its handshake times out, and ZeroMQ aborts the process when
it finds none for a socket of its own (transport/strangers.py, connections.py)."""

from __future__ import annotations

import contextlib
import errno
import heapq
import resource
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from actors.descriptors import NR_OPEN
from tests.support.swarm import Swarm, SwarmNode, poll
from transport.accepted import peer_of, shut_down
from transport.stranger_limits import descriptor_reserve


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


class RawFlood:
    """``each`` raw connections (never a byte sent) from each of ``sources`` to each of
    ``targets``, every one opened again when the node closes it: at once when it had lived
    (its handshake timed out: the descriptor it held is free, and goes to the flood
    again), else after ``pause`` (one closed at its accept: trying again at once would
    only spend both sides' processors); at most ``rate`` a second: ZeroMQ accepts on its
    own threads faster than the node's shell closes what it must, so a burst of more than
    the descriptors left takes them all for a moment whatever the node's rules, and the
    next client of its control socket would abort it. An attacker holding all it is let
    hold, from a thread of the test."""

    def __init__(
        self,
        targets: list[tuple[str, int]],
        sources: list[str],
        each: int,
        *,
        pause: float = 1.0,
        rate: float = 1000.0,
    ) -> None:
        self._pairs = [(source, target) for source in sources for target in targets] * each
        self._pause = pause
        self._rate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raw-flood", daemon=True)
        self.opened = 0

    def __enter__(self) -> RawFlood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        # (when, order, pair): the pairs to open, soonest first
        due = [(0.0, i, pair) for i, pair in enumerate(self._pairs)]
        order = len(due)
        allowance, last = 0.0, time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                allowance = min(self._rate / 10, allowance + (now - last) * self._rate)
                last = now
                while due and due[0][0] <= now and allowance >= 1:
                    self._open(selector, heapq.heappop(due)[2], now)
                    allowance -= 1
                for key, _ in selector.select(0.01):
                    sock, (pair, opened_at) = key.fileobj, key.data
                    assert isinstance(sock, socket.socket)
                    try:
                        if sock.recv(4096):
                            continue  # the node's greeting: never answered
                    except BlockingIOError:
                        continue
                    except OSError:
                        pass
                    selector.unregister(sock)
                    sock.close()
                    now = time.monotonic()
                    lived = now - opened_at > 1.0
                    order += 1
                    heapq.heappush(due, (now if lived else now + self._pause, order, pair))
        finally:
            for key in list(selector.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
            selector.close()

    def _open(
        self, selector: selectors.BaseSelector, pair: tuple[str, tuple[str, int]], now: float
    ) -> None:
        source, target = pair
        sock = socket.socket()
        sock.setblocking(False)
        sock.bind((source, 0))
        code = sock.connect_ex(target)
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(code, f"raw flood: connect from {source} to {target}")
        selector.register(sock, selectors.EVENT_READ, (pair, now))
        self.opened += 1


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
        # and the endpoint's share of them
        with raw_connections(node, [f"127.0.0.{i}" for i in range(1, 9)], 50):
            poll(
                lambda: closed_at_accept(node, "unproven") + closed_at_accept(node, "descriptors"),
                "connections closed",
            )
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


# a manager's descriptors for the floods below: 128 reserved, 384 below, of which each of
# its remote and join-hello ports may give a third (128) to connections that showed no
# member's key, and it holds about 70 of its own
FLOODED_LIMIT = 512


def session_opened(worker: SwarmNode) -> bool:
    """Its agent opened a session (in the run that logs now)."""
    return any(e.get("event") == "agent.session.opened" for e in worker.log_events())


@contextlib.contextmanager
def flooded(node: SwarmNode) -> Iterator[RawFlood]:
    """``node`` (a manager) under ulimit -n `FLOODED_LIMIT`, its remote and join-hello
    ports flooded by raw connections from 127.0.0.2-4, 86 from each to each: 516, past
    every descriptor below its reserve. Each address holds fewer than its 256. No
    control-socket call while it lasts: a moment at the limit would abort the node."""
    assert node.process is not None
    hard = resource.prlimit(node.process.pid, resource.RLIMIT_NOFILE)[1]
    resource.prlimit(node.process.pid, resource.RLIMIT_NOFILE, (FLOODED_LIMIT, hard))
    host, port = node.remote_api.rsplit(":", 1)
    targets = [(host, int(port)), (host, int(port) + 1)]
    reserve_start = FLOODED_LIMIT - descriptor_reserve(FLOODED_LIMIT)
    with RawFlood(targets, [f"127.0.0.{i}" for i in range(2, 5)], 86) as flood:
        poll(lambda: flood.opened > reserve_start, "the flood past the reserve's start")
        poll(
            lambda: closed_at_accept(node, "unproven") + closed_at_accept(node, "descriptors"),
            "the flood held back",
        )
        yield flood
    assert node.process.poll() is None


def test_a_node_joins_through_raw_connections_flooding_a_managers_descriptors(
    tmp_path: Path,
) -> None:
    """Three addresses' raw connections, opened again as soon as they are closed, took
    every descriptor below the manager's reserve, and each connection past them was
    closed at its accept: a joining node's too, so its join failed (unreachable). Now
    each port lets them hold its share, and a connection from another address takes the
    place of one of theirs."""
    with Swarm(tmp_path) as swarm:
        manager = swarm.start_node("m1")
        manager.wait_ready()
        token = manager.join_token("worker")
        with flooded(manager):
            worker = swarm.join("w1", manager, token)
            poll(lambda: session_opened(worker), "w1: joined, and its session")
        assert closed_at_accept(manager, "evicted") > 0
        swarm.wait_cluster(1, 1)


def test_a_member_restarting_under_a_flood_of_raw_connections_gets_its_session_back(
    tmp_path: Path,
) -> None:
    """A member's new connection shows no member's key until its first frame: at its
    accept it is judged as any other, and was closed while the flood held every descriptor
    below the reserve, so a restarted worker could not reach its manager."""
    with Swarm(tmp_path) as swarm:
        manager = swarm.start_node("m1")
        manager.wait_ready()
        worker = swarm.join("w1", manager, manager.join_token("worker"))
        swarm.wait_cluster(1, 1)
        with flooded(manager):
            assert worker.terminate() == 0
            worker.start()
            poll(lambda: session_opened(worker), "w1: a session after its restart")
        swarm.wait_cluster(1, 1)
