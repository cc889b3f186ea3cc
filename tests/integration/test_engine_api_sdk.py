"""The docker Python SDK against a real ``swarm-node --engine-api unix://...`` on the real
engine (issue 13 item 2): ``client.services``, ``client.nodes``, ``client.secrets``, each
result checked through ``swarmctl``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest
from docker.types import ServiceMode

from actors.engine_api.versions import API_VERSION
from tests.support.engine_cli import start_engine_manager
from tests.support.swarm import Swarm, SwarmNode
from tests.support.waiting import wait_for

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def node_and_client(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, test_image: str
) -> Iterator[tuple[SwarmNode, docker.DockerClient]]:
    tmp = tmp_path_factory.mktemp("engine-sdk")
    sock = tmp / "engine.sock"
    with Swarm(tmp, docker_client=docker_client) as swarm:
        node = start_engine_manager(swarm, sock)
        client = docker.DockerClient(base_url=f"unix://{sock}", version="auto", timeout=30)
        try:
            yield node, client
        finally:
            client.close()


def inspect(node: SwarmNode, kind: str, ref: str) -> Any:
    [found] = node.ctl_json(kind, "inspect", ref)
    return found


def running(node: SwarmNode, service: str) -> int:
    return sum(1 for r in node.tasks(service) if r["state"] == "running")


def test_version_is_negotiated(node_and_client: tuple[SwarmNode, docker.DockerClient]) -> None:
    _node, client = node_and_client
    assert client.api.api_version == API_VERSION
    assert client.info()["Swarm"]["ControlAvailable"] is True


def test_nodes(node_and_client: tuple[SwarmNode, docker.DockerClient]) -> None:
    node, client = node_and_client
    [listed] = client.nodes.list()
    assert listed.id == node.node_id
    assert client.nodes.list(filters={"role": "manager"})
    assert not client.nodes.list(filters={"role": "worker"})
    got = client.nodes.get("m1")
    spec = dict(got.attrs["Spec"], Labels={"disk": "ssd"})
    assert got.update(spec)
    assert inspect(node, "node", "m1")["spec"]["labels"] == {"disk": "ssd"}
    with pytest.raises(docker.errors.NotFound):
        client.nodes.get("nope")


def test_services(node_and_client: tuple[SwarmNode, docker.DockerClient], test_image: str) -> None:
    node, client = node_and_client
    service = client.services.create(
        test_image,
        ["sleep", "600"],
        name="sdk",
        env=["A=1"],
        labels={"made-by": "sdk"},
        mode=ServiceMode("replicated", replicas=1),
    )
    wait_for(lambda: running(node, "sdk") == 1, "sdk running", timeout=60)
    spec = inspect(node, "service", "sdk")["spec"]
    assert spec["labels"] == {"made-by": "sdk"}
    assert spec["task"]["container"]["env"] == ["A=1"]
    assert [s.name for s in client.services.list(filters={"label": "made-by=sdk"})] == ["sdk"]
    assert not client.services.list(filters={"name": "other"})

    old_version = client.services.get("sdk").version
    assert service.scale(2)
    wait_for(lambda: running(node, "sdk") == 2, "sdk scaled to 2", timeout=60)
    service.reload()
    service.update(env=["A=2"])
    assert inspect(node, "service", "sdk")["spec"]["task"]["container"]["env"] == ["A=2"]
    wait_for(lambda: running(node, "sdk") == 2, "sdk updated", timeout=60)
    tasks = wait_for(
        lambda: [
            t
            for t in service.tasks(filters={"desired-state": "running"})
            if t["Status"]["State"] == "running"
        ],
        "two running tasks through the SDK",
        timeout=60,
    )
    assert {t["ServiceID"] for t in tasks} == {service.id}
    # a listed task is whole, as inspect shows it: its own spec and version, not a row
    for listed in tasks:
        # (the rolling update may still be replacing the tasks of the first spec)
        assert listed["Spec"]["ContainerSpec"]["Env"] in (["A=1"], ["A=2"])
        assert listed["Version"]["Index"] > 0
        inspected = client.api.inspect_task(listed["ID"])
        assert listed.keys() == inspected.keys() and listed["Spec"] == inspected["Spec"]

    # a write naming a version the service has moved past is refused, not applied
    spec_now = client.api.inspect_service("sdk")["Spec"]
    with pytest.raises(docker.errors.APIError) as stale:
        client.api.update_service(
            service.id, old_version, task_template=spec_now["TaskTemplate"], name="sdk"
        )
    assert stale.value.status_code == 409
    assert inspect(node, "service", "sdk")["spec"]["task"]["container"]["env"] == ["A=2"]

    with pytest.raises(docker.errors.NotFound):
        client.services.get("nope")
    service.remove()
    wait_for(lambda: node.ctl("service", "inspect", "sdk").returncode, "sdk gone", timeout=60)


def test_secrets(node_and_client: tuple[SwarmNode, docker.DockerClient]) -> None:
    node, client = node_and_client
    secret = client.secrets.create(name="sdkpw", data=b"hunter2", labels={"a": "b"})
    assert [s.id for s in client.secrets.list()] == [secret.id]
    assert client.secrets.list(filters={"name": "sdk"})
    got = client.secrets.get(secret.id)
    assert got.name == "sdkpw" and "Data" not in got.attrs["Spec"]
    assert [r["name"] for r in node.ctl_json("secret", "ls")] == ["sdkpw"]
    with pytest.raises(docker.errors.APIError) as taken:
        client.secrets.create(name="sdkpw", data=b"other")
    assert taken.value.status_code == 409
    got.remove()
    assert node.ctl_json("secret", "ls") == []
