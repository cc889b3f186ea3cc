"""Service and task logs of containers on the real Docker engine (docker executor): the
engine's log stream, stdout and stderr apart, read through the leader's log broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_logs_process import SCRIPT, Follower, lines_of, logs
from tests.support.swarm import Swarm, SwarmNode, poll

LONG = 60.0


@pytest.fixture
def node(tmp_path: Path, docker_client: Any, test_image: str) -> Iterator[SwarmNode]:
    with Swarm(tmp_path, docker_client=docker_client) as swarm:
        started = swarm.start_node("m1", executor="docker")
        started.wait_ready()
        yield started


def test_container_output_keeps_streams_apart_with_prefixes_and_tail(
    node: SwarmNode, test_image: str
) -> None:
    node.ctl_json(
        "service", "create", "--name", "talk", "--detach", test_image, "sh", "-c", SCRIPT
    )  # fmt: skip
    poll(lambda: len(lines_of(logs(node, "service", "logs", "talk").stdout)) == 5, "5 lines", LONG)
    task = node.running("talk")[0]
    result = logs(node, "service", "logs", "talk")
    prefix = f"talk.1.{task['id'][:12]}@m1    | "
    assert lines_of(result.stdout) == [f"{prefix}out {i}" for i in range(1, 6)]
    assert lines_of(result.stderr) == [f"{prefix}err {i}" for i in range(1, 6)]
    tail = logs(node, "task", "logs", "--tail", "4", "--raw", task["id"])
    assert lines_of(tail.stdout) == ["out 4", "out 5"]
    assert lines_of(tail.stderr) == ["err 4", "err 5"]


def test_a_follow_started_before_the_container_starts_shows_its_first_line(
    node: SwarmNode, test_image: str
) -> None:
    node.ctl_json(
        "service", "create", "--name", "later", "--detach", "--constraint",
        "node.labels.go==yes", test_image, "sh", "-c", "echo first; sleep 300",
    )  # fmt: skip
    follower = Follower(node, "service", "logs", "-f", "--raw", "later")
    try:
        node.ctl_json("node", "update", "--label-add", "go=yes", "m1")
        poll(lambda: follower.out == ["first"], "the first line followed", LONG)
    finally:
        follower.stop()


def test_an_exited_tasks_output_is_still_read(node: SwarmNode, test_image: str) -> None:
    node.ctl_json(
        "service", "create", "--name", "once", "--detach", "--restart-condition", "none",
        test_image, "sh", "-c", "echo bye; echo oops >&2; exit 3",
    )  # fmt: skip
    poll(lambda: any(t["state"] == "failed" for t in node.tasks("once")), "the task failed", LONG)

    # the engine reports a container's exit after waiting at most 2 s for its output to be
    # copied into the log (moby's handleContainerExit): under load the first read can be
    # empty, so the read is polled; what it finally shows must be exact
    def both_streams_read() -> bool:
        result = logs(node, "service", "logs", "--raw", "once")
        return bool(lines_of(result.stdout)) and bool(lines_of(result.stderr))

    poll(both_streams_read, "the exited task's output on both streams", LONG)
    result = logs(node, "service", "logs", "--raw", "once")
    assert lines_of(result.stdout) == ["bye"]
    assert lines_of(result.stderr) == ["oops"]
