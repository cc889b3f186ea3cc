"""A node's description is bounded before anything is written: over real ZeroMQ with CURVE,
a dispatcher session whose description carries an 8 MiB hostname is refused ``invalid``
naming the field (before, the dispatcher wrote it to the store, and two such sessions made
a Raft entry too big to replicate), and so is a TLS report over its bounds; ``swarm-node
--hostname`` refuses a name longer than the kernel takes, before it touches its state dir."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from actors.dispatcher import DispatcherLink, dispatcher_handlers
from actors.dispatcher.tls_report import encode_tls_report
from actors.dispatcher.wire import encode_session_request
from api.errors import ErrorCode, RemoteError
from api.ids import new_id
from api.node_tls import MAX_TLS_ROOTS
from api.objects import NodeDescription, NodeTLSInfo, Platform
from transport import AllowList, Client, Endpoint, KeyPair, generate_keypair

ROOT = Path(__file__).resolve().parents[2]
NODE_ID = new_id()


@pytest.fixture
def remote() -> Iterator[tuple[str, KeyPair, KeyPair]]:
    server, worker = generate_keypair(), generate_keypair()
    # no dispatcher runs: a description that passes validation is answered "unavailable";
    # the worker's key is certified for NODE_ID, so the session speaks for its own node
    endpoint = Endpoint(
        "tcp://127.0.0.1:0",
        dispatcher_handlers(
            DispatcherLink(), lambda key: NODE_ID if key == worker.public else None
        ),
        keypair=server,
        admission=AllowList([worker.public]),
        name="remote-limits",
    )
    address = endpoint.start()
    try:
        yield address, server, worker
    finally:
        endpoint.stop()


def open_session(remote: tuple[str, KeyPair, KeyPair], hostname: str) -> RemoteError:
    address, server, worker = remote
    description = NodeDescription(hostname=hostname, platform=Platform("linux", "x86_64"))
    with (
        Client(address, server_key=server.public, keypair=worker, timeout=15.0) as client,
        pytest.raises(RemoteError) as err,
    ):
        next(client.stream("dispatcher.session", encode_session_request(NODE_ID, description)))
    return err.value


def test_a_session_with_an_eight_mebibyte_hostname_is_refused(
    remote: tuple[str, KeyPair, KeyPair],
) -> None:
    # longer than any string a member may send (api.schema.frame.MEMBER_LIMITS): refused as
    # the frame is decoded, before any handler
    err = open_session(remote, "h" * (8 << 20))
    assert err.code == ErrorCode.OVER_LIMITS
    assert "max_str_len" in str(err)
    # within the decode limits, over Docker's: refused by the description's validation
    err = open_session(remote, "h" * 65)
    assert err.code == ErrorCode.INVALID
    assert "description.hostname: hostname of 65 bytes, over the limit of 64 bytes" in str(err)
    assert open_session(remote, "worker-1").code == "unavailable"  # validation let it by


def test_a_tls_report_out_of_its_bounds_is_refused_naming_the_field(
    remote: tuple[str, KeyPair, KeyPair],
) -> None:
    """A node's TLS report (actors/dispatcher/tls_report.py), in its session request or a
    heartbeat, is checked against its bounds before the dispatcher takes it."""
    address, server, worker = remote
    roots = ("r" * 50,) * (MAX_TLS_ROOTS + 1)
    report = NodeTLSInfo(roots, b"subject", b"key")
    description = NodeDescription(hostname="worker-1", tls_info=report)
    body = encode_session_request(NODE_ID, description)
    beat = {"node_id": NODE_ID, "session_id": "s", "tls": encode_tls_report(report)}
    with Client(address, server_key=server.public, keypair=worker, timeout=15.0) as client:
        with pytest.raises(RemoteError) as err:
            next(client.stream("dispatcher.session", body))
        assert err.value.code == ErrorCode.INVALID and "tls.trust_roots" in str(err.value)
        with pytest.raises(RemoteError) as err:
            client.request("dispatcher.heartbeat", beat)
        assert err.value.code == ErrorCode.INVALID and "tls.trust_roots" in str(err.value)
        within = {**beat, "tls": encode_tls_report(replace(report, trust_roots=roots[:2]))}
        with pytest.raises(RemoteError) as err:
            client.request("dispatcher.heartbeat", within)
        assert err.value.code == "unavailable"  # validation let it by


def test_swarm_node_refuses_a_hostname_longer_than_the_kernel_takes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = subprocess.run(
        [sys.executable, "-m", "cli.node_main", "--state-dir", str(state), "--hostname", "h" * 65],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2
    assert "--hostname: hostname of 65 bytes, over the limit of 64 bytes" in result.stderr
    assert not state.exists()
