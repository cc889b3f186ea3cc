"""``swarmctl service create`` against a real ``swarm-node``: as ``docker service create``,
the service id on stdout first, then the wait for convergence."""

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


def test_create_prints_the_id_before_it_waits(node: SwarmNode) -> None:
    # fails before: the id came after the wait, which here never ends
    argv = [
        sys.executable, "-m", "cli.ctl", "--socket", str(node.socket),
        "service", "create", "--name", "nowhere", "--converge-timeout", "600s",
        "--constraint", "node.labels.zone==nowhere", "busybox", "sleep", "300",
    ]  # fmt: skip
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
        assert ctl.poll() is None  # still waiting for a node labelled zone=nowhere
    finally:
        ctl.kill()
        ctl.communicate(timeout=DEADLINE)
    [service] = node.ctl_json("service", "ls")
    assert first == service["id"]
