"""`Client.request` over the calling thread's own DEALER (transport/lanes.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from api.errors import ClientClosed, RequestTimeout
from tests.integration import transport_server  # noqa: F401  (declares test.echo)
from tests.support.waiting import wait_for
from transport import Client, Endpoint, Request


@pytest.fixture
def short_dir() -> Iterator[Path]:
    import tempfile  # ipc paths are limited to about 100 bytes

    with tempfile.TemporaryDirectory(prefix="sn-") as d:
        yield Path(d)


def test_a_request_does_not_wait_for_the_clients_io_thread(short_dir: Path) -> None:
    """The I/O thread is held in a future's callback; a request from a thread still gets
    its reply (fails before lanes: the request's frame and reply pass through that thread)."""
    endpoint = Endpoint(f"ipc://{short_dir / 'a.sock'}", {"ping": lambda r: {}}, name="control")
    endpoint.start()
    client = Client(endpoint.address, timeout=10.0)
    release = threading.Event()
    held = threading.Event()
    try:
        future = client.request_async("ping")

        def hold(_f: Future[dict[str, Any]]) -> None:
            held.set()
            release.wait(30)

        future.add_done_callback(hold)
        wait_for(held.is_set)
        assert client.request("ping", timeout=5.0) == {}
    finally:
        release.set()
        client.close()
        endpoint.stop()


def test_threads_get_their_own_replies_and_late_ones_are_dropped(short_dir: Path) -> None:
    release = threading.Event()

    def echo(request: Request) -> Mapping[str, Any]:
        if request.body["n"] < 0:
            release.wait(30)  # answered after its request timed out
        return dict(request.body)

    endpoint = Endpoint(f"ipc://{short_dir / 'b.sock'}", {"test.echo": echo}, name="control")
    endpoint.start()
    client = Client(endpoint.address, timeout=10.0)
    try:
        with pytest.raises(RequestTimeout):
            client.request("test.echo", {"n": -1}, timeout=0.2)
        release.set()  # its reply comes now, on this thread's lane: not taken for the next
        assert client.request("test.echo", {"n": 1}) == {"n": 1}

        answers: dict[int, list[dict[str, Any]]] = {}

        def many(t: int) -> None:
            answers[t] = [client.request("test.echo", {"n": t * 1000 + i}) for i in range(50)]

        threads = [threading.Thread(target=many, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        assert answers == {t: [{"n": t * 1000 + i} for i in range(50)] for t in range(8)}
    finally:
        release.set()
        client.close()
        endpoint.stop()


def test_close_wakes_a_thread_waiting_on_its_lane(short_dir: Path) -> None:
    release = threading.Event()
    entered = threading.Event()

    def block(request: Request) -> Mapping[str, Any]:
        entered.set()
        release.wait(30)
        return dict(request.body)

    endpoint = Endpoint(f"ipc://{short_dir / 'c.sock'}", {"test.echo": block}, name="control")
    endpoint.start()
    client = Client(endpoint.address, timeout=30.0)
    outcome: list[BaseException] = []

    def wait_on_lane() -> None:
        try:
            client.request("test.echo", {"n": 1})
        except BaseException as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait_on_lane)
    try:
        waiter.start()
        wait_for(entered.is_set)
        client.close()
        waiter.join(10)
        assert not waiter.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], ClientClosed)
        with pytest.raises(ClientClosed):
            client.request("test.echo", {"n": 2})
    finally:
        release.set()
        client.close()
        endpoint.stop()


def test_a_client_used_only_through_request_makes_one_connection(short_dir: Path) -> None:
    """Its I/O thread's DEALER connects on its first send only (fails before: two)."""
    import zmq
    from zmq.utils.monitor import recv_monitor_message

    from transport import decode, encode

    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    router = context.socket(zmq.ROUTER)
    monitor = router.get_monitor_socket(zmq.EVENT_ACCEPTED)
    address = f"ipc://{short_dir / 'd.sock'}"
    router.bind(address)
    client = Client(address, timeout=10.0)
    answered = threading.Event()

    def answer() -> None:
        for _ in range(3):
            if not router.poll(10_000):
                return
            identity, frame = router.recv_multipart()
            router.send_multipart([identity, encode("pong", {}, request_id=decode(frame).id)])
        answered.set()

    server = threading.Thread(target=answer)
    try:
        server.start()
        assert [client.request("ping") for _ in range(3)] == [{}] * 3
        server.join(10)
        assert answered.is_set()
        accepted = 0
        while monitor.poll(300):
            recv_monitor_message(monitor)
            accepted += 1
        assert accepted == 1
    finally:
        client.close()
        router.disable_monitor()
        monitor.close(linger=0)
        context.destroy(linger=0)


