"""A node's listening ports on a real ``swarm-node`` process: a taken one fails the start
with an error naming it and what it is for, before the control socket ever answers; and
every port is bound before the control socket appears, so nothing that binds after it can
fail a node a client was already told serves. (A port taken while a manager is locked:
tests/integration/test_autolock.py.)"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.swarm import Swarm, free_port, run_node_once


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def listening(events: list[dict[str, Any]]) -> list[str]:
    """The endpoints in the order they started listening, as the node's log says."""
    names = []
    for e in events:
        if e.get("event") == "node.endpoint.listening":
            names.append(str(e["endpoint"]))
        elif e.get("event") == "http.listening":
            names.append(str(e["child"]))
        elif e.get("event") == "node.metrics.listening":
            names.append("metrics")
    return names


def log_events(text: str) -> list[dict[str, Any]]:
    events = []
    for line in text.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def test_a_taken_engine_api_port_fails_the_start_naming_it(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = run_node_once(
            tmp_path / "m1", "--hostname", "m1", "--engine-api", f"tcp://127.0.0.1:{port}"
        )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"swarm-node: the Engine API (--engine-api) cannot listen on 127.0.0.1:{port}: "
        "the address is in use (another process listens on it)"
    )
    # nothing answered meanwhile: the control socket was never bound
    assert "control" not in listening(log_events(result.stderr))


def test_every_port_is_bound_before_the_control_socket(swarm: Swarm) -> None:
    engine, metrics = free_port(), free_port()
    node = swarm.start_node(
        "m1",
        extra=(
            "--engine-api",
            f"tcp://127.0.0.1:{engine}",
            "--metrics-addr",
            f"127.0.0.1:{metrics}",
        ),
    )
    order = listening(node.log_events())
    assert order[-1] == "control", order
    assert {"remote", "hello", "engine", "metrics"} <= set(order[:-1]), order
