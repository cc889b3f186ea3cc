"""Rebalance (issue 10 item 9) on real ``swarm-node`` processes: a worker that joins after
a service started gets its share on ``swarmctl service rebalance``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.support.swarm import Swarm, poll


def test_a_node_that_joined_gets_its_share_on_rebalance(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        (m1,) = swarm.start_cluster(managers=1, workers=0)
        m1.ctl_json(
            "service", "create", "--detach", "--name", "web", "--replicas", "4",
            "--update-parallelism", "1", "busybox", "sleep", "300",
        )  # fmt: skip
        poll(lambda: len(m1.running("web")) == 4, "4 running on m1", 60)
        w1 = swarm.join("w1", m1, m1.join_token("worker"))
        swarm.wait_cluster(1, 1)
        assert {t["node_id"] for t in m1.running("web")} == {m1.node_id}  # nothing moved yet
        reply = m1.ctl_json("service", "rebalance", "web")
        assert reply["rebalance_status"]["state"] == "completed"
        assert reply["rebalance_status"]["moved"] == 2

        def balanced() -> bool:
            running = m1.running("web")
            return len(running) == 4 and Counter(t["node_id"] for t in running) == {
                m1.node_id: 2,
                w1.node_id: 2,
            }

        poll(balanced, "2 tasks on each node", 60)
