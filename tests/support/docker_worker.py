"""A worker actor over the Docker executor for one test, on a node id of its own, whose
containers are removed afterwards (whatever the test left running)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from actors.worker.executors.docker import DockerExecutor
from actors.worker.executors.docker_config import LABEL_NODE_ID
from actors.worker.worker import Worker
from tests.unit.worker.helpers import Recorder

__all__ = ["docker_worker", "new_node_id", "remove_containers"]


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
