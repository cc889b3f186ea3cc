"""Published ports and mounts through real ``swarm-node`` processes, the real engine and
the real ``swarmctl`` (issue 12 items 3 and 4).

The host reaches a port a task publishes (busybox ``httpd``, read with urllib); two tasks
that publish one port land on different nodes and a third waits, saying why; a port left
to the engine is reported per task; a named volume keeps its data across a task
replacement; a tmpfs mount is a tmpfs; a named volume with a driver's options (local, type=tmpfs) is
created with them and its labels; bind mounts are refused until the cluster allows them.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.httpd import http_get, serving
from tests.support.swarm import CtlError, Swarm, SwarmNode, free_port, poll

pytestmark = pytest.mark.docker
LONG = 60.0


def tasks_where(node: SwarmNode, service: str, state: str) -> list[dict[str, Any]]:
    return [
        t for t in node.tasks(service) if t["state"] == state and t["desired_state"] == "running"
    ]


@pytest.fixture
def node(docker_node: SwarmNode) -> SwarmNode:
    return docker_node


def test_the_host_reaches_a_published_port(node: SwarmNode, test_image: str) -> None:
    port = free_port()
    node.ctl_json(
        "service", "create", "--name", "web", "-p", f"published={port},target=80,mode=host",
        "--detach", test_image, *serving("hello"),
    )  # fmt: skip
    body = poll(lambda: http_get(f"http://127.0.0.1:{port}/"), "the published port", LONG)
    assert body.startswith("hello ")
    (task,) = poll(lambda: tasks_where(node, "web", "running"), "web running", LONG)
    assert task["ports"] == [
        {"protocol": "tcp", "target_port": 80, "published_port": port, "publish_mode": "host"}
    ]
    inspected = node.ctl_json("service", "inspect", "web")
    assert inspected[0]["spec"]["endpoint"]["ports"][0]["published_port"] == port
    table = node.ctl("service", "ps", "web").stdout
    assert "PORTS" in table and f"*:{port}->80/tcp" in table

    # no published port: the engine picks one per task, and the task reports it
    node.ctl_json(
        "service", "update", "web", "--publish-rm", "80", "--publish-add", "target=80,mode=host"
    )  # fmt: skip

    def picked() -> int | None:
        running = tasks_where(node, "web", "running")
        ports = [p["published_port"] for t in running for p in t["ports"]]
        return ports[0] if len(running) == 1 and ports and ports[0] != port else None

    chosen = poll(picked, "a port the engine picked", LONG)
    assert poll(lambda: http_get(f"http://127.0.0.1:{chosen}/"), "the picked port", LONG)


def test_tasks_publishing_one_port_spread_and_a_third_waits(
    tmp_path: Path, docker_client: Any, test_image: str
) -> None:
    with Swarm(tmp_path, docker_client=docker_client, own_addresses=True) as swarm:
        assert swarm.addresses is not None
        hosts = [swarm.addresses.take(), swarm.addresses.take()]
        first = swarm.start_node(
            "m1", executor="docker", listen_host=hosts[0], extra=("--publish-addr", hosts[0])
        )
        first.wait_ready()
        token = first.join_token("worker")
        swarm.start_node(
            "w1",
            executor="docker",
            listen_host=hosts[1],
            extra=(*first.join_args(token), "--publish-addr", hosts[1]),
        )
        swarm.wait_cluster(1, 1)
        port = free_port(hosts[0])
        first.ctl_json(
            "service", "create", "--name", "web", "--replicas", "3",
            "-p", f"published={port},target=80,mode=host", "--detach", test_image,
            *serving("spread"),
        )  # fmt: skip

        def placed() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
            running = tasks_where(first, "web", "running")
            pending = tasks_where(first, "web", "pending")
            return (running, pending) if len(running) == 2 and len(pending) == 1 else None

        running, (waiting,) = poll(placed, "two running, one pending", LONG)
        assert {t["node"] for t in running} == {"m1", "w1"}
        assert f"host port {port}/tcp in use on 2 nodes" in waiting["message"]
        for host in hosts:
            body = poll(lambda h=host: http_get(f"http://{h}:{port}/"), f"{host}:{port}", LONG)
            assert body.startswith("spread ")
        assert "host port" in first.ctl("service", "ps", "web").stdout


def test_a_named_volume_outlives_its_task(
    node: SwarmNode, docker_client: Any, test_image: str
) -> None:
    volume = f"swarmnode-test-{uuid.uuid4().hex[:12]}"
    script = (
        "if [ -f /data/first ]; then cp /data/first /data/seen; "
        "else hostname > /data/first; fi; exec sleep 300"
    )
    try:
        node.ctl_json(
            "service", "create", "--name", "db", "--mount", f"source={volume},target=/data",
            "--detach", test_image, "sh", "-c", script,
        )  # fmt: skip
        (first,) = poll(lambda: tasks_where(node, "db", "running"), "db running", LONG)
        node.ctl_json("service", "update", "db", "--force")  # a new task, a new container

        def replaced() -> dict[str, Any] | None:
            running = tasks_where(node, "db", "running")
            return running[0] if running and running[0]["id"] != first["id"] else None

        second = poll(replaced, "the replacement running", LONG)
        container = docker_client.containers.get(second["container_id"])
        seen = poll(
            lambda: container.exec_run(["cat", "/data/seen"]).output.decode().strip(),
            "the first task's data seen by the second",
            LONG,
        )
        assert seen == first["container_id"][:12]  # a container's hostname is its short id
        assert docker_client.volumes.get(volume).name == volume
    finally:
        node.ctl("service", "rm", "db")
        with contextlib.suppress(AssertionError):
            poll(lambda: _remove_volume(docker_client, volume), "the volume removed", LONG)


def test_a_named_volume_is_created_with_its_driver_options_and_labels(
    node: SwarmNode, docker_client: Any, test_image: str
) -> None:
    volume = f"swarmnode-test-{uuid.uuid4().hex[:12]}"
    mount = (
        f"type=volume,source={volume},target=/d,volume-driver=local,volume-opt=type=tmpfs,"
        "volume-opt=device=tmpfs,volume-label=team=web"
    )
    try:
        node.ctl_json(
            "service", "create", "--name", "scratch", "--mount", mount, "--detach",
            test_image, "sleep", "300",
        )  # fmt: skip
        (task,) = poll(lambda: tasks_where(node, "scratch", "running"), "scratch running", LONG)
        created = docker_client.volumes.get(volume).attrs
        assert created["Driver"] == "local"
        assert created["Options"] == {"type": "tmpfs", "device": "tmpfs"}
        assert created["Labels"] == {"team": "web"}
        container = docker_client.containers.get(task["container_id"])
        mounts = container.exec_run(["cat", "/proc/mounts"]).output.decode().splitlines()
        assert any(line.split()[1:3] == ["/d", "tmpfs"] for line in mounts), mounts
        shown = node.ctl("service", "inspect", "scratch").stdout
        assert "driver local type=tmpfs device=tmpfs" in shown, shown
    finally:
        node.ctl("service", "rm", "scratch")
        with contextlib.suppress(AssertionError):
            poll(lambda: _remove_volume(docker_client, volume), "the volume removed", LONG)


def test_a_volume_driver_the_node_lacks_fails_the_task_saying_so(
    node: SwarmNode, test_image: str
) -> None:
    driver = "swarmnode-no-such-driver"
    mount = f"source=swarmnode-test-nodriver,target=/d,volume-driver={driver}"
    try:
        node.ctl_json(
            "service", "create", "--name", "nodriver", "--mount", mount, "--detach",
            "--restart-condition", "none", test_image, "sleep", "300",
        )  # fmt: skip

        def failed() -> list[dict[str, Any]]:
            return [t for t in node.tasks("nodriver") if t["state"] in ("rejected", "failed")]

        (task,) = poll(failed, "the task failed", LONG)
        assert "create volume swarmnode-test-nodriver" in task["error"], task
        assert driver in task["error"], task
    finally:
        node.ctl("service", "rm", "nodriver")


def test_a_stacks_volume_is_made_with_the_files_driver_options(
    node: SwarmNode, docker_client: Any, test_image: str, tmp_path: Path
) -> None:
    volume = f"swarmnode-test-{uuid.uuid4().hex[:12]}"
    compose = tmp_path / "compose.yml"
    compose.write_text(
        f"services:\n  app:\n    image: {test_image}\n    command: [sleep, '300']\n"
        "    volumes: [{type: volume, source: scratch, target: /s, volume: {nocopy: true}}]\n"
        f"volumes:\n  scratch:\n    name: {volume}\n"
        "    driver_opts: {type: tmpfs, device: tmpfs}\n    labels: {team: web}\n"
    )
    try:
        node.ctl("stack", "deploy", "-c", str(compose), "vs")
        (task,) = poll(lambda: tasks_where(node, "vs_app", "running"), "vs_app running", LONG)
        made = docker_client.volumes.get(volume).attrs
        assert made["Options"] == {"type": "tmpfs", "device": "tmpfs"}
        assert made["Labels"] == {"team": "web", "com.docker.stack.namespace": "vs"}
        container = docker_client.containers.get(task["container_id"])
        mounts = container.exec_run(["cat", "/proc/mounts"]).output.decode().splitlines()
        assert any(line.split()[1:3] == ["/s", "tmpfs"] for line in mounts), mounts
    finally:
        node.ctl("stack", "rm", "vs")
        with contextlib.suppress(AssertionError):
            poll(lambda: _remove_volume(docker_client, volume), "the volume removed", LONG)


def _remove_volume(docker_client: Any, name: str) -> bool:
    try:
        docker_client.volumes.get(name).remove()
    except Exception as exc:  # still in use by a container being removed
        return "no such volume" in str(exc).lower()
    return True


def test_bind_mounts_are_refused_until_allowed(
    node: SwarmNode, docker_client: Any, test_image: str, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note").write_text("from the host\n")
    args = (
        "--mount", f"type=bind,source={shared},target=/host,readonly",
        "--mount", "type=tmpfs,target=/scratch", "--detach",
    )  # fmt: skip
    with pytest.raises(CtlError) as refused:
        node.ctl_json("service", "create", "--name", "files", *args, test_image, "sleep", "300")
    assert "--allow-bind-mounts" in refused.value.result.stderr

    node.ctl_json("cluster", "update", "--allow-bind-mounts")
    node.ctl_json("service", "create", "--name", "files", *args, test_image, "sleep", "300")
    (task,) = poll(lambda: tasks_where(node, "files", "running"), "files running", LONG)
    container = docker_client.containers.get(task["container_id"])
    assert container.exec_run(["cat", "/host/note"]).output == b"from the host\n"
    assert container.exec_run(["touch", "/host/x"]).exit_code != 0  # readonly
    mounts = container.exec_run(["cat", "/proc/mounts"]).output.decode().splitlines()
    assert any(line.split()[1:3] == ["/scratch", "tmpfs"] for line in mounts), mounts
    assert container.exec_run(["touch", "/scratch/x"]).exit_code == 0

    with pytest.raises(CtlError) as in_use:
        node.ctl_json("cluster", "update", "--allow-bind-mounts=false")
    assert "files" in in_use.value.result.stderr
