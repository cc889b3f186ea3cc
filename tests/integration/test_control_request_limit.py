"""A real manager's control socket takes requests up to `CONTROL_MAX_REQUEST_BYTES` (4 MiB)
and no bigger: one control request carries one object's spec at most. Below the cap a
request over its own budget is refused naming that budget (the handler's); swarmctl's
connection refuses a bigger one naming the socket's limit, before sending it; a peer that
sends one anyway is dropped by ZeroMQ, which never allocates the frame, and the socket
serves on. The node's replies (listings) keep the 16 MiB frame limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.codec_objects import encode
from api.errors import RemoteError, RequestTimeout
from api.limits import CONTROL_MAX_REQUEST_BYTES
from api.specs import SecretSpec
from cli.connection import ControlConnection
from cli.errors import CliError
from tests.support.swarm import Swarm, SwarmNode
from transport.client import Client


@pytest.fixture(scope="module")
def manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmNode]:
    with Swarm(tmp_path_factory.mktemp("control-limit")) as swarm:
        node = swarm.start_node("m1", executor="process")
        node.wait_ready()
        yield node


def secret_create(data_bytes: int) -> dict[str, object]:
    """A ``control.secret.create`` body whose frame is about ``data_bytes`` long (its data
    unchecked: swarmctl would refuse anything over 500 KiB before asking)."""
    return {"spec": encode(SecretSpec(name="big", data=b"x" * data_bytes))}


def test_a_request_under_the_cap_is_refused_by_its_own_budget(manager: SwarmNode) -> None:
    body = secret_create(CONTROL_MAX_REQUEST_BYTES - 4096)
    with (
        Client(f"ipc://{manager.socket}", timeout=10.0) as client,
        pytest.raises(RemoteError, match="over the limit of 500 KiB"),
    ):
        client.request("control.secret.create", body)


def test_swarmctl_refuses_a_request_over_the_cap_naming_it(manager: SwarmNode) -> None:
    body = secret_create(CONTROL_MAX_REQUEST_BYTES)
    with (
        ControlConnection(Path(manager.socket)) as connection,
        pytest.raises(CliError, match=r"of 4\.0 MiB exceeds the limit of 4 MiB on ipc://"),
    ):
        connection.request("control.secret.create", body)


def test_a_peer_sending_one_anyway_is_dropped_and_the_socket_serves_on(
    manager: SwarmNode,
) -> None:
    body = secret_create(CONTROL_MAX_REQUEST_BYTES)
    with (
        Client(f"ipc://{manager.socket}", timeout=10.0) as client,
        pytest.raises(RequestTimeout),
    ):
        client.request("control.secret.create", body, timeout=2.0)
    assert [row["hostname"] for row in manager.ctl_json("node", "ls")] == ["m1"]
