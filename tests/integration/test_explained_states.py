"""Explained states on a real ``swarm-node`` and the real engine (issue 11 item 5):
``service ps`` and ``task inspect`` say why a task is pending (the scheduler's reasons with
node counts), why it failed (exit code, the engine's message) and why it is unhealthy (the
last health check's output); ``service ps`` and ``service inspect`` say why an update
paused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.swarm import CtlError, Swarm, SwarmNode, poll

pytestmark = pytest.mark.docker


@pytest.fixture
def node(tmp_path: Path, docker_client: Any, test_image: str) -> Iterator[SwarmNode]:
    with Swarm(tmp_path, docker_client=docker_client) as swarm:
        started = swarm.start_node("m1", executor="docker")
        started.wait_ready()
        yield started


def text(node: SwarmNode, *args: str) -> str:
    result = node.ctl(*args)
    if result.returncode != 0:
        raise CtlError(args, result)
    return result.stdout


def one_task(node: SwarmNode, service: str, state: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        rows = [r for r in node.tasks(service) if r["state"] == state]
        return rows[0] if rows else None

    row: dict[str, Any] = poll(found, f"a {state} task of {service}", 90)
    return row


def test_pending_failed_and_unhealthy_tasks_say_why(node: SwarmNode, test_image: str) -> None:
    create = ("service", "create", "--detach")
    node.ctl_json(
        *create, "--name", "nowhere", "--constraint", "node.labels.zone==mars", test_image,
        "sleep", "300",
    )  # fmt: skip
    node.ctl_json(
        *create, "--name", "crash", "--restart-condition", "none", test_image, "sh", "-c",
        "echo about to fail; exit 3",
    )  # fmt: skip
    node.ctl_json(
        *create, "--name", "sick", "--restart-condition", "none", "--health-cmd",
        "echo db-not-reachable; exit 1", "--health-interval", "300ms", "--health-retries", "1",
        test_image, "sleep", "300",
    )  # fmt: skip

    pending = one_task(node, "nowhere", "pending")
    poll(lambda: one_task(node, "nowhere", "pending")["reason"], "the scheduler's message")
    why = "no suitable node (constraint node.labels.zone==mars not satisfied on 1 node)"
    assert text(node, "service", "ps", "nowhere").splitlines()[1].endswith(why)
    assert f"Reason        : {why}" in text(node, "task", "inspect", pending["id"])

    failed = one_task(node, "crash", "failed")
    assert failed["exit_code"] == 3 and failed["reason"].startswith("task: non-zero exit (3)")
    assert "task: non-zero exit (3)" in text(node, "service", "ps", "crash")
    shown = text(node, "task", "inspect", failed["id"])
    assert "Exit Code     : 3" in shown and "Reason        : task: non-zero exit (3)" in shown

    sick = one_task(node, "sick", "failed")
    expected = "task: unhealthy container (last health check: db-not-reachable)"
    assert sick["error"] == expected and sick["reason"] == expected
    assert expected in text(node, "service", "ps", "sick")


def test_a_paused_update_says_why(node: SwarmNode, test_image: str) -> None:
    node.ctl_json(
        "service", "create", "--detach", "--name", "web", "--update-failure-action", "pause",
        "--update-monitor", "2s", test_image, "sleep", "300",
    )  # fmt: skip
    poll(lambda: node.running("web"), "web running", 60)
    node.ctl_json("service", "update", "--detach", "--args", "sh -c 'exit 7'", "web")

    def paused() -> dict[str, Any] | None:
        service: dict[str, Any] = node.ctl_json("service", "inspect", "web")[0]
        return service if (service.get("update_status") or {}).get("state") == "paused" else None

    poll(paused, "the update paused", 90)
    ps = text(node, "service", "ps", "web")
    assert ps.splitlines()[-1].startswith("update paused due to failure or early termination")
    shown = text(node, "service", "inspect", "web")
    assert "Update Status" in shown and "paused" in shown and "Update Message" in shown
