"""transport.source: a node's source address and the connect endpoints built from it."""

from __future__ import annotations

import pytest

from transport.source import connect_endpoint, source_host


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.3:4242", "127.0.0.3"),
        ("10.0.0.1:4242", "10.0.0.1"),
        ("[::1]:4242", "::1"),
        ("0.0.0.0:4242", None),  # a wildcard listener: the kernel picks per route
        ("[::]:4242", None),
        ("*:4242", None),
        ("node-1.example:4242", None),  # a name is not one address
    ],
)
def test_source_host(listen: str, expected: str | None) -> None:
    assert source_host(listen) == expected


@pytest.mark.parametrize(
    ("address", "source", "expected"),
    [
        ("tcp://127.0.0.2:4242", "127.0.0.3", "tcp://127.0.0.3:0;127.0.0.2:4242"),
        ("tcp://10.0.0.2:4242", "10.0.0.1", "tcp://10.0.0.1:0;10.0.0.2:4242"),
        ("tcp://[::1]:4242", "::1", "tcp://[::1]:0;[::1]:4242"),
        ("tcp://127.0.0.2:4242", None, "tcp://127.0.0.2:4242"),
        ("ipc:///tmp/swarm.sock", "127.0.0.3", "ipc:///tmp/swarm.sock"),
        # a loopback source cannot reach another machine: leave it to the kernel
        ("tcp://10.0.0.2:4242", "127.0.0.3", "tcp://10.0.0.2:4242"),
        ("tcp://manager.example:4242", "127.0.0.3", "tcp://manager.example:4242"),
        # already has a source
        ("tcp://127.0.0.5:0;127.0.0.2:4242", "127.0.0.3", "tcp://127.0.0.5:0;127.0.0.2:4242"),
    ],
)
def test_connect_endpoint(address: str, source: str | None, expected: str) -> None:
    assert connect_endpoint(address, source) == expected