class _Router:
    """A bare ROUTER that records (connection, type, body) of each message and answers
    every request but ``test.echo`` with ``n`` < 0 (held until `release`)."""

    def __init__(self, address: str) -> None:
        import zmq

        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.bind(address)
        self.address = address
        self.seen: list[tuple[bytes, str, dict[str, Any]]] = []
        self.released = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        from transport import decode, encode

        held: list[tuple[bytes, int]] = []
        while not self._stop.is_set():
            if self.released.is_set():
                for identity, rid in held:
                    self.router.send_multipart(
                        [identity, encode("test.echo.reply", {"n": -1}, request_id=rid)]
                    )
                held.clear()
            if not self.router.poll(20):
                continue
            identity, frame = self.router.recv_multipart()
            envelope = decode(frame)
            self.seen.append((identity, envelope.type, dict(envelope.body)))
            if envelope.id == 0:
                continue  # one-way
            if envelope.type == "test.echo" and envelope.body["n"] < 0:
                held.append((identity, envelope.id))
                continue
            reply = "pong" if envelope.type == "ping" else "test.echo.reply"
            body = {} if envelope.type == "ping" else dict(envelope.body)
            self.router.send_multipart([identity, encode(reply, body, request_id=envelope.id)])

    def connection_of(self, message_type: str, n: int | None = None) -> bytes:
        return next(
            identity
            for identity, t, body in self.seen
            if t == message_type and (n is None or body.get("n") == n)
        )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.router.close(linger=0)
        self.context.destroy(linger=0)


def _in_thread(fn: Any) -> None:
    thread = threading.Thread(target=fn)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()


def test_requests_made_while_another_is_in_flight_share_the_clients_connection(
    short_dir: Path,
) -> None:
    """A thread alone in waiting uses its lane; threads requesting while it waits go over
    the client's one DEALER (fails before: a lane, so a connection, each)."""
    server = _Router(f"ipc://{short_dir / 'e.sock'}")
    client = Client(server.address, timeout=10.0)
    waiter = threading.Thread(target=lambda: client.request("test.echo", {"n": -1}))
    try:
        waiter.start()
        wait_for(lambda: any(t == "test.echo" for _, t, _ in server.seen))
        for n in (1, 2, 3):  # one thread each, one at a time, while the first one waits
            _in_thread(lambda n=n: client.request("test.echo", {"n": n}))
        first = server.connection_of("test.echo", -1)
        others = {server.connection_of("test.echo", n) for n in (1, 2, 3)}
        assert len(others) == 1 and first not in others
        server.released.set()
        waiter.join(10)
        assert not waiter.is_alive()
        _in_thread(lambda: client.request("test.echo", {"n": 4}))  # alone again: a lane
        assert server.connection_of("test.echo", 4) not in others
    finally:
        server.released.set()
        client.close()
        server.close()


def test_a_request_after_a_one_way_message_stays_behind_it(short_dir: Path) -> None:
    """A thread's one-way message goes on its lane, and so does its next request even
    while another thread's request is in flight: it cannot overtake the message."""
    server = _Router(f"ipc://{short_dir / 'f.sock'}")
    client = Client(server.address, timeout=10.0)
    waiter = threading.Thread(target=lambda: client.request("test.echo", {"n": -1}))
    try:
        waiter.start()
        wait_for(lambda: any(t == "test.echo" for _, t, _ in server.seen))

        def send_then_request() -> None:
            client.send("ping")
            assert client.request("test.echo", {"n": 7}) == {"n": 7}

        _in_thread(send_then_request)
        kinds = [(t, body.get("n")) for _, t, body in server.seen]
        assert kinds.index(("ping", None)) < kinds.index(("test.echo", 7))
        assert server.connection_of("ping") == server.connection_of("test.echo", 7)
        server.released.set()
        waiter.join(10)
        assert not waiter.is_alive()
    finally:
        server.released.set()
        client.close()
        server.close()
