"""The end-to-end flows of one ``swarm-node`` (manager + its own worker), shared by the
process-executor and Docker test files. A ``Runtime`` says what runs on the host: the ids
(container ids, or process-group pids) of this node's live tasks, and how to kill one.
Everything goes through the real ``swarmctl --format json``; every wait is a ``poll``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from tests.support.swarm import SwarmNode, poll

LONG = 60.0  # deadline for waits that include starting many tasks


class Runtime(Protocol):
    image: str

    def live_ids(self, node: SwarmNode) -> set[str]:
        """Ids of what runs now for ``node`` (as ``container_id`` in ``service ps``)."""
        ...

    def kill(self, node: SwarmNode, container_id: str) -> None: ...

    def check_task(self, node: SwarmNode, row: dict[str, Any]) -> None:
        """Extra checks on a running task (e.g. the container's name and labels)."""
        ...


def create(node: SwarmNode, runtime: Runtime, name: str, *flags: str) -> None:
    node.ctl_json(
        "service", "create", "--detach", "--name", name, *flags, runtime.image, "sleep", "300"
    )


def running_slots(node: SwarmNode, service: str) -> dict[int, dict[str, Any]]:
    return {t["slot"]: t for t in node.running(service)}


def wait_running(
    node: SwarmNode, runtime: Runtime, service: str, replicas: int
) -> dict[int, dict[str, Any]]:
    """Until exactly slots 1..replicas run (one task each), nothing else is meant to run,
    and the host runs exactly those tasks' containers/processes."""

    def converged() -> dict[int, dict[str, Any]] | None:
        rows = node.tasks(service)
        live = [t for t in rows if t["desired_state"] == "running"]
        running = [t for t in live if t["state"] == "running"]
        slots = sorted(t["slot"] for t in running)
        if len(live) != replicas or slots != list(range(1, replicas + 1)):
            return None
        ids = {t["container_id"] for t in running}
        if runtime.live_ids(node) != ids:
            return None
        return {t["slot"]: t for t in running}

    found: dict[int, dict[str, Any]] = poll(
        converged, f"{service}: {replicas} running tasks", LONG, interval=0.2
    )
    return found


def wait_nothing_runs(node: SwarmNode, runtime: Runtime) -> None:
    poll(lambda: not runtime.live_ids(node), "no task left running on the host", LONG)


def pending_with_reason(node: SwarmNode, service: str, count: int) -> list[dict[str, Any]]:
    def pending() -> list[dict[str, Any]] | None:
        rows = [
            t
            for t in node.tasks(service)
            if t["desired_state"] == "running" and t["state"] == "pending"
        ]
        # "created" is the orchestrator's message before the scheduler has judged the task
        if len(rows) == count and all(t["message"] not in ("", "created") for t in rows):
            return rows
        return None

    found: list[dict[str, Any]] = poll(pending, f"{count} pending tasks with a reason", LONG)
    return found


# --- flows -------------------------------------------------------------------------------


def replicas_scale_and_rm(node: SwarmNode, runtime: Runtime) -> None:
    create(node, runtime, "web", "--replicas", "3")
    first = wait_running(node, runtime, "web", 3)
    for row in first.values():
        runtime.check_task(node, row)
    [summary] = [s for s in node.ctl_json("service", "ls") if s["name"] == "web"]
    assert summary["replicas_desired"] == 3 and summary["image"] == runtime.image

    node.ctl_json("service", "scale", "--detach", "web=6")
    six = wait_running(node, runtime, "web", 6)
    assert all(six[slot]["id"] == first[slot]["id"] for slot in (1, 2, 3))  # kept

    node.ctl_json("service", "scale", "--detach", "web=2")
    two = wait_running(node, runtime, "web", 2)
    assert {two[1]["id"], two[2]["id"]} == {first[1]["id"], first[2]["id"]}

    node.ctl_json("service", "rm", "web")
    wait_nothing_runs(node, runtime)
    poll(lambda: not node.ctl_json("service", "ls"), "the service to be gone", LONG)


def killed_task_is_replaced(node: SwarmNode, runtime: Runtime) -> None:
    create(node, runtime, "victim", "--replicas", "2", "--restart-delay", "0s")
    before = wait_running(node, runtime, "victim", 2)
    runtime.kill(node, before[1]["container_id"])
    poll(
        lambda: running_slots(node, "victim").get(1, before[1])["id"] != before[1]["id"],
        "slot 1 replaced by a new task",
        LONG,
    )
    after = wait_running(node, runtime, "victim", 2)
    assert after[1]["container_id"] != before[1]["container_id"]
    assert after[2]["id"] == before[2]["id"]  # the other slot untouched
    old = [t for t in node.tasks("victim") if t["id"] == before[1]["id"]]
    assert old and old[0]["state"] in ("failed", "complete", "shutdown")


def drain_and_activate(node: SwarmNode, runtime: Runtime) -> None:
    create(node, runtime, "movable", "--replicas", "2")
    wait_running(node, runtime, "movable", 2)
    node.ctl_json("node", "update", "--availability", "drain", node.node_id)
    pending = pending_with_reason(node, "movable", 2)
    assert all("no suitable node" in t["message"] for t in pending), pending
    wait_nothing_runs(node, runtime)
    node.ctl_json("node", "update", "--availability", "active", node.node_id)
    wait_running(node, runtime, "movable", 2)


def constraint_until_label(node: SwarmNode, runtime: Runtime) -> None:
    create(node, runtime, "zoned", "--replicas", "2", "--constraint", "node.labels.zone==a")
    pending = pending_with_reason(node, "zoned", 2)
    assert all("node.labels.zone==a" in t["message"] for t in pending), pending
    assert not runtime.live_ids(node)
    node.ctl_json("node", "update", "--label-add", "zone=a", node.node_id)
    wait_running(node, runtime, "zoned", 2)


def restart_keeps_tasks(node: SwarmNode, runtime: Runtime, *, how: Sequence[str]) -> None:
    """Restart the manager (``term`` = SIGTERM, ``kill`` = kill -9) with the same state
    dir: the same services and tasks come back from disk and the same containers run."""
    create(node, runtime, "durable", "--replicas", "3")
    before = wait_running(node, runtime, "durable", 3)
    ids = {slot: (t["id"], t["container_id"]) for slot, t in before.items()}
    for step in how:
        if step == "term":
            assert node.terminate() == 0
        else:
            node.kill()
        assert runtime.live_ids(node) == {cid for _, cid in ids.values()}  # still running
        node.start()
        node.wait_ready(LONG)
        after = wait_running(node, runtime, "durable", 3)
        assert {slot: (t["id"], t["container_id"]) for slot, t in after.items()} == ids
    assert [s["name"] for s in node.ctl_json("service", "ls")] == ["durable"]
    assert len(node.tasks("durable")) == 3  # nothing was replaced
