"""A service's lifecycle with the process executor (issue 10 items 1, 3, 5): the flows of
tests/integration/lifecycle_flows.py as local processes (healthchecks run by the executor
itself, with Docker's semantics), and the spec fields a process cannot honour refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration import lifecycle_flows as flows
from tests.support.swarm import Swarm, SwarmNode

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


def test_container_options_are_refused_by_their_flags(node: SwarmNode) -> None:
    """A process is no container: --read-only, --cap-drop, --ulimit... reject the task
    naming them, never run it without them."""
    result = node.ctl(
        "service", "create", "--name", "ro", "--read-only", "--cap-drop", "ALL",
        "--ulimit", "nofile=64", "--restart-condition", "none", IMAGE, "sleep", "300",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "rejected: the process executor cannot honour --read-only, --cap-drop, --ulimit "
        "(a process is no container" in result.stderr
    ), result.stderr
    (row,) = node.tasks("ro")
    assert row["state"] == "rejected" and "--read-only" in row["error"]


def test_runtime_options_are_refused_by_their_flags(node: SwarmNode) -> None:
    """--limit-pids, --oom-score-adj and --log-driver reject the task naming them: a
    process's output stays in the node's files (service logs reads it), sent nowhere else."""
    result = node.ctl(
        "service", "create", "--name", "rt", "--limit-pids", "10", "--oom-score-adj", "5",
        "--log-driver", "json-file", "--restart-condition", "none", IMAGE, "sleep", "300",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    for named in (
        "a PIDs limit (--limit-pids)",
        "an OOM score adjustment (--oom-score-adj)",
        "logging driver 'json-file' (a process's output stays in the node's own files)",
    ):
        assert named in result.stderr, result.stderr
    (row,) = node.tasks("rt")
    assert row["state"] == "rejected" and "--limit-pids" in row["error"]
