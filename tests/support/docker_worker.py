"""A worker actor over the Docker executor for one test, on a node id of its own, whose
containers are removed afterwards (whatever the test left running); and tasks that sleep,
for tests and bench/worker_waits.py.

The fixtures ``node_id`` and ``worker`` are used by importing them into a test module."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.worker.executors.docker import DockerExecutor
from actors.worker.executors.docker_config import LABEL_NODE_ID
from actors.worker.worker import Worker
from api.objects import Task
from tests.unit.worker.helpers import Recorder, make_task

__all__ = [
    "docker_worker",
    "new_node_id",
    "node_id",
    "remove_containers",
    "sleeping_tasks",
    "worker",
]


def new_node_id() -> str:
    return f"testnode{uuid.uuid4().hex[:12]}"


def remove_containers(docker_client: Any, node_id: str) -> None:
    for container in docker_client.api.containers(
        all=True, filters={"label": f"{LABEL_NODE_ID}={node_id}"}
    ):
        docker_client.api.remove_container(container["Id"], force=True)


@contextlib.contextmanager
def docker_worker(state_dir: Path, node_id: str, docker_client: Any) -> Iterator[Any]:
    """The started worker's actor ref; stopped on the way out."""
    ref = Worker.start(
        executor=DockerExecutor(node_id, docker_client),
        state_dir=state_dir,
        node_id=node_id,
        reporter=Recorder(),
        flush_interval=0.05,
    )
    try:
        yield ref
    finally:
        if ref.is_alive():
            ref.stop()


@pytest.fixture
def node_id() -> str:
    return new_node_id()


@pytest.fixture
def worker(tmp_path: Path, node_id: str, docker_client: Any) -> Iterator[Any]:
    """The test's Docker worker (`docker_worker`) on ``node_id``; every container on that
    node id removed afterwards."""
    try:
        with docker_worker(tmp_path, node_id, docker_client) as ref:
            yield ref
    finally:
        remove_containers(docker_client, node_id)


def sleeping_tasks(
    count: int, *, image: str, node_id: str, seconds: int = 300, service: str = "svc"
) -> list[Task]:
    """``count`` tasks of one service, slots 1..count, each running ``sleep seconds``
    (stopped at the first signal: a grace period of 1 s)."""
    return [
        make_task(
            uuid.uuid4().hex[:25],
            image=image,
            args=("sleep", str(seconds)),
            node_id=node_id,
            slot=slot,
            service=service,
            grace=1.0,
        )
        for slot in range(1, count + 1)
    ]
