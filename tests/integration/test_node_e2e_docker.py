"""One real ``swarm-node`` with the ``docker`` executor on the real engine, driven by the
real ``swarmctl``: the flows of tests/integration/node_flows.py with containers of the
local test image (named ``<service>.<slot>.<task id>``, labelled with task, service and
node ids)."""

from __future__ import annotations

from typing import Any

import pytest

from actors.worker.executors.docker_config import (
    LABEL_NODE_ID,
    LABEL_SERVICE_ID,
    LABEL_SLOT,
    LABEL_TASK_ID,
)
from tests.integration import node_flows
from tests.support.swarm import SwarmNode, node_containers, poll


class DockerRuntime:
    def __init__(self, client: Any, image: str) -> None:
        self.client = client
        self.image = image

    def live_ids(self, node: SwarmNode) -> set[str]:
        return {c.id for c in node_containers(self.client, node.node_id, all=False)}

    def kill(self, node: SwarmNode, container_id: str) -> None:
        self.client.containers.get(container_id).kill()

    def check_task(self, node: SwarmNode, row: dict[str, Any]) -> None:
        container = self.client.containers.get(row["container_id"])
        assert container.name == f"{row['service_name']}.{row['slot']}.{row['id']}"
        labels = container.labels
        assert labels[LABEL_TASK_ID] == row["id"]
        assert labels[LABEL_SERVICE_ID] == row["service_id"]
        assert labels[LABEL_NODE_ID] == node.node_id
        assert labels[LABEL_SLOT] == str(row["slot"])
        assert container.status == "running"


@pytest.fixture
def runtime(docker_client: Any, test_image: str) -> DockerRuntime:
    return DockerRuntime(docker_client, test_image)


@pytest.fixture
def node(docker_node: SwarmNode) -> SwarmNode:
    return docker_node


def test_replicas_scale_and_rm(node: SwarmNode, runtime: DockerRuntime) -> None:
    node_flows.replicas_scale_and_rm(node, runtime)
    poll(  # removed, not just stopped (the worker removes a container after stopping it)
        lambda: not node_containers(runtime.client, node.node_id),
        "the containers removed",
        node_flows.LONG,
    )


def test_killed_container_is_replaced_in_its_slot(node: SwarmNode, runtime: DockerRuntime) -> None:
    node_flows.killed_task_is_replaced(node, runtime)


def test_drain_and_activate(node: SwarmNode, runtime: DockerRuntime) -> None:
    node_flows.drain_and_activate(node, runtime)


def test_unsatisfiable_constraint_waits_for_a_label(
    node: SwarmNode, runtime: DockerRuntime
) -> None:
    node_flows.constraint_until_label(node, runtime)


def test_manager_restart_recovers_and_readopts(node: SwarmNode, runtime: DockerRuntime) -> None:
    node_flows.restart_keeps_tasks(node, runtime, how=("term", "kill"))
