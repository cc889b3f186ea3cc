"""Transport between two processes over TCP with CURVE and ZAP admission."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest
import zmq

from api.errors import (
    ConnectionLost,
    ErrorCode,
    FrameTooLarge,
    HandshakeRefused,
    RemoteError,
    RequestTimeout,
)
from tests.integration import transport_server  # noqa: F401  (declares test.echo)
from tests.support.waiting import wait_for
from transport import Client, KeyPair, decode, encode, fingerprint, generate_keypair

ROOT = Path(__file__).resolve().parents[2]
MAX_SIZE = 64 * 1024


@dataclass
class Server:
    address: str
    public_key: bytes
    log_path: Path
    admitted: list[KeyPair]
    process: subprocess.Popen[str]

    def log_events(self) -> list[dict[str, object]]:
        events = []
        for line in self.log_path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def wait_for_log(
        self, match: Callable[[dict[str, object]], bool], timeout: float = 10.0
    ) -> None:
        wait_for(
            lambda: any(match(e) for e in self.log_events()),
            "the expected event in the server's log",
            timeout,
            interval=0.05,
            describe=self.log_path.read_text,
        )

    def client(self, keypair: KeyPair | None = None, timeout: float = 10.0) -> Client:
        kp = keypair if keypair is not None else self.admitted[0]
        return Client(self.address, server_key=self.public_key, keypair=kp, timeout=timeout)


def start_server(log_path: Path, admitted: list[KeyPair]) -> Server:
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.transport_server",
                "--max-size",
                str(MAX_SIZE),
                # --allow=KEY: a Z85 key may begin with "-", which argparse would take for a flag
                *[f"--allow={kp.public.decode()}" for kp in admitted],
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        pytest.fail(f"server did not start; log:\n{log_path.read_text()}")
    hello = json.loads(line)
    return Server(hello["address"], hello["public_key"].encode(), log_path, admitted, process)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    admitted = [generate_keypair() for _ in range(3)]
    started = start_server(tmp_path_factory.mktemp("transport") / "server.log", admitted)
    yield started
    process = started.process
    assert process.stdin is not None
    process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def raw_dealer(
    server: Server, keypair: KeyPair | None
) -> tuple[zmq.Context[zmq.Socket[bytes]], zmq.Socket[bytes]]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    if keypair is not None:
        sock.curve_serverkey = server.public_key
        sock.curve_publickey = keypair.public
        sock.curve_secretkey = keypair.secret
    sock.connect(server.address)
    return ctx, sock


def recv_or_none(sock: zmq.Socket[bytes], timeout_ms: int = 1500) -> bytes | None:
    return sock.recv() if sock.poll(timeout_ms, zmq.POLLIN) else None


def test_request_reply_with_curve(server: Server) -> None:
    with server.client() as client:
        assert client.request("version") == {
            "node_id": "test-node",
            "role": "manager",
            "version": "0.1.0",
        }
        assert client.request("test.echo", {"n": 1, "text": "hi"}) == {"n": 1, "text": "hi"}
        assert client.request("ping") == {}


def test_thousand_concurrent_requests_all_answered(server: Server) -> None:
    with server.client(timeout=60) as client:
        futures = [client.request_async("test.echo", {"n": i}) for i in range(1000)]
        assert [f.result(timeout=90)["n"] for f in futures] == list(range(1000))


def test_concurrent_threads_share_one_client(server: Server) -> None:
    results: dict[int, list[int]] = {}
    with server.client(timeout=60) as client:

        def work(t: int) -> None:
            results[t] = [client.request("test.echo", {"n": t * 1000 + i})["n"] for i in range(100)]

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
    assert results == {t: [t * 1000 + i for i in range(100)] for t in range(8)}


def test_client_without_curve_gets_no_reply_and_is_logged(server: Server) -> None:
    ctx, sock = raw_dealer(server, keypair=None)
    try:
        sock.send(encode("ping", request_id=1))
        assert recv_or_none(sock) is None
    finally:
        ctx.destroy(linger=0)
    server.wait_for_log(lambda e: e.get("event") == "transport.handshake.failed")
    with server.client() as client:
        assert client.request("ping") == {}


def test_unadmitted_key_gets_no_reply_and_is_logged(server: Server) -> None:
    stranger = generate_keypair()
    with server.client(keypair=stranger, timeout=1.0) as client, pytest.raises(RequestTimeout):
        client.request("ping")
    server.wait_for_log(
        lambda e: (
            e.get("event") == "transport.zap.refused"
            and e.get("key_fingerprint") == fingerprint(stranger.public)
        )
    )
    with server.client(keypair=server.admitted[1]) as client:
        assert client.request("ping") == {}


def test_a_refused_key_fails_at_once_with_watch_connection(server: Server) -> None:
    """Issue 10 item 11: a client watching its handshakes learns the server refused its
    key (instead of waiting out its deadline), and says so."""
    stranger = generate_keypair()
    with Client(
        server.address,
        server_key=server.public_key,
        keypair=stranger,
        timeout=60.0,
        watch_connection=True,
    ) as client:
        with pytest.raises(HandshakeRefused) as refused:
            client.request("ping")
        assert "refused this key at the handshake (status 400)" in str(refused.value)
        assert client.refused is not None


def test_a_request_after_the_refusal_was_seen_fails_at_once(server: Server) -> None:
    """The refusal can arrive before any request is pending (the handshake runs on
    connect): a later request still fails with it instead of waiting out its deadline."""
    with Client(
        server.address,
        server_key=server.public_key,
        keypair=generate_keypair(),
        timeout=60.0,
        watch_connection=True,
    ) as client:
        wait_for(lambda: client.refused is not None, "the refusal seen", 30.0)
        with pytest.raises(HandshakeRefused):
            client.request("ping")


def test_a_dropped_connection_fails_the_pending_requests_at_once(tmp_path: Path) -> None:
    """A watching client whose server's process dies (kill -9: the kernel closes its
    sockets) fails what is pending with ConnectionLost instead of waiting out the
    deadline: the agent's session moves on to another manager at once."""
    admitted = [generate_keypair()]
    doomed = start_server(tmp_path / "server.log", admitted)
    try:
        with Client(
            doomed.address,
            server_key=doomed.public_key,
            keypair=admitted[0],
            timeout=600.0,
            watch_connection=True,
        ) as client:
            assert client.request("ping") == {}
            held = client.request_async("test.hold", {}, timeout=600.0)
            doomed.process.kill()
            wait_for(held.done, "the held request failed", 30.0)
            with pytest.raises(ConnectionLost, match="closed"):
                held.result()
            assert client.refused is None
    finally:
        doomed.process.kill()
        doomed.process.wait()


