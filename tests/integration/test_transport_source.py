"""A client given a source address is seen by the server as coming from it.

The server is a bare CURVE ROUTER (with a ZAP handler, as every node's endpoint has): the
ZeroMQ message property ``Peer-Address`` names the TCP peer of the connection a frame came
in on. Linux routes all of 127.0.0.0/8 to the loopback device, so any 127.x.y.z works
without configuration.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import zmq

from transport import AdmitAll, Client, ZapAuthenticator, decode, encode, generate_keypair

SERVER_HOST = "127.0.0.1"


class Router:
    """A CURVE ROUTER that answers each request with a pong and reports the
    peer address it came from."""

    def __init__(self) -> None:
        self.keypair = generate_keypair()
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.zap = ZapAuthenticator(self.context, AdmitAll())
        self.zap.start()
        self.sock = self.context.socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.curve_server = True
        self.sock.curve_publickey = self.keypair.public
        self.sock.curve_secretkey = self.keypair.secret
        self.port = self.sock.bind_to_random_port(f"tcp://{SERVER_HOST}")

    @property
    def address(self) -> str:
        return f"tcp://{SERVER_HOST}:{self.port}"

    def answer_one(self, timeout_ms: int = 10_000) -> str:
        """Receive one request, reply, and return the peer address it came from."""
        assert self.sock.poll(timeout_ms, zmq.POLLIN), "no request arrived"
        identity, frame = self.sock.recv_multipart(copy=False)
        request = decode(frame.bytes)
        self.sock.send_multipart([identity.bytes, encode("pong", {}, request_id=request.id)])
        return str(frame.get("Peer-Address"))

    def close(self) -> None:
        self.sock.close(linger=0)
        self.zap.stop()
        self.context.destroy(linger=0)


@pytest.fixture
def router() -> Iterator[Router]:
    r = Router()
    try:
        yield r
    finally:
        r.close()


def _ask(router: Router, source: str | None) -> str:
    with Client(
        router.address,
        server_key=router.keypair.public,
        keypair=generate_keypair(),
        timeout=10.0,
        source=source,
    ) as client:
        reply = client.request_async("ping")
        peer = router.answer_one()
        reply.result(timeout=10.0)
    return peer


@pytest.mark.parametrize("source", ["127.0.0.7", "127.61.2.9"])
def test_a_client_with_a_source_address_connects_from_it(router: Router, source: str) -> None:
    assert _ask(router, source) == source


def test_without_a_source_the_kernel_picks_the_loopback_default(router: Router) -> None:
    assert _ask(router, None) == "127.0.0.1"
