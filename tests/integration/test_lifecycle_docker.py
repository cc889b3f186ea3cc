"""A service's lifecycle on the real engine (issue 10 items 1-5): monitored updates that
roll back, manual rollbacks and history, healthchecks that gate and replace, through the
real swarmctl on one ``swarm-node --executor docker`` (tests/integration/lifecycle_flows.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration import lifecycle_flows as flows
from tests.support.swarm import Swarm, SwarmNode


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, test_image: str
) -> Iterator[SwarmNode]:
    with Swarm(tmp_path_factory.mktemp("lifecycle"), docker_client=docker_client) as swarm:
        started = swarm.start_node("m1", executor="docker")
        started.wait_ready()
        yield started


def test_a_failing_update_rolls_back_and_the_cli_says_why(node: SwarmNode, test_image: str) -> None:
    flows.failing_update_rolls_back(node, test_image)


def test_manual_rollbacks_and_history(node: SwarmNode, test_image: str) -> None:
    flows.manual_rollbacks_and_history(node, test_image)


def test_unhealthy_containers_are_replaced(node: SwarmNode, test_image: str) -> None:
    flows.unhealthy_tasks_are_replaced(node, test_image)


def test_health_gates_an_update(node: SwarmNode, test_image: str) -> None:
    flows.health_gates_an_update(node, test_image)


def test_swarmctl_leaves_no_transport_warnings(node: SwarmNode) -> None:
    flows.quiet_log(node)
