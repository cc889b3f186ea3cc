"""``swarmctl node logs``: a node's structured log events, from its ring, read from a manager
through the leader's log broker (real processes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_logs_process import Follower
from tests.support.swarm import Swarm, SwarmNode, poll

LONG = 60.0


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    with Swarm(tmp_path_factory.mktemp("nodelogs")) as started:
        started.start_cluster(managers=2, workers=1, timeout=120.0)
        yield started


def follower_of(swarm: Swarm) -> SwarmNode:
    leader = swarm.leader()
    return next(n for n in swarm.managers if n is not leader)


def events_of(node: SwarmNode, *args: str) -> list[dict[str, object]]:
    result = node.ctl("node", "logs", "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line]


def test_a_workers_events_are_read_through_a_follower_filtered(swarm: Swarm) -> None:
    reader = follower_of(swarm)
    worker = next(n for n in swarm.nodes if n.name == "w1")
    events = poll(lambda: events_of(reader, "w1"), "the worker's events", LONG)
    # events logged before the node knew its id (joining) carry none
    assert {e.get("node_id") for e in events} <= {worker.node_id, None}
    assert any(e.get("node_id") == worker.node_id for e in events)
    assert any(e["event"] == "agent.session.opened" for e in events)
    agent = events_of(reader, "--subsystem", "agent", "w1")
    assert agent and {e["subsystem"] for e in agent} == {"agent"}
    warnings = events_of(reader, "--level", "warning", "w1")
    assert all(e["level"] in ("warning", "error", "critical") for e in warnings)
    assert len(events_of(reader, "--tail", "3", "w1")) == 3
    table = reader.ctl("node", "logs", "--tail", "1", "--subsystem", "agent", "w1")
    assert table.returncode == 0 and " AGENT" not in table.stdout
    assert " agent " in table.stdout and table.stdout.count("\n") == 1


def test_node_logs_follow_shows_new_events_of_a_worker(swarm: Swarm) -> None:
    reader = follower_of(swarm)
    followed = Follower(
        reader, "node", "logs", "-f", "--format", "json", "--subsystem", "worker", "w1"
    )
    try:
        poll(lambda: followed.out, "the worker's held events", LONG)
        held = len(followed.out)
        reader.ctl_json(
            "service", "create", "--name", "onworker", "--detach", "--constraint",
            "node.hostname==w1", "busybox", "sleep", "300",
        )  # fmt: skip

        def assignment_seen() -> bool:
            new = [json.loads(line) for line in followed.out[held:]]
            return any(e["event"] == "worker.assignments.applied" for e in new)

        poll(assignment_seen, "the worker's new event followed", LONG)
    finally:
        followed.stop()


def test_an_unknown_node_is_named(swarm: Swarm) -> None:
    result = follower_of(swarm).ctl("node", "logs", "nowhere")
    assert result.returncode != 0 and "nowhere" in result.stderr


def test_debug_events_are_kept_when_the_node_logs_at_debug(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1", extra=("--log-level", "debug"))
        node.wait_ready()
        debug = poll(
            lambda: [e for e in events_of(node, "--level", "debug", "m1") if e["level"] == "debug"],
            "a debug event",
            LONG,
        )
        assert any(e["event"] == "raft.election.started" for e in debug), debug
        assert all(e["level"] != "debug" for e in events_of(node, "--level", "info", "m1"))
