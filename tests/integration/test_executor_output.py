"""A task's output read through each real executor: the Docker engine's log stream and the
process shim's rotated log, with stdout and stderr apart, times, ``since``, ``tail`` and
``follow`` (actors/worker/executors/output.py)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.worker.executors.base import Controller
from actors.worker.executors.docker import DockerExecutor
from actors.worker.executors.docker_config import LABEL_NODE_ID
from actors.worker.executors.output import STDERR, STDOUT, OutputLine, OutputQuery
from actors.worker.executors.process import ProcessExecutor
from actors.worker.executors.process_logs import log_files
from actors.worker.executors.process_sandbox import prepare_sandbox
from tests.support.task_exit import wait_exit
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import make_task

SCRIPT = "for i in 1 2 3; do echo out $i; echo err $i >&2; sleep 0.2; done"


def follow_in_thread(controller: Controller, query: OutputQuery) -> list[OutputLine]:
    """Start following; the list fills as lines come, until the stream ends."""
    got: list[OutputLine] = []

    def run() -> None:
        got.extend(controller.output(query))
        got.append(OutputLine(0, "end", b""))

    threading.Thread(target=run, daemon=True).start()
    return got


def check_lines(controller: Controller, followed: list[OutputLine]) -> None:
    wait_for(lambda: followed and followed[-1].stream == "end", what="the follow ended")
    lines = followed[:-1]
    assert sorted((line.stream, line.data) for line in lines) == sorted(
        [(STDOUT, f"out {i}\n".encode()) for i in (1, 2, 3)]
        + [(STDERR, f"err {i}\n".encode()) for i in (1, 2, 3)]
    )
    assert [line.ts for line in lines] == sorted(line.ts for line in lines)
    everything = list(controller.output(OutputQuery()))
    assert everything == lines  # a read after the exit gives the same lines
    assert list(controller.output(OutputQuery(tail=2))) == lines[-2:]
    since = lines[3].ts
    assert list(controller.output(OutputQuery(since=since))) == lines[3:]


# -- docker ----------------------------------------------------------------------------------


@pytest.fixture
def docker_executor(docker_client: Any) -> Iterator[DockerExecutor]:
    node_id = f"outputnode{uuid.uuid4().hex[:12]}"
    yield DockerExecutor(node_id, docker_client)
    for container in docker_client.api.containers(
        all=True, filters={"label": f"{LABEL_NODE_ID}={node_id}"}
    ):
        docker_client.api.remove_container(container["Id"], force=True)


def test_docker_output_keeps_streams_apart_with_times(
    docker_executor: DockerExecutor, test_image: str
) -> None:
    task = make_task(
        uuid.uuid4().hex[:25],
        image=test_image,
        command=("sh", "-c", SCRIPT),
        node_id=docker_executor.node_id,  # the fixture removes the node's containers
    )
    controller = docker_executor.controller(task)
    controller.prepare()
    assert list(controller.output(OutputQuery(follow=True))) == []  # created, not started
    # The engine ends a follow of a container that is not running at once, so a follow is
    # opened after the start (the node's publisher reopens its reads until the task ends:
    # tests/integration/test_logs_*.py cover a follow begun before the task starts).
    controller.start()
    followed = follow_in_thread(controller, OutputQuery(follow=True))
    wait_exit(controller)
    check_lines(controller, followed)


def test_a_docker_follow_is_closed_from_another_thread(
    docker_executor: DockerExecutor, test_image: str
) -> None:
    task = make_task(
        uuid.uuid4().hex[:25],
        image=test_image,
        command=("sleep", "300"),
        node_id=docker_executor.node_id,
    )
    controller = docker_executor.controller(task)
    controller.prepare()
    controller.start()
    stream = controller.output(OutputQuery(follow=True))
    ended = threading.Event()
    threading.Thread(target=lambda: (list(stream), ended.set()), daemon=True).start()
    stream.close()
    wait_for(ended.is_set, what="the closed follow ended")
    controller.terminate()


# -- process ---------------------------------------------------------------------------------


@pytest.fixture
def process_executor(tmp_path: Path) -> ProcessExecutor:
    sandbox = prepare_sandbox(
        None, state_dir=tmp_path, node_id="n1", work_root=tmp_path.with_name(tmp_path.name + "-w")
    )
    return ProcessExecutor(tmp_path / "process", "n1", sandbox=sandbox, log_max_bytes=4096)


def test_process_output_keeps_streams_apart_with_times(
    process_executor: ProcessExecutor,
) -> None:
    controller = process_executor.controller(make_task("p1", command=("sh", "-c", SCRIPT)))
    controller.prepare()
    followed = follow_in_thread(controller, OutputQuery(follow=True))
    controller.start()
    wait_exit(controller)
    check_lines(controller, followed)
    controller.remove()
    assert not [p for p in log_files(controller.log_file) if p.exists()]


def test_process_output_is_rotated_at_its_cap_and_followed_across(
    process_executor: ProcessExecutor,
) -> None:
    loud = "i=0; while [ $i -lt 400 ]; do echo line $i; i=$((i+1)); done; echo done >&2"
    controller = process_executor.controller(make_task("p2", command=("sh", "-c", loud)))
    controller.prepare()
    followed = follow_in_thread(controller, OutputQuery(follow=True))
    controller.start()
    wait_exit(controller)
    wait_for(lambda: followed and followed[-1].stream == "end", what="the follow ended")
    assert len([p for p in log_files(controller.log_file) if p.exists()]) == 3
    kept = list(controller.output(OutputQuery()))
    assert kept[-1] == OutputLine(kept[-1].ts, STDERR, b"done\n")
    assert 0 < len(kept) < 401  # the oldest rotated away
    stdout = [line.data for line in followed[:-1] if line.stream == STDOUT]
    # the follow was there as the files turned over: lines come once and in order
    assert stdout == sorted(set(stdout), key=lambda d: int(d.split()[1]))
