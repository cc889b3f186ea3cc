"""``swarmctl cluster leave`` (Docker's ``swarm leave``) with real ``swarm-node``
processes and the process executor: a worker leaves (its processes gone, its swarm state
gone file by file, Down on the managers until ``node rm``, a fresh node when started
again); a manager is refused without ``--force`` in Docker's words; the leader of three
leaves with ``--force``, and the other two keep a quorum, commit writes and keep what was
committed, without it in Raft."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.worker.executors.process import process_start_ticks
from tests.support.swarm import ROOT, Swarm, SwarmNode, poll, swarmctl

REFUSAL = "You are attempting to leave the swarm on a node that is participating as a manager. "
TAIL = (
    "The only way to restore a swarm that has lost consensus is to reinitialize it with "
    "`--force-new-cluster`. Use `--force` to suppress this message."
)


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def state_files(state_dir: Path) -> set[str]:
    """Every file and directory under ``state_dir``, relative to it."""
    return {str(p.relative_to(state_dir)) for p in state_dir.rglob("*")}


def recorded_processes(state_dir: Path) -> list[tuple[int, Any]]:
    """(pid, start ticks) of the processes the process executor recorded."""
    import json

    records = [json.loads(p.read_text()) for p in (state_dir / "process").glob("*.json")]
    return [(int(r["pid"]), r.get("start_ticks")) for r in records if r.get("pid")]


def row(swarm: Swarm, node_id: str) -> dict[str, Any] | None:
    return next((r for r in swarm.node_rows() if r["id"] == node_id), None)


def left(node: SwarmNode) -> dict[str, Any]:
    """The node's ``node.left`` event (it exited 0 after answering)."""
    assert node.process is not None
    assert node.process.wait(timeout=60) == 0, node.log_path.read_text()[-3000:]
    [event] = [e for e in node.log_events() if e.get("event") == "node.left"]
    return event


def assert_swarm_state_gone(state_dir: Path, before: set[str]) -> None:
    """Nothing of the swarm state is left: only the lock, checked file by file."""
    after = state_files(state_dir)
    assert after == {"lock"}, after
    for name in before - {"lock"}:
        assert not (state_dir / name).exists(), name


def test_a_worker_leaves_its_tasks_and_state_go_and_managers_see_it_down(swarm: Swarm) -> None:
    m1, w1 = swarm.start_cluster(managers=1, workers=1, heartbeat_period="1s")
    old_id = w1.node_id
    m1.ctl_json(
        "service", "create", "--name", "everywhere", "--mode", "global", "--detach",
        "busybox", "sleep", "300",
    )  # fmt: skip
    poll(
        lambda: any(
            t["node_id"] == old_id and t["state"] == "running" for t in m1.tasks("everywhere")
        ),
        "the global task running on w1",
        60,
    )
    processes = recorded_processes(w1.state_dir)
    assert processes
    before = state_files(w1.state_dir)
    for secret in ("node_id", "keys", "certificates"):
        assert any(name.split("/")[0] == secret for name in before), (secret, before)

    result = w1.ctl("cluster", "leave")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Node left the swarm."
    event = left(w1)
    assert event["role"] == "worker" and event["node_id"] == old_id
    assert "node_id" in event["removed"] and "keys" in event["removed"]

    for pid, ticks in processes:  # stopped and removed, not left running
        assert process_start_ticks(pid) != ticks, pid
    assert_swarm_state_gone(w1.state_dir, before)
    assert not w1.socket.exists()

    poll(lambda: (row(swarm, old_id) or {}).get("status") == "down", "w1 down", 60)
    m1.ctl_json("node", "rm", old_id)
    assert row(swarm, old_id) is None

    # started again with the same flags: a new node, joined afresh
    w1.start()
    assert w1.node_id != old_id
    poll(lambda: (row(swarm, w1.node_id) or {}).get("status") == "ready", "w1 anew", 60)


