"""A task lands only on a node whose executor can run it (actors/scheduler/filters.py
``ExecutorFilter``): with only process-executor nodes a ``--limit-pids`` service stays
pending, and ``service ps`` says why; once a docker-executor node joins, its tasks run
there and only there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.swarm import Swarm, poll

LONG = 90.0
REASON = "no suitable node (process executor cannot honour --limit-pids on 1 node)"


@pytest.mark.timeout(300)
def test_a_pids_limited_service_waits_for_a_docker_node(
    tmp_path: Path, docker_client: Any, test_image: str
) -> None:
    with Swarm(tmp_path, docker_client=docker_client) as swarm:
        manager = swarm.start_node("m1", executor="process")
        manager.wait_ready()
        described = manager.ctl_json("node", "inspect", "self")[0]["description"]["executor"]
        assert described == {"kind": "process", "capabilities": []}
        manager.ctl_json(
            "service", "create", "--name", "pids", "--replicas", "2", "--limit-pids", "64",
            "--detach", test_image, "sleep", "300",
        )  # fmt: skip

        def explained() -> list[dict[str, Any]] | None:
            rows = manager.tasks("pids")
            waiting = [r for r in rows if r["state"] == "pending" and r["message"] == REASON]
            return rows if len(rows) == 2 and len(waiting) == 2 else None

        poll(explained, "both tasks pending with the executor's reason", LONG)
        table = manager.ctl("service", "ps", "pids")
        assert table.returncode == 0 and REASON in table.stdout, table.stdout + table.stderr
        # a plain command still runs on the process node
        manager.ctl_json(
            "service", "create", "--name", "plain", "--detach", test_image, "sleep", "300"
        )
        poll(lambda: manager.running("plain"), "the plain service running", LONG)

        worker = swarm.join("w1", manager, manager.join_token("worker"), executor="docker")
        swarm.wait_cluster(1, 1)
        worker_id = worker.node_id

        def placed() -> list[dict[str, Any]] | None:
            running = manager.running("pids")
            return running if len(running) == 2 else None

        rows = poll(placed, "both tasks running on the docker node", LONG)
        assert {r["node_id"] for r in rows} == {worker_id}
        assert all(r["state"] != "rejected" for r in manager.tasks("pids"))


@pytest.mark.timeout(300)
def test_a_node_restarted_with_the_process_executor_gives_up_what_it_cannot_run(
    tmp_path: Path, docker_client: Any, test_image: str
) -> None:
    """Its next session reports the new executor (node inspect shows it); its task that
    needs what that executor lacks runs elsewhere (the worker fails it, or the constraint
    enforcer shuts it down, whichever comes first), and is not rejected on the way; its
    container from before is removed as the node starts (actors/node/executor_switch.py)."""
    with Swarm(tmp_path, docker_client=docker_client) as swarm:
        manager = swarm.start_node("m1", executor="process")
        manager.wait_ready()
        token = manager.join_token("worker")
        w1 = swarm.join("w1", manager, token, executor="docker")
        swarm.wait_cluster(1, 1)
        manager.ctl_json(
            "service", "create", "--name", "pids", "--limit-pids", "64",
            "--detach", test_image, "sleep", "300",
        )  # fmt: skip
        [first] = poll(lambda: manager.running("pids"), "the task running on w1", LONG)
        assert first["node_id"] == w1.node_id
        w2 = swarm.join("w2", manager, token, executor="docker")
        swarm.wait_cluster(1, 2)

        assert w1.terminate() == 0
        w1.executor = "process"
        w1.start()

        def reported() -> bool:
            node = manager.ctl_json("node", "inspect", w1.node_id)[0]
            return bool(node["description"]["executor"]["kind"] == "process")

        poll(reported, "w1 reports its process executor", LONG)

        def moved() -> list[dict[str, Any]] | None:
            running = manager.running("pids")
            return running if running and running[0]["node_id"] == w2.node_id else None

        poll(moved, "the task running on w2", LONG)
        old = next(t for t in manager.tasks("pids") if t["id"] == first["id"])
        assert old["desired_state"] == "shutdown", old
        assert all(t["state"] != "rejected" for t in manager.tasks("pids"))
        # and its container from before is gone, not running beside its replacement
        gone = docker_client.containers.list(all=True, filters={"id": first["container_id"]})
        assert gone == []
