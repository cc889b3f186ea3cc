"""The real swarmctl process against a real control endpoint (ipc:// socket, real
transport, the control handlers over a MemoryStore.local held by the test)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.store import MemoryStore, services, tasks
from api.objects import ContainerStatus, Task, TaskStatus
from api.task_state import TaskState
from tests.integration.control_server import MANAGER_ID, WORKER_ID, seeded_store, serve
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 30.0


class Ctl:
    def __init__(self, socket: Path, store: MemoryStore) -> None:
        self.socket = socket
        self.store = store

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.ctl", "--socket", str(self.socket), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=DEADLINE * 2,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--format", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def refused(self, *args: str) -> str:
        version = self.store.version
        result = self.run(*args)
        assert result.returncode != 0
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert self.store.version == version  # nothing written
        return lines[0]


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Ctl]:
    store = seeded_store()
    socket = tmp_path / "control.sock"
    endpoint = serve(socket, store)
    try:
        yield Ctl(socket, store)
    finally:
        endpoint.stop()


def run_tasks(store: MemoryStore, service_name: str, state: TaskState, **status: Any) -> None:
    """Stand in for orchestrator, scheduler and worker: one task per slot, in ``state``."""
    service = wait_for(
        lambda: store.view(lambda tx: services.by_name(tx, service_name)), "the service", DEADLINE
    )
    replicas = service.spec.mode.replicas

    def write(tx: Any) -> None:
        for slot in range(1, replicas + 1):
            tx.create(
                Task(
                    id=f"{service.id[:20]}{slot:05d}",
                    spec=service.spec.task,
                    service_id=service.id,
                    service_name=service_name,
                    slot=slot,
                    node_id=WORKER_ID,
                    desired_state=TaskState.RUNNING,
                    status=TaskStatus(
                        timestamp=time.time(),
                        state=state,
                        container_status=ContainerStatus(f"ctr{slot}"),
                        **status,
                    ),
                )
            )

    store.update(write)


def test_node_ls_json(ctl: Ctl) -> None:
    nodes = ctl.json("node", "ls")
    assert [
        {k: n[k] for k in ("id", "hostname", "role", "status", "availability", "manager_status")}
        for n in nodes
    ] == [
        {
            "id": MANAGER_ID,
            "hostname": "node-1",
            "role": "manager",
            "status": "ready",
            "availability": "active",
            "manager_status": {
                "leader": True,
                "reachability": "reachable",
                "addr": "127.0.0.1:4242",
            },
        },
        {
            "id": WORKER_ID,
            "hostname": "node-2",
            "role": "worker",
            "status": "ready",
            "availability": "active",
            "manager_status": None,
        },
    ]
    table = ctl.run("node", "ls")
    assert table.returncode == 0 and "Leader" in table.stdout


def test_service_lifecycle_json(ctl: Ctl) -> None:
    created = ctl.run(
        "service",
        "create",
        "--name",
        "web",
        "--replicas",
        "2",
        "--env",
        "A=1",
        "--reserve-memory",
        "64M",
        "--detach",
        "busybox",
        "sleep",
        "60",
    )
    assert created.returncode == 0, created.stderr
    sid = created.stdout.strip()
    listed = ctl.json("service", "ls")
    assert [
        {k: s[k] for k in ("id", "name", "mode", "replicas_desired", "replicas_running", "image")}
        for s in listed
    ] == [
        {
            "id": sid,
            "name": "web",
            "mode": "replicated",
            "replicas_desired": 2,
            "replicas_running": 0,
            "image": "busybox",
        }
    ]
    run_tasks(ctl.store, "web", TaskState.RUNNING)
    rows = ctl.json("service", "ps", "web")
    assert len(rows) == 2
    for row in rows:
        assert set(row) >= {
            "id",
            "slot",
            "node_id",
            "desired_state",
            "state",
            "message",
            "container_id",
        }
        assert (row["node_id"], row["desired_state"], row["state"]) == (
            WORKER_ID,
            "running",
            "running",
        )
    assert sorted(r["slot"] for r in rows) == [1, 2]
    assert ctl.json("service", "inspect", sid[:7])[0]["spec"]["task"]["container"]["env"] == ["A=1"]
    assert ctl.json("service", "ls")[0]["replicas_running"] == 2
    scaled = ctl.run("service", "scale", "web=5", "--detach")
    assert scaled.returncode == 0 and "web scaled to 5" in scaled.stdout
    updated = ctl.json("service", "update", "--env-add", "B=2", "--detach", "web")
    assert updated["replicas_desired"] == 5
    assert len(ctl.json("task", "ls", "--service", "web", "--node", "node-2")) == 2
    task_id = rows[0]["id"]
    assert ctl.json("task", "inspect", task_id)[0]["id"] == task_id
    assert ctl.json("service", "rm", "web") == [sid]
    assert ctl.json("service", "ls") == []
    service = ctl.store.view(lambda tx: services.get(tx, sid))
    assert service is not None and service.pending_delete


def test_node_update_and_drain(ctl: Ctl) -> None:
    assert ctl.run("node", "drain", "node-2").stdout.strip() == WORKER_ID
    row = ctl.json("node", "update", "--label-add", "zone=a", "--availability", "pause", "node-2")
    assert row["availability"] == "pause" and row["labels"] == {"zone": "a"}
    assert ctl.json("node", "inspect", WORKER_ID[:5])[0]["spec"]["labels"] == {"zone": "a"}


def test_errors_are_one_line_and_write_nothing(ctl: Ctl) -> None:
    ctl.run("service", "create", "--name", "web", "--detach", "busybox")
    assert "--replicas: must be >= 0" in ctl.refused(
        "service", "create", "--replicas", "-1", "busybox"
    )
    assert "malformed constraint" in ctl.refused(
        "service", "create", "--constraint", "node.labels.zone=a", "busybox"
    )
    assert "invalid choice" in ctl.refused("service", "create", "--mode", "sideways", "busybox")
    assert "invalid memory size" in ctl.refused(
        "service", "create", "--limit-memory", "lots", "busybox"
    )
    assert "missing unit" in ctl.refused("service", "create", "--restart-delay", "5", "busybox")
    # the node's own words, never the internal name of the call (nor its error code)
    refusals = {
        "already in use by service": ("service", "create", "--name", "web", "busybox"),
        "'web.1': name must be valid as a DNS name component (only [a-zA-Z0-9-_] are allowed": (
            "service", "create", "--name", "web.1", "busybox"
        ),
        "no such service: nope": ("service", "ps", "nope"),
        "SERVICE=REPLICAS": ("service", "scale", "web"),
        "no such node: ghost": ("node", "drain", "ghost"),
        "doesn't exist": ("node", "update", "--label-rm", "nope", "node-1"),
        "exceeds the limit": (
            "service", "update", "--reserve-memory", "2G", "--limit-memory", "1G", "web"
        ),
        "has no previous spec to roll back to": ("service", "rollback", "web"),
        "version 9 of service web is not kept": ("service", "rollback", "--to-version", "9", "web"),
        "--rollback goes back to the previous spec": (
            "service", "update", "--rollback", "--image", "x", "web"
        ),
    }  # fmt: skip
    for expected, argv in refusals.items():
        line = ctl.refused(*argv)
        assert expected in line, line
        assert "control." not in line and "not_found" not in line, line
    assert "no such service: nope" in ctl.refused("service", "scale", "nope=2")


def test_writes_over_their_budget_are_refused_with_sizes(ctl: Ctl) -> None:
    """Each field within its limit, the spec over its budget: one line naming the service
    and both sizes, nothing written (before the budgets, any size was stored)."""
    env = [arg for i in range(5) for arg in ("--env", f"K{i}=" + "v" * 30_000)]
    line = ctl.refused("service", "create", "--name", "big", *env, "busybox")
    assert re.search(r"service 'big' encodes to \d+\.\d KiB, over the 128 KiB budget", line)
    line = ctl.refused("node", "update", "--label-add", "k=" + "v" * 5000, "node-1")
    assert "5000 bytes long, over the limit of 4096 bytes" in line


def test_cluster_inspect_json_hides_keys(ctl: Ctl) -> None:
    doc = ctl.json("cluster", "inspect")
    assert doc["join_tokens"]["worker"] == "SWMTKN-1-abc-worker"
    assert "ca_key" not in doc["root_ca"] and "unlock_key" not in doc
    assert "SECRET" not in json.dumps(doc)


def test_create_without_detach_waits_for_convergence(ctl: Ctl) -> None:
    thread = threading.Thread(
        target=run_tasks, args=(ctl.store, "web", TaskState.RUNNING), daemon=True
    )
    thread.start()
    result = ctl.run("service", "create", "--name", "web", "--replicas", "3", "busybox")
    thread.join(DEADLINE)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "verify: Service converged" in lines
    assert "overall progress: 3 out of 3 tasks" in lines
    assert len(lines[0]) == 25  # the id, first (docker service create)


def test_quiet_waits_without_the_progress(ctl: Ctl) -> None:
    """``-q`` (Docker's ``--quiet``): the same wait, only the id printed."""
    thread = threading.Thread(
        target=run_tasks, args=(ctl.store, "web", TaskState.RUNNING), daemon=True
    )
    thread.start()
    result = ctl.run("service", "create", "-q", "--name", "web", "--replicas", "3", "busybox")
    thread.join(DEADLINE)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1 and len(result.stdout.strip()) == 25
    assert result.stderr == ""
    assert len(ctl.store.view(lambda tx: tasks.list_all(tx))) == 3  # it waited for them


def test_create_without_detach_reports_why_it_cannot_converge(ctl: Ctl) -> None:
    thread = threading.Thread(
        target=run_tasks,
        args=(ctl.store, "web", TaskState.REJECTED),
        kwargs={"err": "No such image: nothere:latest"},
        daemon=True,
    )
    thread.start()
    result = ctl.run("service", "create", "--name", "web", "--restart-condition", "none", "nothere")
    thread.join(DEADLINE)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1].startswith("swarmctl: service web cannot converge")
    assert "No such image: nothere:latest" in result.stderr


