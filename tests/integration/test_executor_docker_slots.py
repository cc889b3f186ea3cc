"""The Docker executor starts many tasks side by side, within a bound (the real engine,
watched through a counting wrapper of the SDK's API client): at most ``start_slots``
container creates and starts in flight at once, and a task without cluster networks never
waits for the networks' lock (which only keeps a network from being pruned under a task
joining it)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.worker.executors.docker import DockerExecutor
from actors.worker.executors.docker_config import LABEL_NODE_ID
from actors.worker.worker import Worker
from api.task_state import TaskState
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import make_task, state_is

pytestmark = pytest.mark.docker
COUNTED = frozenset({"create_container", "start"})


class CountingApi:
    """The SDK's API client, counting the creates and starts in flight at once."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._api, name)
        if name not in COUNTED:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.in_flight += 1
                self.calls += 1
                self.peak = max(self.peak, self.in_flight)
            try:
                return attr(*args, **kwargs)
            finally:
                with self._lock:
                    self.in_flight -= 1

        return counted


class CountingClient:
    def __init__(self, client: Any) -> None:
        self.api = CountingApi(client.api)


@pytest.fixture
def node_id(docker_client: Any) -> Iterator[str]:
    node = f"testnode{uuid.uuid4().hex[:12]}"
    yield node
    for container in docker_client.api.containers(
        all=True, filters={"label": f"{LABEL_NODE_ID}={node}"}
    ):
        docker_client.api.remove_container(container["Id"], force=True)


def test_creates_and_starts_stay_within_the_slots(
    tmp_path: Path, test_image: str, node_id: str, docker_client: Any
) -> None:
    client = CountingClient(docker_client)
    worker = Worker.start(
        executor=DockerExecutor(node_id, client, start_slots=2),
        state_dir=tmp_path,
        node_id=node_id,
        flush_interval=0.05,
    )
    try:
        tasks = [
            make_task(uuid.uuid4().hex[:25], image=test_image, args=("sleep", "300"),
                      node_id=node_id, slot=i + 1)
            for i in range(6)
        ]  # fmt: skip
        proxy = worker.proxy()
        proxy.apply_assignments(True, tasks, []).get()
        for task in tasks:
            wait_for(lambda t=task: state_is(proxy, t.id, TaskState.RUNNING), "running", 120)
    finally:
        worker.stop()
    assert client.api.calls == 12  # a create and a start each
    assert 1 <= client.api.peak <= 2


def test_a_task_without_networks_does_not_wait_for_the_networks_lock(
    test_image: str, node_id: str, docker_client: Any
) -> None:
    executor = DockerExecutor(node_id, docker_client)
    task = make_task(uuid.uuid4().hex[:25], image=test_image, args=("sleep", "300"),
                     node_id=node_id)  # fmt: skip
    done = threading.Event()

    def prepare() -> None:
        executor.controller(task).prepare()
        done.set()

    with executor.networks.lock:  # a task joining or leaving a network holds it
        threading.Thread(target=prepare, daemon=True).start()
        wait_for(done.is_set, "the container created while the lock is held", 60)
    assert docker_client.api.containers(all=True, filters={"label": f"{LABEL_NODE_ID}={node_id}"})
