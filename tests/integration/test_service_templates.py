"""Service templates on real ``swarm-node`` processes, driven by the real ``swarmctl``:
``--hostname '{{.Node.Hostname}}-{{.Task.Slot}}'``, ``--env 'NODE={{.Node.ID}}'`` and
``--mount 'type=volume,source=NAME-{{.Task.Slot}},target=/data'`` reach the task's
container expanded for its node (the docker executor, read back from the engine), and its
process's environment (the process executor); a template that cannot expand is refused
when the service is written, naming the field, and one that cannot expand on the node
(a task written before the check) rejects the task saying why."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.worker.executors import make_executor
from actors.worker.executors.process_sandbox import prepare_sandbox
from actors.worker.worker import Worker
from api.objects import NodeDescription
from api.task_state import TaskState
from tests.support.swarm import Swarm, SwarmNode, poll
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import Recorder, make_task, state_is

LONG = 60.0


def _running(node: SwarmNode, service: str, count: int) -> list[dict[str, Any]] | None:
    running = node.running(service)
    return running if len(running) == count else None


@pytest.mark.docker
def test_a_container_gets_its_hostname_env_and_volume_expanded(
    docker_node: SwarmNode, docker_client: Any, test_image: str
) -> None:
    node = docker_node
    volume = f"swarmnode-test-{uuid.uuid4().hex[:12]}"
    try:
        node.ctl_json(
            "service", "create", "--name", "tpl", "--replicas", "2", "--label", "tier=front",
            "--hostname", "{{.Node.Hostname}}-{{.Task.Slot}}",
            "--env", "NODE={{.Node.ID}}",
            "--env", 'TIER={{index .Service.Labels "tier"}}',
            "--env", "NAME={{.Task.Name}}",
            "--env", "PLATFORM={{.Node.Platform.OS}}",
            "--mount", f"type=volume,source={volume}-{{{{.Task.Slot}}}},target=/data",
            "--detach", test_image, "sleep", "300",
        )  # fmt: skip
        tasks = poll(lambda: _running(node, "tpl", 2), "two tasks running", LONG)
        for task in tasks:
            container = docker_client.containers.get(task["container_id"])
            config = container.attrs["Config"]
            slot = task["slot"]
            assert config["Hostname"] == f"m1-{slot}"
            env = set(config["Env"])
            assert f"NODE={node.node_id}" in env
            assert "TIER=front" in env
            assert f"NAME=tpl.{slot}.{task['id']}" in env
            assert "PLATFORM=linux" in env
            (mount,) = container.attrs["Mounts"]
            assert (mount["Name"], mount["Destination"]) == (f"{volume}-{slot}", "/data")
        # the spec keeps the templates as written (Docker's inspect shows them too)
        (inspected,) = node.ctl_json("service", "inspect", "tpl")
        container_spec = inspected["spec"]["task"]["container"]
        assert container_spec["hostname"] == "{{.Node.Hostname}}-{{.Task.Slot}}"
    finally:
        node.ctl("service", "rm", "tpl")
        with contextlib.suppress(AssertionError):
            poll(lambda: _removed(docker_client, volume), "the volumes removed", LONG)


def _removed(client: Any, prefix: str) -> bool:
    left = [v for v in client.volumes.list() if v.name.startswith(prefix)]
    for v in left:
        with contextlib.suppress(Exception):
            v.remove()
    return not left


@pytest.fixture
def process_node(tmp_path: Path) -> Iterator[SwarmNode]:
    with Swarm(tmp_path) as swarm:
        started = swarm.start_node("p1", executor="process")
        started.wait_ready()
        yield started


def test_a_process_gets_its_env_expanded_and_a_bad_template_is_refused(
    process_node: SwarmNode,
) -> None:
    node = process_node
    script = 'echo "seen node=$NODE slot=$SLOT host=$HOST tier=$TIER"; exec sleep 300'
    node.ctl_json(
        "service", "create", "--name", "penv", "--label", "tier=back",
        "--env", "NODE={{.Node.ID}}", "--env", "SLOT={{.Task.Slot}}",
        "--env", "HOST={{.Node.Hostname}}", "--env", "TIER={{.Service.Labels.tier}}",
        "--detach", "busybox", "sh", "-c", script,
    )  # fmt: skip
    poll(lambda: _running(node, "penv", 1), "the task running", LONG)
    expected = f"seen node={node.node_id} slot=1 host=p1 tier=back"
    poll(lambda: expected in node.ctl("service", "logs", "penv").stdout, expected, LONG)

    refused = node.ctl(
        "service", "create", "--name", "bad", "--env", "X={{.Node.Name}}", "busybox", "true"
    )
    assert refused.returncode != 0
    assert "task.container.env[0]: template '{{.Node.Name}}': unknown field .Node.Name" in (
        refused.stderr
    )
    refused = node.ctl(
        "service", "update", "penv", "--env-add", "Y={{.Service.Labels.zone}}", "--detach"
    )
    assert refused.returncode != 0
    assert "the service has no label 'zone'" in refused.stderr


def test_a_template_that_cannot_expand_on_the_node_rejects_the_task(tmp_path: Path) -> None:
    sandbox = prepare_sandbox(
        None, state_dir=tmp_path, node_id="n1", work_root=tmp_path.with_name(tmp_path.name + "-w")
    )
    executor = make_executor(
        "process",
        state_dir=tmp_path,
        node_id="n1",
        sandbox=sandbox,
        description=NodeDescription(hostname="box"),
    )
    worker = Worker.start(executor=executor, state_dir=tmp_path, node_id="n1", reporter=Recorder())
    try:
        proxy = worker.proxy()
        # its service has no label "zone": a task the manager's check did not see
        task = make_task("t1", command=("sleep", "300"), env=("Z={{.Service.Labels.zone}}",))
        proxy.apply_assignments(True, [task], []).get()
        status = wait_for(lambda: state_is(proxy, "t1", TaskState.REJECTED))
        expected = "task.container.env[0]: template '{{.Service.Labels.zone}}': the service has"
        assert f"{expected} no label 'zone'" in status.err, status.err
    finally:
        worker.stop()
