"""``swarm-node --label`` on a node that joins: the labels are in its spec as it
registers, as the founder's are, so a ``node.labels`` constraint places tasks on it."""

from __future__ import annotations

from pathlib import Path

from tests.support.swarm import Swarm, poll


def test_a_joining_workers_labels_are_set_as_it_registers(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        m1 = swarm.start_node("m1", executor="process")
        m1.wait_ready()
        token = m1.join_token("worker")
        swarm.start_node(
            "w1", executor="process", extra=(*m1.join_args(token), "--label", "zone=a")
        )
        swarm.wait_cluster(managers=1, workers=1)
        [w1] = m1.ctl_json("node", "inspect", "w1")
        assert w1["spec"]["labels"] == {"zone": "a"}

        m1.ctl_json(
            "service", "create", "--name", "zoned", "--replicas", "2", "--detach",
            "--constraint", "node.labels.zone==a", "busybox", "sleep", "600",
        )  # fmt: skip
        running = poll(
            lambda: len(rows := m1.running("zoned")) == 2 and rows, "zoned tasks running", 60.0
        )
        assert {t["node_id"] for t in running} == {w1["id"]}
