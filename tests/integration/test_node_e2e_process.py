"""One real ``swarm-node`` with the ``process`` executor, driven by the real ``swarmctl``:
the flows of tests/integration/node_flows.py without Docker."""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.worker.executors.process import process_start_ticks
from actors.worker.executors.process_sandbox import default_work_root
from tests.integration import node_flows
from tests.support.swarm import Swarm, SwarmNode, free_port_pair, poll


class ProcessRuntime:
    image = "busybox"

    def live_ids(self, node: SwarmNode) -> set[str]:
        """Pids (as strings) of the live process groups the executor recorded."""
        import json

        live = set()
        for path in (node.state_dir / "process").glob("*.json"):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            pid = int(record.get("pid") or 0)
            if pid and process_start_ticks(pid) == record.get("start_ticks"):
                live.add(str(pid))
        return live

    def kill(self, node: SwarmNode, container_id: str) -> None:
        os.killpg(int(container_id), signal.SIGKILL)

    def check_task(self, node: SwarmNode, row: dict[str, Any]) -> None:
        pid = int(row["container_id"])
        assert os.getpgid(pid) == pid  # leads its own process group
        assert (node.state_dir / "process" / f"{row['id']}.json").exists()


@pytest.fixture
def runtime() -> ProcessRuntime:
    return ProcessRuntime()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[SwarmNode]:
    with Swarm(tmp_path) as swarm:
        started = swarm.start_node("m1", executor="process")
        started.wait_ready()
        yield started


def test_replicas_scale_and_rm(node: SwarmNode, runtime: ProcessRuntime) -> None:
    node_flows.replicas_scale_and_rm(node, runtime)


def test_killed_task_is_replaced_in_its_slot(node: SwarmNode, runtime: ProcessRuntime) -> None:
    node_flows.killed_task_is_replaced(node, runtime)


def test_drain_and_activate(node: SwarmNode, runtime: ProcessRuntime) -> None:
    node_flows.drain_and_activate(node, runtime)


def test_unsatisfiable_constraint_waits_for_a_label(
    node: SwarmNode, runtime: ProcessRuntime
) -> None:
    node_flows.constraint_until_label(node, runtime)


def test_manager_restart_recovers_and_readopts(node: SwarmNode, runtime: ProcessRuntime) -> None:
    node_flows.restart_keeps_tasks(node, runtime, how=("term", "kill"))


def test_init_registers_a_manager_and_a_restart_writes_nothing_twice(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1", executor="process", extra=("--label", "zone=b"))
        row = node.wait_ready()
        assert row["hostname"] == "m1" and row["role"] == "manager"
        assert row["availability"] == "active" and row["labels"] == {"zone": "b"}
        assert row["manager_status"]["leader"] is True
        [inspected] = node.ctl_json("node", "inspect", node.node_id)
        description = inspected["description"]
        assert description["platform"]["os"] == "linux" and description["resources"]["nano_cpus"]
        cluster = node.ctl_json("cluster", "inspect")
        assert cluster["spec"]["name"] == "default"

        assert node.terminate() == 0
        node.start()
        again = node.wait_ready()
        assert again["id"] == row["id"] and again["labels"] == {"zone": "b"}
        assert node.ctl_json("cluster", "inspect")["meta"] == cluster["meta"]
        assert [n["id"] for n in node.ctl_json("node", "ls")] == [row["id"]]


def test_a_task_gets_the_descriptor_limit_the_node_started_with(tmp_path: Path) -> None:
    """swarm-node raises its soft RLIMIT_NOFILE to the hard one for its sockets; its tasks
    get the one it started with back, as dockerd's (Go's) children do."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = 1000 if hard == resource.RLIM_INFINITY else min(1000, hard // 2)
    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1", executor="process", soft_nofile=soft)
        node.wait_ready()
        [raised] = [e for e in node.log_events() if e["event"] == "node.descriptor_limit.raised"]
        assert raised["before"] == soft and raised["now"] > soft
        node.ctl_json(
            "service", "create", "--name", "limit", "--detach", "busybox",
            "sh", "-c", "ulimit -n; sleep 300",
        )  # fmt: skip
        shown = poll(lambda: node.ctl("service", "logs", "--raw", "limit").stdout.split(), "ulimit")
        assert shown == [str(soft)]  # fails before: the node's raised limit


def test_a_node_started_on_its_own_removes_its_work_root_afterwards(tmp_path: Path) -> None:
    """A test's node outside a Swarm (tests/integration/test_full_disk.py) leaves nothing
    under $TMPDIR/swarmnode-<uid> once cleaned up (before, one work root a run stayed)."""
    node = SwarmNode("m1", tmp_path / "m1", tmp_path, executor="process", port=free_port_pair())
    node.start()
    try:
        node.wait_ready()
        work_root = default_work_root(node.node_id)
        assert work_root.is_dir()
    finally:
        node.kill()
        node.remove_task_dirs()
    assert not work_root.exists()
