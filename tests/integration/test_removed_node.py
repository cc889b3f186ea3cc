"""A removed node says so (issue 10 item 11), with real ``swarm-node`` processes and the
docker executor on the real engine: a worker removed while it was down, started again on
its state dir, exits at once (exit 1) with an error saying it was removed from the
cluster, instead of retrying "no session" forever."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.swarm import Swarm, poll

pytestmark = pytest.mark.docker


@pytest.fixture
def swarm(tmp_path: Path, docker_client: Any, test_image: str) -> Iterator[Swarm]:
    with Swarm(tmp_path, docker_client=docker_client) as s:
        yield s


def test_a_node_started_after_node_rm_exits_saying_it_was_removed(swarm: Swarm) -> None:
    m1, w1 = swarm.start_cluster(managers=1, workers=1, executor="docker", heartbeat_period="1s")
    w1.kill()
    poll(
        lambda: next(r for r in swarm.node_rows() if r["id"] == w1.node_id)["status"] == "down",
        "w1 down",
        30,
    )
    m1.ctl_json("node", "rm", w1.node_id)
    w1.start(wait=False)
    assert w1.process is not None
    assert w1.process.wait(timeout=60) == 1
    output = w1.log_path.read_text()
    assert "swarm-node: this node was removed from the cluster (swarmctl node rm)" in output
    events = w1.log_events()
    assert [e["event"] for e in events if e.get("event") == "agent.node.removed"]
    assert sum(e.get("event") == "agent.session.connecting" for e in events) == 1  # no retries
    assert w1.node_id not in {r["id"] for r in swarm.node_rows()}