def test_detach_returns_at_once(ctl: Ctl) -> None:
    result = ctl.run("service", "create", "--name", "idle", "--replicas", "4", "-d", "busybox")
    assert result.returncode == 0 and "progress" not in result.stdout
    assert ctl.store.view(lambda tx: tasks.list_all(tx)) == []


def test_ps_current_first_several_services_quiet_no_trunc_and_filters(ctl: Ctl) -> None:
    for name in ("web", "db"):
        ctl.run("service", "create", "--name", name, "--replicas", "2", "--detach", "busybox")
        run_tasks(ctl.store, name, TaskState.RUNNING)
    rows = ctl.json("service", "ps", "web", "db")
    assert [r["name"] for r in rows] == ["web.1", "web.2", "db.1", "db.2"]
    quiet = ctl.run("service", "ps", "-q", "web", "db")
    assert quiet.stdout.split() == [r["id"][:12] for r in rows]
    full = ctl.run("service", "ps", "-q", "--no-trunc", "web")
    assert full.stdout.split() == [r["id"] for r in rows[:2]]
    table = ctl.run("service", "ps", "--no-trunc", "web").stdout
    assert rows[0]["id"] in table and rows[0]["node_id"] not in table  # the hostname
    only = ctl.json("service", "ps", "web", "db", "--filter", "name=db.2")
    assert [r["name"] for r in only] == ["db.2"]
    on_node = ctl.json("service", "ps", "web", "--filter", f"node={WORKER_ID[:6]}")
    assert len(on_node) == 2
    assert ctl.json("service", "ps", "web", "--filter", "node=node-1") == []
    assert ctl.json("service", "ps", "web", "-f", "desired-state=shutdown") == []
    assert "KEY one of desired-state, node, name" in ctl.refused(
        "service", "ps", "web", "--filter", "color=red"
    )