def test_a_manager_is_refused_without_force_and_the_leader_leaves_with_it(
    swarm: Swarm,
) -> None:
    swarm.start_cluster(managers=3, workers=0, heartbeat_period="1s")
    leader = swarm.leader()
    assert leader is not None
    leader.ctl_json(
        "service", "create", "--name", "kept", "--replicas", "2", "--detach",
        "busybox", "sleep", "300",
    )  # fmt: skip

    refused = leader.ctl("cluster", "leave")
    assert refused.returncode != 0
    # three reachable managers: two are left, a quorum, so no counts in the message
    assert refused.stderr.strip() == f"swarmctl: {REFUSAL}{TAIL}", refused.stderr
    assert leader._alive()

    old_id, before = leader.node_id, state_files(leader.state_dir)
    assert "raft_id" in before and any(n.startswith("raft/") for n in before)
    result = leader.ctl("cluster", "leave", "--force")
    assert result.returncode == 0, result.stderr
    event = left(leader)
    assert event["role"] == "manager" and event["left_raft"] is True
    assert_swarm_state_gone(leader.state_dir, before)

    rest = [n for n in swarm.managers if n is not leader]
    assert len(rest) == 2
    poll(lambda: swarm.leader() in rest, "a leader among the two left", 60)
    # the left one is out of Raft: recorded a worker without a manager status
    poll(
        lambda: (row(swarm, old_id) or {}).get("role") == "worker",
        "the left manager recorded out of Raft",
        60,
    )
    [node] = swarm.ctl_json("node", "inspect", old_id)
    assert not node.get("manager_status")
    # the two commit writes and keep what was committed before
    swarm.ctl_json("service", "create", "--name", "after", "--detach", "busybox", "sleep", "300")
    names = {s["name"] for s in swarm.ctl_json("service", "ls")}
    assert {"kept", "after"} <= names

    # two managers: leaving now would lose the quorum, and the message says so
    refused = rest[0].ctl("cluster", "leave")
    assert refused.returncode != 0
    assert (
        "Removing this node leaves 1 managers out of 2. Without a Raft quorum your swarm "
        "will be inaccessible. " in refused.stderr
    ), refused.stderr

    poll(lambda: (row(swarm, old_id) or {}).get("status") == "down", "left manager down", 60)
    swarm.ctl_json("node", "rm", old_id)
    assert row(swarm, old_id) is None
    assert os.listdir(leader.state_dir) == ["lock"]


@pytest.mark.docker
def test_docker_swarm_leave_through_the_engine_api(
    tmp_path: Path, docker_client: Any, test_image: str
) -> None:
    """The real docker CLI: the last manager is refused in Docker's words, then leaves
    with --force; its container is removed from the engine, its state dir emptied, and
    started again with the same flags it founds a new cluster."""
    from tests.support.engine_cli import DockerCli, start_engine_manager
    from tests.support.swarm import node_containers

    sock = tmp_path / "engine.sock"
    with Swarm(tmp_path, docker_client=docker_client) as swarm:
        m1 = start_engine_manager(swarm, sock)
        docker = DockerCli(sock, cwd=tmp_path)
        old_id = m1.node_id
        old_cluster = m1.ctl_json("cluster", "inspect")["id"]
        docker.ok("service", "create", "--name", "web", "--detach", test_image, "sleep", "300")
        poll(lambda: len(m1.running("web")) == 1, "web running", 60)
        assert node_containers(docker_client, old_id)

        refused = docker.fails("swarm", "leave")
        assert (
            "Error response from daemon: You are attempting to leave the swarm on a node that "
            "is participating as a manager. Removing the last manager erases all current "
            "state of the swarm. Use `--force` to ignore this message." in refused
        ), refused

        before = state_files(m1.state_dir)
        assert docker.ok("swarm", "leave", "--force").strip() == "Node left the swarm."
        event = left(m1)
        assert event["left_raft"] is False  # the last manager: no Raft to leave
        assert node_containers(docker_client, old_id) == []
        assert_swarm_state_gone(m1.state_dir, before)

        m1.start()
        m1.wait_ready()
        assert m1.node_id != old_id
        assert m1.ctl_json("cluster", "inspect")["id"] != old_cluster
        assert m1.ctl_json("service", "ls") == []


