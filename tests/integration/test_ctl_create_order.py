"""``swarmctl service create``, ``update`` and ``rollback`` against a real ``swarm-node``: as
docker's, the service id on stdout first, then the wait for convergence."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.swarm import DEADLINE, ROOT, Swarm, SwarmNode
from tests.support.waiting import wait_for


@pytest.fixture
def node(tmp_path: Path) -> Iterator[SwarmNode]:
    with Swarm(tmp_path) as swarm:
        started = swarm.start_node("m1", executor="process")
        started.wait_ready()
        yield started


def _first_line_while_waiting(node: SwarmNode, *args: str) -> str:
    """The first stdout line of ``swarmctl ARGS``, read while it still waits."""
    argv = [sys.executable, "-m", "cli.ctl", "--socket", str(node.socket), *args]
    ctl = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert ctl.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(ctl.stdout.readline()), daemon=True)
    reader.start()
    try:
        first = wait_for(lambda: lines and lines[0].strip(), "the first line", DEADLINE)
        assert ctl.poll() is None, ctl.communicate()  # still waiting: no node can take it
    finally:
        ctl.kill()
        ctl.communicate(timeout=DEADLINE)
    return str(first)


NOWHERE = ("--converge-timeout", "600s", "--constraint", "node.labels.zone==nowhere")


def test_create_prints_the_id_before_it_waits(node: SwarmNode) -> None:
    # fails before: the id came after the wait, which here never ends
    first = _first_line_while_waiting(
        node, "service", "create", "--name", "nowhere", *NOWHERE, "busybox", "sleep", "300"
    )
    [service] = node.ctl_json("service", "ls")
    assert first == service["id"]


def test_update_and_rollback_print_the_id_before_they_wait(node: SwarmNode) -> None:
    # fails before: update's and rollback's ids came after their waits
    node.ctl(
        "service", "create", "--detach", "--name", "nowhere",
        "--constraint", "node.labels.zone==nowhere", "busybox", "sleep", "300",
    )  # fmt: skip
    [service] = node.ctl_json("service", "ls")
    updated = _first_line_while_waiting(
        node, "service", "update", "--converge-timeout", "600s", "--env-add", "A=1", "nowhere"
    )
    assert updated == service["id"]
    rolled = _first_line_while_waiting(
        node, "service", "rollback", "--converge-timeout", "600s", "nowhere"
    )
    assert rolled == service["id"]
