"""``swarm-node --label`` on a node that joins: an engine label it reports, as ``dockerd
--label``, so an ``engine.labels`` constraint places tasks on it; its node labels stay the
managers' to set (whoever holds a join token must not choose them)."""

from __future__ import annotations

from pathlib import Path

from tests.support.swarm import Swarm, poll


def test_a_joining_workers_labels_are_its_engine_labels(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        m1 = swarm.start_node("m1", executor="process")
        m1.wait_ready()
        token = m1.join_token("worker")
        swarm.start_node(
            "w1", executor="process", extra=(*m1.join_args(token), "--label", "zone=a")
        )
        swarm.wait_cluster(managers=1, workers=1)

        def described() -> dict[str, object] | None:
            [w1] = m1.ctl_json("node", "inspect", "w1")
            return w1 if w1["description"]["engine"]["labels"] == {"zone": "a"} else None

        w1 = poll(described, "w1's engine labels", 30.0)
        assert w1["spec"]["labels"] == {}  # a node never sets its own node labels

        m1.ctl_json(
            "service", "create", "--name", "zoned", "--replicas", "2", "--detach",
            "--constraint", "engine.labels.zone==a", "busybox", "sleep", "600",
        )  # fmt: skip
        running = poll(
            lambda: len(rows := m1.running("zoned")) == 2 and rows, "zoned tasks running", 60.0
        )
        assert {t["node_id"] for t in running} == {w1["id"]}
