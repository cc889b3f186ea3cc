"""``--limit-pids``, ``--oom-score-adj`` and ``--log-driver``/``--log-opt`` through a real
manager on the real engine: the task's container has them (``docker inspect``),
``service inspect --pretty`` shows them, ``update`` changes them, and ``service logs`` of
a service whose driver keeps nothing to read fails with the engine's words."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.waiting import wait_for

pytestmark = pytest.mark.docker

NOT_READABLE = "configured logging driver does not support reading"


def test_the_container_gets_them_and_update_changes_them(
    docker_node: Any, test_image: str, docker_client: Any
) -> None:
    node = docker_node
    created = node.ctl(
        "service", "create", "--name", "rt", "--limit-pids", "64", "--oom-score-adj", "250",
        "--log-driver", "json-file", "--log-opt", "max-size=1m", "--log-opt", "max-file=2",
        test_image, "sh", "-c", "echo hello-rt; sleep 600",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    [task] = wait_for(lambda: node.running("rt") or None, "a running task")
    host = docker_client.api.inspect_container(task["container_id"])["HostConfig"]
    assert host["PidsLimit"] == 64
    assert host["OomScoreAdj"] == 250
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}
    # json-file reads back
    wait_for(
        lambda: "hello-rt" in node.ctl("service", "logs", "--raw", "rt").stdout,
        "the line in service logs",
    )
    pretty = node.ctl("service", "inspect", "--pretty", "rt").stdout
    for shown in ("PIDs Limit: 64", "OOM Score Adjustment: 250", "Log Driver:"):
        assert shown in " ".join(pretty.split()), pretty
    assert "max-size=1m" in pretty
    updated = node.ctl(
        "service", "update", "--limit-pids", "0", "--oom-score-adj", "100",
        "--log-driver", "local", "rt",
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr

    def replaced() -> dict[str, Any] | None:
        found = [t for t in node.running("rt") if t["container_id"] != task["container_id"]]
        return found[0] if found else None

    new = wait_for(replaced, "the updated task", timeout=60)
    host = docker_client.api.inspect_container(new["container_id"])["HostConfig"]
    assert host["PidsLimit"] in (None, 0)  # unlimited
    assert host["OomScoreAdj"] == 100
    assert host["LogConfig"] == {"Type": "local", "Config": {}}  # the options went with json-file
    # refused before anything is sent, in the engine's words
    refused = node.ctl("service", "update", "--oom-score-adj", "1001", "rt")
    assert refused.returncode == 1
    assert "range for oom score adj is [-1000, 1000]" in refused.stderr
    alone = node.ctl("service", "update", "--log-opt", "max-size=2m", "rt")
    assert alone.returncode == 1 and "give --log-driver with it" in alone.stderr


def test_service_logs_refuse_a_driver_that_keeps_nothing(
    docker_node: Any, test_image: str, docker_client: Any
) -> None:
    node = docker_node
    created = node.ctl(
        "service", "create", "--name", "quiet", "--log-driver", "none",
        test_image, "sh", "-c", "echo unseen; sleep 600",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    [task] = wait_for(lambda: node.running("quiet") or None, "a running task")
    host = docker_client.api.inspect_container(task["container_id"])["HostConfig"]
    assert host["LogConfig"]["Type"] == "none"
    for argv in (("service", "logs", "quiet"), ("task", "logs", task["id"])):
        result = node.ctl(*argv)
        assert result.returncode != 0, result
        assert NOT_READABLE in result.stderr, result.stderr
        assert "unseen" not in result.stdout
