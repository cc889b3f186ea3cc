"""Networks through real ``swarm-node`` processes, the real engine and the real
``swarmctl`` (issue 12 item 5), and what the process executor cannot honour.

Tasks on one node reach each other by service name (and by alias) on a network they
share; the node's bridge is made with the first task that needs it and removed with the
last; a network in use cannot be removed. Across nodes there is no network: each node has
its own bridge, and a task does not resolve a service that runs only on another node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.worker.executors.docker_config import LABEL_NETWORK_ID
from tests.support.httpd import fetch, lookup, serving
from tests.support.swarm import CtlError, Swarm, SwarmNode, poll

pytestmark = pytest.mark.docker
LONG = 60.0


def running_task(node: SwarmNode, service: str) -> dict[str, Any]:
    def one() -> dict[str, Any] | None:
        rows = [t for t in node.tasks(service) if t["state"] == "running"]
        return rows[0] if len(rows) == 1 else None

    found: dict[str, Any] = poll(one, f"{service} running", LONG)
    return found


def engine_networks(docker_client: Any, network_id: str) -> list[Any]:
    return list(docker_client.networks.list(filters={"label": f"{LABEL_NETWORK_ID}={network_id}"}))


@pytest.fixture
def node(docker_node: SwarmNode) -> SwarmNode:
    return docker_node


@pytest.mark.usefixtures("engine_dns_steady")
@pytest.mark.timeout(600)  # a wait for the swarm-mode benches, then the test
def test_tasks_on_one_node_reach_each_other_by_service_name(
    node: SwarmNode, docker_client: Any, test_image: str
) -> None:
    network_id = node.ctl_json("network", "create", "backend")["id"]
    assert not engine_networks(docker_client, network_id)  # made on first use
    node.ctl_json(
        "service", "create", "--name", "db", "--network", "name=backend,alias=database",
        "--detach", test_image, *serving("db answers"),
    )  # fmt: skip
    node.ctl_json(
        "service", "create", "--name", "web", "--network", "backend", "--detach",
        test_image, "sleep", "300",
    )  # fmt: skip
    web = running_task(node, "web")
    running_task(node, "db")
    for name in ("db", "database"):
        answer = poll(
            lambda n=name: (r := fetch(docker_client, web, n))[0] == 0 and r[1],
            f"web reaches {name}",
            LONG,
            describe=lambda n=name: (fetch(docker_client, web, n), lookup(docker_client, web, n)),
        )
        assert answer.startswith("db answers ")
    (bridge,) = engine_networks(docker_client, network_id)
    assert bridge.name.startswith("backend-")
    assert node.ctl_json("network", "ls")[0]["services"] == 2
    assert "Networks" in node.ctl("service", "inspect", "web").stdout
    (inspected,) = node.ctl_json("network", "inspect", "backend")
    assert inspected["id"] == network_id and inspected["spec"]["name"] == "backend"
    assert "db, web" in node.ctl("network", "inspect", network_id[:8]).stdout  # Used by

    with pytest.raises(CtlError) as refused:
        node.ctl_json("network", "rm", "backend")
    assert "in use by services db, web" in refused.value.result.stderr

    node.ctl_json("service", "rm", "db", "web")
    poll(lambda: not engine_networks(docker_client, network_id), "the bridge removed", LONG)
    poll(lambda: node.ctl_json("network", "rm", "backend") == [network_id], "network rm", LONG)
    assert node.ctl_json("network", "ls") == []


@pytest.mark.usefixtures("engine_dns_steady")
@pytest.mark.timeout(600)  # a wait for the swarm-mode benches, then the test
def test_across_nodes_there_is_no_network(
    tmp_path: Path, docker_client: Any, test_image: str
) -> None:
    with Swarm(tmp_path, docker_client=docker_client) as swarm:
        first = swarm.start_node("m1", executor="docker")
        first.wait_ready()
        swarm.join("w1", first, first.join_token("worker"), executor="docker")
        swarm.wait_cluster(1, 1)
        network_id = first.ctl_json("network", "create", "backend")["id"]
        first.ctl_json(
            "service", "create", "--name", "db", "--network", "backend",
            "--constraint", "node.hostname==m1", "--detach", test_image, *serving("db"),
        )  # fmt: skip
        first.ctl_json(
            "service", "create", "--name", "client", "--network", "backend",
            "--constraint", "node.hostname==w1", "--detach", test_image, "sleep", "300",
        )  # fmt: skip
        client = running_task(first, "client")
        running_task(first, "db")
        assert len(engine_networks(docker_client, network_id)) == 2  # a bridge per node
        # its own name resolves (polled: under load the engine's DNS can answer a first
        # query after the container runs with "bad address", as the web test's)
        poll(
            lambda: fetch(docker_client, client, "client")[0] != 2,
            "client resolves its own name",
            LONG,
            describe=lambda: lookup(docker_client, client, "client"),
        )
        code, _ = fetch(docker_client, client, "db")
        assert code == 2  # db runs on the other node: its name does not resolve here


def test_ports_mounts_and_networks_wait_for_a_node_that_can_honour_them(
    tmp_path: Path,
) -> None:
    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1", executor="process")
        node.wait_ready()
        node.ctl_json("network", "create", "backend")
        node.ctl_json(
            "service", "create", "--name", "web", "-p", "8080:80", "--network", "backend",
            "--mount", "source=data,target=/data", "--restart-condition", "none",
            "--detach", "img", "sleep", "300",
        )  # fmt: skip
        reason = (
            "no suitable node (process executor cannot honour --publish, --mount, "
            "--network on 1 node)"
        )

        def waiting() -> dict[str, Any] | None:
            rows = [t for t in node.tasks("web") if t["message"] == reason]
            return rows[0] if rows else None

        task = poll(waiting, "the task pending with the executor's reason", LONG)
        assert task["state"] == "pending"