def test_a_rollback_dry_run_plans_and_writes_nothing(ctl: Ctl) -> None:
    ctl.run("service", "create", "--name", "web", "--detach", "busybox")
    ctl.run(
        "service", "update", "--detach", "--env-add", "V=2", "--rollback-parallelism", "2", "web"
    )
    run_tasks(ctl.store, "web", TaskState.RUNNING)  # at the new spec
    version = ctl.store.version
    for argv in (("rollback", "--dry-run", "web"), ("update", "--rollback", "--dry-run", "web")):
        out = ctl.run("service", *argv).stdout
        assert "note: the rollback replaces 1 task(s) 2 at a time" in out, out
        assert out.splitlines()[-1] == "dry run: nothing was changed (service web)"
    assert ctl.store.version == version
    assert "is at version 2 already" in ctl.refused(
        "service", "rollback", "--dry-run", "--to-version", "2", "web"
    )


def test_a_groups_format_and_a_closed_pipe(ctl: Ctl) -> None:
    ctl.run("service", "create", "--name", "web", "--detach", "busybox")
    listed = ctl.run("service", "--format", "json", "ls")
    assert json.loads(listed.stdout)[0]["name"] == "web"
    # a reader that is gone before anything is written (`swarmctl ... | head -0`)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cli.ctl", "--socket", str(ctl.socket), "service", "ls"],
            cwd=ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=DEADLINE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")
