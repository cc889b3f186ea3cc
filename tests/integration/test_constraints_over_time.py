"""Constraints hold over time (issue 10 item 7) on real ``swarm-node`` processes with the
docker executor on the real engine: a label moved from one node to another moves the
running tasks that need it, through the leader's constraint enforcer and the scheduler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.swarm import Swarm, node_containers, poll

pytestmark = pytest.mark.docker

LONG = 90.0


@pytest.fixture
def swarm(tmp_path: Path, docker_client: Any, test_image: str) -> Iterator[Swarm]:
    with Swarm(tmp_path, docker_client=docker_client) as s:
        yield s


def test_a_label_moved_to_another_node_moves_the_tasks(
    swarm: Swarm, test_image: str, docker_client: Any
) -> None:
    m1, w1 = swarm.start_cluster(managers=1, workers=1, executor="docker")
    m1.ctl_json("node", "update", "--label-add", "zone=a", m1.node_id)
    m1.ctl_json(
        "service", "create", "--detach", "--name", "web", "--replicas", "2",
        "--constraint", "node.labels.zone==a", test_image, "sleep", "300",
    )  # fmt: skip

    def running_on(node_id: str) -> list[dict[str, Any]]:
        running = m1.running("web")
        return (
            running if len(running) == 2 and all(t["node_id"] == node_id for t in running) else []
        )

    first = poll(lambda: running_on(m1.node_id), "2 tasks running on m1", LONG)
    # zone a is now w1: m1 no longer satisfies the constraint, w1 does
    m1.ctl_json("node", "update", "--label-rm", "zone", m1.node_id)
    m1.ctl_json("node", "update", "--label-add", "zone=a", w1.node_id)
    moved = poll(lambda: running_on(w1.node_id), "2 tasks running on w1", LONG)
    assert {t["slot"] for t in moved} == {t["slot"] for t in first}
    old = {t["id"]: t for t in m1.tasks("web") if t["id"] in {f["id"] for f in first}}
    assert all(t["desired_state"] == "shutdown" for t in old.values())
    stopped = {t["container_id"] for t in first}
    poll(
        lambda: not stopped & {c.id for c in node_containers(docker_client, m1.node_id, all=False)},
        "the containers on m1 stopped",
        LONG,
    )
    events = [e for e in m1.log_events() if e.get("event") == "constraintenforcer.task.shut_down"]
    assert {e["task_id"] for e in events} == set(old)
    assert all("node.labels.zone==a" in e["reason"] for e in events)
