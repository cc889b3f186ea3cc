"""A node's listening ports on a real ``swarm-node`` process: a taken one fails the start
with an error naming it and what it is for, before the control socket ever answers; and
every port is bound before the control socket appears, so nothing that binds after it can
fail a node a client was already told serves. (A port taken while a manager is locked:
tests/integration/test_autolock.py.)"""

from __future__ import annotations

import json
import os
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


@pytest.mark.parametrize("taken", ["--listen-remote-api", "--engine-api"])
def test_a_failed_start_leaves_nothing_under_tmpdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken: str
) -> None:
    """The process sandbox's directories a start created ($TMPDIR/swarmnode-<uid>/<node
    id>, and the base if it made it) go again when the start fails (before, an empty work
    root stayed behind for each failed start); another node's work root stays."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    base = tmpdir / f"swarmnode-{os.geteuid()}"
    port = free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        address = (
            f"127.0.0.1:{port}" if taken == "--listen-remote-api" else f"tcp://127.0.0.1:{port}"
        )
        first = run_node_once(tmp_path / "m1", "--hostname", "m1", taken, address)
        assert first.returncode == 1, first.stderr
        assert f"({taken}) cannot listen on 127.0.0.1:{port}" in first.stderr
        assert list(tmpdir.iterdir()) == []  # the base too: this start made it
        other = base / "another-node"
        other.mkdir(parents=True, mode=0o700)
        base.chmod(0o700)
        second = run_node_once(tmp_path / "m2", "--hostname", "m2", taken, address)
        assert second.returncode == 1, second.stderr
    assert list(base.iterdir()) == [other]


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
