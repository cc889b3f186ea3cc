"""How a worker on the Docker executor notices that a running task's container stopped,
on the real engine: killed or removed outside swarmnode, exited by itself, killed for
memory, also while the executor's event stream was down; and what waiting costs: one
stream for all running tasks, no thread of their own."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from actors.worker.executors.docker import DockerExecutor
from actors.worker.executors.docker_exit_watch import REPLAY_MARGIN, ExitWatch
from api.specs import ResourceRequirements, Resources
from api.task_state import TaskState
from tests.support import docker_worker as workers
from tests.support.docker_worker import docker_worker, remove_containers, sleeping_tasks
from tests.support.engine_proxy import EngineProxy
from tests.support.task_exit import wait_exit
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import make_task, state_is

pytestmark = pytest.mark.docker
S = TaskState
# waits in the container until the test creates /tmp/go, then runs the rest
GATED = "while [ ! -f /tmp/go ]; do sleep 0.1; done; "
MANY = 12  # running tasks, where their number matters

node_id, worker = workers.node_id, workers.worker  # the fixtures


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


# -- the executor's one event stream --------------------------------------------------------


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[EngineProxy]:
    with EngineProxy(tmp_path) as found:
        yield found


@pytest.fixture
def proxied_worker(
    tmp_path: Path, node_id: str, docker_client: Any, proxy: EngineProxy
) -> Iterator[Any]:
    """A worker whose executor reaches the engine through ``proxy``."""
    client = docker.DockerClient(base_url=proxy.url, timeout=30)
    try:
        with docker_worker(tmp_path / "worker", node_id, client) as ref:
            yield ref
    finally:
        remove_containers(docker_client, node_id)
        client.close()


def die_replayed(docker_client: Any, container: str) -> bool:
    """The engine would still replay the container's die to a stream opened now (within
    the exit watch's replay margin)."""
    now = time.time()
    found = docker_client.api.events(
        since=now - REPLAY_MARGIN - 0.5,
        until=now,
        filters={"container": container, "event": "die"},
        decode=True,
    )
    return bool(list(found))


@pytest.mark.parametrize("how", ["kill", "rm"])
def test_a_stop_while_the_event_stream_is_down_is_noticed_when_it_reconnects(
    proxied_worker: Any,
    proxy: EngineProxy,
    node_id: str,
    test_image: str,
    docker_client: Any,
    how: str,
) -> None:
    task, container = running_task(proxied_worker, node_id, test_image, "sleep 300")
    wait_for(lambda: proxy.open_now("/events") == 1, what="the exit watch's stream open")
    proxy.refusing = True
    assert proxy.cut("/events") == 1
    if how == "kill":
        docker_client.api.kill(container)
    else:
        docker_client.api.remove_container(container, force=True)
    # out of the replay of the next stream: only the listing after it can tell
    wait_for(lambda: not die_replayed(docker_client, container), what="the die out of replay")
    assert state_is(proxied_worker.proxy(), task.id, S.RUNNING)  # nobody could tell yet
    proxy.refusing = False
    status = finished(proxied_worker, task.id)
    assert proxy.opened("/events") >= 2
    assert status.state is S.FAILED
    if how == "kill":
        assert status.container_status.exit_code == 137
        assert status.err == "task: non-zero exit (137)"
    else:  # removed unseen: no exit code to tell
        assert status.err == f"wait: container {task.service_name}.1.{task.id} was removed"


def test_running_tasks_share_one_engine_connection_for_their_waits(
    proxied_worker: Any, proxy: EngineProxy, node_id: str, test_image: str
) -> None:
    tasks = sleeping_tasks(MANY, image=test_image, node_id=node_id)
    worker = proxied_worker.proxy()
    worker.apply_assignments(True, tasks, []).get()
    for task in tasks:
        wait_for(lambda t=task: state_is(worker, t.id, S.RUNNING), what="running", timeout=60)
    wait_for(lambda: proxy.open_now("/events") == 1, what="one event stream")
    assert proxy.opened("/wait") == 0  # no wait request per container
    worker.apply_assignments(True, [], []).get()
    wait_for(lambda: not worker.task_ids().get(), what="the tasks removed", timeout=60)
    wait_for(lambda: proxy.open_now("/events") == 0, what="the stream closed, nothing watched")