def test_a_locked_manager_leaves_only_with_force(swarm: Swarm) -> None:
    """As Docker's daemon on a locked swarm: refused without --force; with it, the tasks
    it left running are found by node id and removed, and its swarm state goes, though
    its keys were never unlocked."""
    m1 = swarm.start_node("m1", extra=("--autolock",))
    m1.wait_ready()
    m1.ctl_json("service", "create", "--name", "kept", "--detach", "busybox", "sleep", "300")
    poll(lambda: len(m1.running("kept")) == 1, "kept running")
    assert m1.terminate() == 0  # tasks keep running, as on any stop
    processes = recorded_processes(m1.state_dir)
    assert processes and all(process_start_ticks(pid) == ticks for pid, ticks in processes)
    m1.start(wait=False)
    poll(
        lambda: (
            m1.ctl("service", "ls").stderr.strip()
            == "swarmctl: this node is locked: run swarmctl unlock"
        ),
        "m1 locked",
    )

    refused = m1.ctl("cluster", "leave")
    assert refused.stderr.strip() == (
        "swarmctl: Swarm is encrypted and locked. Please unlock it first or use `--force` "
        "to ignore this message."
    )
    before = state_files(m1.state_dir)
    assert "keystore" in before
    result = m1.ctl("cluster", "leave", "--force")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Node left the swarm."
    event = left(m1)
    assert event["locked"] is True and "keystore" in event["removed"]
    for pid, ticks in processes:
        assert process_start_ticks(pid) != ticks, pid
    assert_swarm_state_gone(m1.state_dir, before)


def node_with_a_stubborn_task(swarm: Swarm) -> tuple[SwarmNode, list[tuple[int, Any]]]:
    """One manager running a task that ignores its stop signal, with a 300 s grace
    period; the task's recorded processes."""
    m1 = swarm.start_node("m1")
    m1.wait_ready()
    m1.ctl_json(
        "service", "create", "--name", "stubborn", "--stop-grace-period", "300s", "--detach",
        "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 1; done",
    )  # fmt: skip
    poll(lambda: len(m1.running("stubborn")) == 1, "stubborn running", 60)
    processes = recorded_processes(m1.state_dir)
    assert processes
    return m1, processes


def test_a_leave_answers_and_kills_a_task_whose_grace_period_outlasts_the_answer(
    swarm: Swarm,
) -> None:
    """A task that ignores its stop signal with a grace period longer than the answer's
    wait (120 s): the leave waits a bounded time, then kills it (Docker's leave
    force-removes), answers success and exits 0, leaving nothing running. Before, the
    answer was a timeout while the node went on leaving for the whole grace period."""
    m1, processes = node_with_a_stubborn_task(swarm)

    result = swarmctl(m1.socket, "cluster", "leave", "--force", timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Node left the swarm."
    left(m1)
    for pid, ticks in processes:
        assert process_start_ticks(pid) != ticks, pid
    assert os.listdir(m1.state_dir) == ["lock"]


def test_a_stop_during_the_leave_leaves_nothing_running(swarm: Swarm) -> None:
    """SIGTERM while the leave waits for a task's grace period: the leave is cut short,
    but what the executor still holds is killed before the state goes, so no process is
    left running for a node id that no longer exists (nothing would ever remove it)."""
    import subprocess
    import sys

    m1, processes = node_with_a_stubborn_task(swarm)
    argv = [sys.executable, "-m", "cli.ctl", "--socket", str(m1.socket), "cluster", "leave"]
    with subprocess.Popen([*argv, "--force"], cwd=ROOT, stdout=subprocess.DEVNULL) as leave:
        try:
            poll(
                lambda: any(e.get("event") == "node.leave.removing_tasks" for e in m1.log_events()),
                "the leave waiting for the task",
                60,
            )
            assert m1.terminate(timeout=120) == 0
        finally:
            leave.kill()
    for pid, ticks in processes:
        assert process_start_ticks(pid) != ticks, pid
    assert os.listdir(m1.state_dir) == ["lock"]
