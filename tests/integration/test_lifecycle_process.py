"""A service's lifecycle with the process executor (issue 10 items 1, 3, 5): the flows of
tests/integration/lifecycle_flows.py as local processes (healthchecks run by the executor
itself, with Docker's semantics), and the spec fields a process cannot honour: a user
refused by the node, what no process node can honour kept pending by the scheduler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration import lifecycle_flows as flows
from tests.support.swarm import Swarm, SwarmNode, poll

IMAGE = "busybox"  # recorded only


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmNode]:
    with Swarm(tmp_path_factory.mktemp("lifecycle-process")) as swarm:
        started = swarm.start_node("m1", executor="process")
        started.wait_ready()
        yield started


def test_a_failing_update_rolls_back_and_the_cli_says_why(node: SwarmNode) -> None:
    flows.failing_update_rolls_back(node, IMAGE)


def test_unhealthy_processes_are_replaced(node: SwarmNode) -> None:
    flows.unhealthy_tasks_are_replaced(node, IMAGE)


def test_health_gates_an_update(node: SwarmNode) -> None:
    flows.health_gates_an_update(node, IMAGE)


def test_a_spec_user_is_refused_and_the_cli_says_so(node: SwarmNode) -> None:
    """The process executor cannot run a task as another user: the task is rejected with
    a message (the field was ignored), and create (waiting) exits 1 with it."""
    result = node.ctl(
        "service", "create", "--name", "asroot", "--user", "daemon",
        "--restart-condition", "none", IMAGE, "sleep", "300",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rejected: the process executor cannot honour user 'daemon'" in result.stderr
    (row,) = node.tasks("asroot")
    assert row["state"] == "rejected" and "user 'daemon'" in row["error"]


def test_container_options_keep_the_task_pending_and_the_cli_says_why(node: SwarmNode) -> None:
    """A process is no container: no process node can honour --read-only, --cap-drop,
    --ulimit, so the task waits for a node that can (the scheduler's executor filter), and
    create (waiting) exits 1 naming them, never runs it without them."""
    result = node.ctl(
        "service", "create", "--name", "ro", "--read-only", "--cap-drop", "ALL",
        "--ulimit", "nofile=64", "--restart-condition", "none", IMAGE, "sleep", "300",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    reason = (
        "no suitable node (process executor cannot honour --read-only, --cap-drop, --ulimit "
        "on 1 node)"
    )
    assert f"is pending: {reason}" in result.stderr, result.stderr
    (row,) = node.tasks("ro")
    assert row["state"] == "pending" and row["message"] == reason


def test_runtime_options_keep_the_task_pending(node: SwarmNode) -> None:
    """--limit-pids, --oom-score-adj and --log-driver: a process's output stays in the
    node's files (service logs reads it), sent nowhere else; the task waits, saying so."""
    node.ctl_json(
        "service", "create", "--name", "rt", "--limit-pids", "10", "--oom-score-adj", "5",
        "--log-driver", "json-file", "--restart-condition", "none", "--detach", IMAGE,
        "sleep", "300",
    )  # fmt: skip
    reason = (
        "no suitable node (process executor cannot honour --limit-pids, --oom-score-adj, "
        "--log-driver on 1 node)"
    )

    def waiting() -> dict[str, Any] | None:
        rows = node.tasks("rt")
        return rows[0] if len(rows) == 1 and rows[0]["message"] == reason else None

    row = poll(waiting, "the task pending with the executor's reason", 60.0)
    assert row["state"] == "pending", row
