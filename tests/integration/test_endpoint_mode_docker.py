"""``--endpoint-mode dnsrr`` through the real ``docker`` CLI against a real ``swarm-node
--engine-api`` on the real engine: create, inspect, update, Docker's refusals; and, from
another task on the same network, the service's name resolving to its tasks' addresses
(the engine's DNS, in both modes: there is no virtual IP here)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from api.endpoint_mode import INGRESS_WITH_DNSRR
from tests.support.engine_cli import DockerCli, start_engine_manager
from tests.support.swarm import CtlError, Swarm, SwarmNode, free_port, poll

pytestmark = pytest.mark.docker
LONG = 60.0
_ADDRESS = re.compile(r"^Address:\s+(\d+\.\d+\.\d+\.\d+)$", re.MULTILINE)  # not the server's


class Engine:
    def __init__(self, node: SwarmNode, docker: DockerCli) -> None:
        self.node = node
        self.docker = docker


@pytest.fixture(scope="module")
def engine(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, test_image: str
) -> Iterator[Engine]:
    tmp = tmp_path_factory.mktemp("endpoint-mode")
    sock = tmp / "engine.sock"
    with Swarm(tmp, docker_client=docker_client) as swarm:
        node = start_engine_manager(swarm, sock)
        yield Engine(node, DockerCli(sock, cwd=tmp))


def spec_of(node: SwarmNode, service: str) -> dict[str, Any]:
    [found] = node.ctl_json("service", "inspect", service)
    spec: dict[str, Any] = found["spec"]
    return spec


def test_docker_service_create_inspect_update_with_dnsrr(engine: Engine, test_image: str) -> None:
    docker, node = engine.docker, engine.node
    docker.ok(
        "service", "create", "-d", "--name", "db", "--endpoint-mode", "dnsrr",
        test_image, "sleep", "600",
    )  # fmt: skip
    [shown] = docker.inspect("service", "inspect", "db")
    assert shown["Spec"]["EndpointSpec"]["Mode"] == "dnsrr"
    assert shown["Endpoint"]["Spec"]["Mode"] == "dnsrr"
    assert spec_of(node, "db")["endpoint"]["mode"] == "dnsrr"
    pretty = docker.ok("service", "inspect", "--pretty", "db")
    assert re.search(r"Endpoint Mode:\s+dnsrr", pretty), pretty

    # the routing mesh cannot carry a dnsrr service: SwarmKit's refusal, in its words
    assert INGRESS_WITH_DNSRR in docker.fails(
        "service", "create", "-d", "--name", "meshed", "--endpoint-mode", "dnsrr",
        "-p", "8080:80", test_image, "sleep", "600",
    )  # fmt: skip
    assert INGRESS_WITH_DNSRR in docker.fails(
        "service", "update", "-d", "--publish-add", "80", "db"
    )
    # a port on the nodes that run the tasks is fine
    port = free_port()
    docker.ok(
        "service", "create", "-d", "--name", "hosted", "--endpoint-mode", "dnsrr",
        "--publish", f"mode=host,target=80,published={port}", test_image, "sleep", "600",
    )  # fmt: skip
    [hosted] = docker.inspect("service", "inspect", "hosted")
    assert hosted["Spec"]["EndpointSpec"]["Mode"] == "dnsrr"
    [published] = hosted["Endpoint"]["Ports"]
    assert (published["PublishedPort"], published["PublishMode"]) == (port, "host")

    # service update --endpoint-mode, both ways; to dnsrr is checked against the ports
    docker.ok("service", "update", "-d", "--endpoint-mode", "vip", "db")
    assert spec_of(node, "db")["endpoint"]["mode"] == "vip"
    docker.update_rolled("db", "--publish-add", "8080:80")
    assert INGRESS_WITH_DNSRR in docker.fails(
        "service", "update", "-d", "--endpoint-mode", "dnsrr", "db"
    )
    docker.update_rolled("db", "--endpoint-mode", "dnsrr", "--publish-rm", "80")
    [updated] = docker.inspect("service", "inspect", "db")
    endpoint = updated["Spec"]["EndpointSpec"]
    assert (endpoint["Mode"], endpoint.get("Ports")) == ("dnsrr", None)  # no port left
    # the CLI lowercases a create's value, not an update's: dockerd's words for the rest
    assert 'invalid resolution mode: "DNSRR"' in docker.fails(
        "service", "update", "-d", "--endpoint-mode", "DNSRR", "db"
    )
    assert 'invalid resolution mode: "rr"' in docker.fails(
        "service", "create", "-d", "--name", "rr", "--endpoint-mode", "rr", test_image
    )
    docker.ok("service", "rm", "db", "hosted")


def test_swarmctl_takes_the_same_flag_with_the_same_words(engine: Engine, test_image: str) -> None:
    node = engine.node
    with pytest.raises(CtlError) as refused:
        node.ctl_json(
            "service", "create", "--name", "meshed", "--endpoint-mode", "dnsrr",
            "-p", "8080:80", "--detach", test_image,
        )  # fmt: skip
    assert INGRESS_WITH_DNSRR in refused.value.result.stderr
    node.ctl_json(
        "service", "create", "--name", "ctl", "--endpoint-mode", "DNSRR", "--detach",
        test_image, "sleep", "600",
    )  # fmt: skip
    assert spec_of(node, "ctl")["endpoint"]["mode"] == "dnsrr"
    assert re.search(r"Mode:\s+dnsrr", node.ctl("service", "inspect", "ctl").stdout)
    node.ctl_json("service", "update", "--endpoint-mode", "vip", "--detach", "ctl")
    assert spec_of(node, "ctl")["endpoint"]["mode"] == "vip"
    with pytest.raises(CtlError) as bad:
        node.ctl_json("service", "update", "--endpoint-mode", "rr", "--detach", "ctl")
    assert 'invalid resolution mode: "rr"' in bad.value.result.stderr
    node.ctl_json("service", "rm", "ctl")


def _container_ip(docker_client: Any, task: dict[str, Any], network_prefix: str) -> str:
    info = docker_client.api.inspect_container(task["container_id"])
    networks = info["NetworkSettings"]["Networks"]
    [address] = [v["IPAddress"] for k, v in networks.items() if k.startswith(network_prefix)]
    return str(address)


def _resolved(docker_client: Any, task: dict[str, Any], name: str) -> set[str]:
    container = docker_client.containers.get(task["container_id"])
    output = container.exec_run(["nslookup", name]).output.decode()
    return set(_ADDRESS.findall(output))


@pytest.mark.usefixtures("engine_dns_steady")
@pytest.mark.timeout(600)  # a wait for the swarm-mode benches, then the test
def test_a_dnsrr_services_name_resolves_to_its_tasks_addresses(
    engine: Engine, docker_client: Any, test_image: str
) -> None:
    docker, node = engine.docker, engine.node
    node.ctl_json("network", "create", "backend")
    docker.ok(
        "service", "create", "-d", "--name", "pg", "--endpoint-mode", "dnsrr",
        "--replicas", "2", "--network", "backend", test_image, "sleep", "600",
    )  # fmt: skip
    docker.ok(
        "service", "create", "-d", "--name", "client", "--network", "backend",
        test_image, "sleep", "600",
    )  # fmt: skip
    pgs = poll(lambda: len(r := node.running("pg")) == 2 and r, "pg's 2 tasks", LONG)
    [client] = poll(lambda: node.running("client") or None, "client running", LONG)
    addresses = {_container_ip(docker_client, t, "backend-") for t in pgs}
    assert len(addresses) == 2
    poll(
        lambda: _resolved(docker_client, client, "pg") == addresses,
        "pg resolving to its tasks' addresses",
        LONG,
        describe=lambda: (addresses, _resolved(docker_client, client, "pg")),
    )
    assert _resolved(docker_client, client, "tasks.pg") == addresses  # in both modes, as Docker

    # vip: there is no virtual IP here, the same answer (the change replaces no task)
    docker.ok("service", "update", "-d", "--endpoint-mode", "vip", "pg")
    assert spec_of(node, "pg")["endpoint"]["mode"] == "vip"
    assert _resolved(docker_client, client, "pg") == addresses
    assert _resolved(docker_client, client, "tasks.pg") == addresses
    docker.ok("service", "rm", "pg", "client")
    poll(lambda: node.ctl_json("network", "rm", "backend"), "network rm", LONG)