def worker_threads() -> int:
    """This process's threads but the one every timer shares, which starts with the first
    timer of the process (maybe during the test)."""
    return sum(1 for t in threading.enumerate() if t.name != "timers")


def test_a_running_task_costs_the_worker_one_thread_not_two(
    worker: Any, node_id: str, test_image: str
) -> None:
    worker.proxy().task_ids().get()  # its on_start done: its own threads run
    idle = worker_threads()
    tasks = sleeping_tasks(MANY, image=test_image, node_id=node_id)
    proxy = worker.proxy()
    proxy.apply_assignments(True, tasks, []).get()
    for task in tasks:
        wait_for(lambda t=task: state_is(proxy, t.id, S.RUNNING), what="running", timeout=60)
    # each task's runner actor, and the executor's one exit watch; the calls that started
    # the tasks end soon (a wait of the old kind held a thread per task for its life)
    wait_for(
        lambda: worker_threads() <= idle + MANY + 1,
        what="threads: one per running task, one for the executor",
        timeout=60,
        describe=lambda: [t.name for t in threading.enumerate()],
    )
    assert any(t.name == "docker-exit-watch" for t in threading.enumerate())


def watch_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "docker-exit-watch")


def test_a_failure_of_the_exit_watch_ends_every_wait_with_it_then_watching_resumes(
    node_id: str, test_image: str, docker_client: Any
) -> None:
    executor = DockerExecutor(node_id, docker_client)
    controllers = []
    before = watch_threads()  # other executors' in this process
    try:
        for task in sleeping_tasks(2, image=test_image, node_id=node_id):
            controller = executor.controller(task)
            controller.prepare()
            controller.start()
            controllers.append(controller)
        broken, other = controllers
        woken: list[BaseException | None] = []

        def bug(error: BaseException | None) -> None:
            raise RuntimeError("a bug in a notify")

        broken.watch(bug)
        other.watch(woken.append)
        docker_client.api.kill(broken.name)
        wait_for(lambda: woken, what="the other wait ended too")
        assert isinstance(woken[0], RuntimeError)  # the runner crashes on it, visibly
        wait_for(lambda: watch_threads() == before, what="the failed watch's thread gone")
        other.watch(woken.append)  # a new watch, a new thread
        docker_client.api.kill(other.name)
        wait_for(lambda: len(woken) == 2, what="the new watch woken")
        assert woken[1] is None
        assert wait_exit(other).exit_code == 137
        wait_for(lambda: watch_threads() == before, what="no thread once nothing is watched")
    finally:
        remove_containers(docker_client, node_id)


def test_a_quiet_stream_is_opened_again_and_still_hears_the_end(
    proxy: EngineProxy, node_id: str, test_image: str, docker_client: Any
) -> None:
    client = docker.DockerClient(base_url=proxy.url, timeout=30)
    executor = DockerExecutor(node_id, client)
    executor.exits = ExitWatch(lambda: executor.api, node_id, quiet_reopen=0.5)
    try:
        [task] = sleeping_tasks(1, image=test_image, node_id=node_id)
        controller = executor.controller(task)
        controller.prepare()
        controller.start()
        woken: list[BaseException | None] = []
        controller.watch(woken.append)
        wait_for(lambda: proxy.opened("/events") >= 3, what="the quiet stream opened again")
        assert woken == [] and proxy.open_now("/events") == 1
        docker_client.api.kill(controller.name)
        wait_for(lambda: woken == [None], what="the end heard")
        assert wait_exit(controller).exit_code == 137
    finally:
        remove_containers(docker_client, node_id)
        client.close()
