"""The Docker executor and the worker against the real engine (the test image; pulls from
a registry: tests/integration/test_registry_pull.py)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.worker.executors.base import ContainerExistsError
from actors.worker.executors.docker import DockerExecutor, engine_available
from actors.worker.executors.docker_config import LABEL_NODE_ID, LABEL_SERVICE_ID, LABEL_TASK_ID
from actors.worker.state import WORKER_DIR, WorkerStateFile
from actors.worker.worker import Worker
from api.specs import HealthConfig
from api.task_state import TaskState
from tests.support import docker_worker as workers
from tests.support.docker_worker import remove_containers
from tests.support.task_exit import wait_exit
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import make_task, state_is

pytestmark = pytest.mark.docker
S = TaskState


node_id, worker = workers.node_id, workers.worker  # the fixtures


@pytest.fixture
def cleanup(docker_client: Any, node_id: str) -> Iterator[None]:
    yield
    remove_containers(docker_client, node_id)


def tid() -> str:
    return uuid.uuid4().hex[:25]


def test_engine_available() -> None:
    assert engine_available()


def test_sleep_runs_in_a_labelled_correctly_named_container(
    worker: Any, test_image: str, node_id: str, docker_client: Any
) -> None:
    task = make_task(
        tid(),
        image=test_image,
        args=("sleep", "300"),
        node_id=node_id,
        slot=2,
        service="web",
        env=("COLOR=blue",),
        labels={"team": "a"},
    )
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    status = wait_for(lambda: state_is(proxy, task.id, S.RUNNING), what="running")
    info = docker_client.api.inspect_container(f"web.2.{task.id}")
    assert status.container_status.container_id == info["Id"]
    labels = info["Config"]["Labels"]
    assert labels[LABEL_TASK_ID] == task.id
    assert labels[LABEL_NODE_ID] == node_id
    assert labels[LABEL_SERVICE_ID] == task.service_id
    assert labels["team"] == "a"
    assert "COLOR=blue" in info["Config"]["Env"]
    assert info["State"]["Running"]


def test_shutdown_with_grace_period_then_removal(
    worker: Any, test_image: str, node_id: str, docker_client: Any
) -> None:
    # sh ignores SIGTERM while `sleep` runs in the foreground: the grace period ends in a kill.
    task = make_task(
        tid(),
        image=test_image,
        command=("sh", "-c", "trap '' TERM; sleep 300"),
        node_id=node_id,
        grace=1.0,
    )
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    wait_for(lambda: state_is(proxy, task.id, S.RUNNING), what="running")
    proxy.apply_assignments(False, [dataclasses.replace(task, desired_state=S.SHUTDOWN)], []).get()
    status = wait_for(lambda: state_is(proxy, task.id, S.SHUTDOWN), what="shutdown")
    assert status.container_status.exit_code == 137
    info = docker_client.api.inspect_container(status.container_status.container_id)
    assert not info["State"]["Running"]
    proxy.apply_assignments(False, [], [task.id]).get()
    wait_for(
        lambda: (
            not docker_client.api.containers(
                all=True, filters={"label": f"{LABEL_TASK_ID}={task.id}"}
            )
        ),
        what="container removed",
    )


@pytest.mark.parametrize(
    ("script", "state", "code"), [("exit 0", S.COMPLETE, 0), ("exit 3", S.FAILED, 3)]
)
def test_exit_codes(
    worker: Any, test_image: str, node_id: str, script: str, state: TaskState, code: int
) -> None:
    task = make_task(tid(), image=test_image, command=("sh", "-c", script), node_id=node_id)
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    status = wait_for(lambda: state_is(proxy, task.id, S.COMPLETE, S.FAILED), what="exit")
    assert status.state is state
    assert status.container_status.exit_code == code
    if code:
        assert status.err == f"task: non-zero exit ({code})"


def test_missing_image_is_rejected(worker: Any, node_id: str) -> None:
    task = make_task(tid(), image="swarmnode-test:does-not-exist", args=("true",), node_id=node_id)
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    status = wait_for(lambda: state_is(proxy, task.id, S.REJECTED), what="rejected")
    # not on the node, so it was pulled: Docker Hub has no such image (or is unreachable
    # from here); tests/integration/test_registry_pull.py pulls from a real registry
    assert "image swarmnode-test:does-not-exist" in status.err


def test_bad_command_is_rejected_with_the_engines_message(
    worker: Any, test_image: str, node_id: str
) -> None:
    task = make_task(tid(), image=test_image, command=("/nonexistent",), node_id=node_id)
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    status = wait_for(lambda: state_is(proxy, task.id, S.REJECTED, S.FAILED), what="refused")
    assert "/nonexistent" in status.err
    assert worker.is_alive()


def test_healthcheck_starting_then_running(worker: Any, test_image: str, node_id: str) -> None:
    health = HealthConfig(test=("CMD-SHELL", "test -f /tmp/ready"), interval=0.3, retries=50)
    task = make_task(
        tid(),
        image=test_image,
        command=("sh", "-c", "sleep 2; touch /tmp/ready; sleep 300"),
        node_id=node_id,
        healthcheck=health,
    )
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    wait_for(lambda: state_is(proxy, task.id, S.STARTING), what="starting")
    wait_for(lambda: state_is(proxy, task.id, S.RUNNING), what="healthy → running")


def test_unhealthy_container_fails(worker: Any, test_image: str, node_id: str) -> None:
    health = HealthConfig(test=("CMD-SHELL", "exit 1"), interval=0.2, retries=1)
    task = make_task(
        tid(),
        image=test_image,
        args=("sleep", "300"),
        node_id=node_id,
        healthcheck=health,
        grace=1.0,
    )
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    status = wait_for(lambda: state_is(proxy, task.id, S.FAILED), what="unhealthy")
    assert status.err == "task: unhealthy container"


def test_second_worker_readopts_the_running_container(
    tmp_path: Path, test_image: str, node_id: str, docker_client: Any, cleanup: None
) -> None:
    task = make_task(tid(), image=test_image, args=("sleep", "300"), node_id=node_id)
    first = Worker.start(
        executor=DockerExecutor(node_id, docker_client),
        state_dir=tmp_path,
        node_id=node_id,
        flush_interval=0.05,
    )
    try:
        first.proxy().apply_assignments(True, [task], []).get()
        status = wait_for(lambda: state_is(first.proxy(), task.id, S.RUNNING))
        first.proxy().flush().get()
    finally:
        first.stop()
    container_id = status.container_status.container_id
    started_at = docker_client.api.inspect_container(container_id)["State"]["StartedAt"]
    # A container of a task this node no longer holds: the new worker removes it.
    orphan = make_task(tid(), image=test_image, args=("sleep", "300"), node_id=node_id)
    DockerExecutor(node_id, docker_client).controller(orphan).prepare()

    second = Worker.start(
        executor=DockerExecutor(node_id, docker_client),
        state_dir=tmp_path,
        node_id=node_id,
        flush_interval=0.05,
    )
    try:
        again = wait_for(lambda: state_is(second.proxy(), task.id, S.RUNNING))
        assert again.container_status.container_id == container_id
        info = docker_client.api.inspect_container(container_id)
        assert info["State"]["StartedAt"] == started_at and info["State"]["Running"]
        wait_for(
            lambda: (
                not docker_client.api.containers(
                    all=True, filters={"label": f"{LABEL_TASK_ID}={orphan.id}"}
                )
            ),
            what="orphan gone",
        )
    finally:
        second.stop()


@pytest.mark.parametrize("command", [("sleep", "300"), ("true",)])
def test_a_task_never_reported_on_whose_container_was_started_is_adopted_not_restarted(
    tmp_path: Path,
    test_image: str,
    node_id: str,
    docker_client: Any,
    cleanup: None,
    command: tuple[str, ...],
) -> None:
    # A worker that crashed before its state file held the task's first status: the task
    # is known, its status is the manager's (ASSIGNED), so the runner prepares without
    # inspecting first; the create's conflict finds the container, which is adopted as it
    # is, running or exited, never started again.
    task = make_task(tid(), image=test_image, args=command, node_id=node_id)
    controller = DockerExecutor(node_id, docker_client).controller(task)
    controller.prepare()
    controller.start()
    if command == ("true",):
        assert wait_exit(controller).exit_code == 0
    container = docker_client.api.inspect_container(controller.name)
    WorkerStateFile(tmp_path / WORKER_DIR).save({task.id: task}, {})
    worker = Worker.start(
        executor=DockerExecutor(node_id, docker_client),
        state_dir=tmp_path,
        node_id=node_id,
        flush_interval=0.05,
    )
    try:
        expected = S.RUNNING if command == ("sleep", "300") else S.COMPLETE
        proxy = worker.proxy()
        # a task from disk that had not started waits for the manager's set (worker.py)
        proxy.apply_assignments(True, [task], []).get()
        status = wait_for(lambda: state_is(proxy, task.id, expected), what=expected.label)
        assert status.container_status.container_id == container["Id"]
        again = docker_client.api.inspect_container(container["Id"])
        assert again["State"]["StartedAt"] == container["State"]["StartedAt"]
    finally:
        worker.stop()


def test_prepare_adopts_a_created_container_and_refuses_a_started_one(
    test_image: str, node_id: str, docker_client: Any, cleanup: None
) -> None:
    task = make_task(tid(), image=test_image, args=("sleep", "300"), node_id=node_id)
    executor = DockerExecutor(node_id, docker_client)
    executor.controller(task).prepare()
    executor.controller(task).prepare()  # created, never started: adopted
    controller = executor.controller(task)
    controller.start()
    with pytest.raises(ContainerExistsError):
        executor.controller(task).prepare()