def test_a_refused_connection_fails_the_pending_requests_at_once() -> None:
    """Nothing listens at the address (a manager killed): a watching client fails what
    is pending with ConnectionLost at the first refused connect, not at its deadline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"  # released: nobody listens
    with Client(
        address,
        server_key=generate_keypair().public,
        keypair=generate_keypair(),
        timeout=600.0,
        watch_connection=True,
    ) as client:
        held = client.request_async("ping", {}, timeout=600.0)
        wait_for(held.done, "the request failed", 30.0)
        with pytest.raises(ConnectionLost, match="refused the connection"):
            held.result()


def test_malformed_frames_are_answered_or_dropped(server: Server) -> None:
    ctx, sock = raw_dealer(server, keypair=server.admitted[2])
    try:
        # random bytes: no id to answer, dropped and logged
        sock.send(b"\xc1\x00\xffrandom")
        # wrong field type, missing field, unknown type: answered with the request's id
        cases = {
            11: ({"v": 1, "t": "test.echo", "id": 11, "b": {"n": "one"}}, ErrorCode.INVALID),
            12: ({"v": 1, "t": "test.echo", "id": 12, "b": {}}, ErrorCode.INVALID),
            13: ({"v": 1, "t": "no.such.type", "id": 13, "b": {}}, ErrorCode.UNKNOWN_TYPE),
            14: ({"v": 1, "t": "pong", "id": 14, "b": {}}, ErrorCode.UNSUPPORTED),
        }
        for obj, _ in cases.values():
            sock.send(msgpack.packb(obj))
        answers = {}
        for _ in cases:
            frame = recv_or_none(sock, 10_000)
            assert frame is not None
            env = decode(frame)
            assert env.type == "error"
            answers[env.id] = env.body["code"]
        assert answers == {rid: code for rid, (_, code) in cases.items()}
        # multi-frame message: dropped and logged
        sock.send_multipart([b"", encode("ping", request_id=15)])
        assert recv_or_none(sock, 500) is None
        # and the same connection still works
        sock.send(encode("ping", request_id=16))
        frame = recv_or_none(sock, 10_000)
        assert frame is not None and decode(frame).id == 16
    finally:
        ctx.destroy(linger=0)
    server.wait_for_log(
        lambda e: e.get("event") == "transport.frame.rejected" and e.get("answered") is False
    )
    server.wait_for_log(lambda e: e.get("event") == "transport.frame.dropped")


def disconnects(server: Server) -> int:
    return sum(1 for e in server.log_events() if e.get("event") == "transport.peer.disconnected")


def test_oversized_frame_drops_the_peer_and_endpoint_keeps_serving(server: Server) -> None:
    before = disconnects(server)
    ctx, sock = raw_dealer(server, keypair=server.admitted[2])
    try:
        sock.send(
            encode(
                "test.echo",
                {"n": 1, "text": "x" * (MAX_SIZE * 2)},
                request_id=1,
                max_size=MAX_SIZE * 4,
            )
        )
        assert recv_or_none(sock) is None
    finally:
        ctx.destroy(linger=0)
    # Earlier tests' peers disconnect too: wait for one more, not for any.
    wait_for(
        lambda: disconnects(server) > before,
        "the oversized sender's disconnect in the server's log",
        10.0,
        interval=0.05,
        describe=server.log_path.read_text,
    )
    with server.client() as client:
        assert client.request("test.echo", {"n": 2}) == {"n": 2}


def test_oversized_reply_is_refused_locally(server: Server) -> None:
    with server.client() as client, pytest.raises(FrameTooLarge, match="exceeds the limit"):
        client.request("test.echo", {"n": 1, "text": "y" * (17 * 1024 * 1024)})


def test_unsupported_request_raises_remote_error(server: Server) -> None:
    with server.client() as client, pytest.raises(RemoteError) as info:
        client.request("test.echo.reply", {"n": 1})
    assert info.value.code == ErrorCode.UNSUPPORTED
