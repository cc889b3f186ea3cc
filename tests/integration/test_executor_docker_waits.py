"""How a worker on the Docker executor notices that a running task's container stopped,
on the real engine: killed or removed outside swarmnode, exited by itself, killed for
memory."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.specs import ResourceRequirements, Resources
from api.task_state import TaskState
from tests.support.docker_worker import docker_worker, new_node_id, remove_containers
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import make_task, state_is

pytestmark = pytest.mark.docker
S = TaskState
# waits in the container until the test creates /tmp/go, then runs the rest
GATED = "while [ ! -f /tmp/go ]; do sleep 0.1; done; "


@pytest.fixture
def node_id() -> str:
    return new_node_id()


@pytest.fixture
def worker(tmp_path: Path, node_id: str, docker_client: Any) -> Iterator[Any]:
    try:
        with docker_worker(tmp_path, node_id, docker_client) as ref:
            yield ref
    finally:
        remove_containers(docker_client, node_id)


def running_task(worker: Any, node_id: str, image: str, script: str, **spec: Any) -> Any:
    task = make_task(
        uuid.uuid4().hex[:25], image=image, command=("sh", "-c", script), node_id=node_id, grace=1.0
    )
    if spec:
        task = dataclasses.replace(task, spec=dataclasses.replace(task.spec, **spec))
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    status = wait_for(lambda: state_is(proxy, task.id, S.RUNNING), what="running", timeout=60)
    return task, status.container_status.container_id


def finished(worker: Any, task_id: str) -> Any:
    return wait_for(
        lambda: state_is(worker.proxy(), task_id, S.COMPLETE, S.FAILED),
        what="the task's end noticed",
        timeout=60,
    )


def go(docker_client: Any, container_id: str) -> None:
    exec_id = docker_client.api.exec_create(container_id, ["touch", "/tmp/go"])
    docker_client.api.exec_start(exec_id)


def test_a_container_killed_outside_swarmnode_fails_its_task(
    worker: Any, node_id: str, test_image: str, docker_client: Any
) -> None:
    task, container = running_task(worker, node_id, test_image, "sleep 300")
    docker_client.api.kill(container)
    status = finished(worker, task.id)
    assert status.state is S.FAILED
    assert status.container_status.exit_code == 137
    assert status.err == "task: non-zero exit (137)"


@pytest.mark.parametrize(("code", "state"), [(0, S.COMPLETE), (5, S.FAILED)])
def test_a_container_that_exits_by_itself_while_running(
    worker: Any, node_id: str, test_image: str, docker_client: Any, code: int, state: TaskState
) -> None:
    task, container = running_task(worker, node_id, test_image, f"{GATED}exit {code}")
    go(docker_client, container)
    status = finished(worker, task.id)
    assert status.state is state
    assert status.container_status.exit_code == code


def test_a_container_removed_outside_swarmnode_fails_its_task(
    worker: Any, node_id: str, test_image: str, docker_client: Any
) -> None:
    task, container = running_task(worker, node_id, test_image, "sleep 300")
    docker_client.api.remove_container(container, force=True)
    status = finished(worker, task.id)
    assert status.state is S.FAILED
    assert status.container_status.exit_code == 137
    assert status.err == "task: non-zero exit (137)"


def test_a_container_killed_for_memory_says_so(
    worker: Any, node_id: str, test_image: str, docker_client: Any
) -> None:
    limits = ResourceRequirements(limits=Resources(memory_bytes=16 * 1024 * 1024))
    hog = "x=$(head -c 128m /dev/zero | tr '\\0' a)"
    task, container = running_task(worker, node_id, test_image, f"{GATED}{hog}", resources=limits)
    go(docker_client, container)
    status = finished(worker, task.id)
    assert status.state is S.FAILED
    assert status.container_status.exit_code == 137
    assert docker_client.api.inspect_container(container)["State"]["OOMKilled"]
    assert status.err == "task: non-zero exit (137): out of memory (OOM killed)"
