"""A service's lifecycle through the real ``swarmctl`` on one real ``swarm-node`` (issue
10 items 1-5), shared by the Docker and the process-executor test files: the same
commands run as containers of the test image or as local processes.

Each flow names its services after itself, so flows can share a node. Every wait is a
``poll`` with a deadline, or swarmctl's own wait (no ``--detach``), which must end with
exit 0 or with exit 1 and the reason.
"""

from __future__ import annotations

import subprocess
from typing import Any

from tests.support.swarm import SwarmNode, poll

LONG = 90.0
# a task that runs, passes its check, then breaks it: healthy ~1 s in, unhealthy ~5 s in
FLAKY = "touch ready; sleep 4; rm ready; exec sleep 300"
HEALTH = (
    "--health-cmd", "cat ready", "--health-interval", "1s", "--health-retries", "2",
    "--health-timeout", "5s",
)  # fmt: skip


def ctl(node: SwarmNode, *args: str) -> subprocess.CompletedProcess[str]:
    return node.ctl(*args)


def ok(node: SwarmNode, *args: str) -> str:
    result = node.ctl(*args)
    assert result.returncode == 0, f"swarmctl {' '.join(args)}: {result.stderr}"
    return result.stdout


def service(node: SwarmNode, name: str) -> dict[str, Any]:
    found: dict[str, Any] = node.ctl_json("service", "inspect", name)[0]
    return found


def update_state(node: SwarmNode, name: str) -> str:
    status = service(node, name).get("update_status") or {}
    return str(status.get("state", ""))


def running_current(node: SwarmNode, name: str) -> list[dict[str, Any]]:
    """Tasks of ``name`` at its current spec that run and are meant to."""
    return [t for t in node.running(name) if t["up_to_date"]]


def args_of(node: SwarmNode, name: str) -> list[str]:
    return list(service(node, name)["spec"]["task"]["container"]["args"])


def failing_update_rolls_back(node: SwarmNode, image: str) -> None:
    """Items 1-3: a new task that dies 3 s into a 10 s monitor window fails the update; it
    rolls back by itself, the CLI exits 1 saying which task failed and how, and history
    shows the three versions."""
    name = "rollme"
    out = ok(
        node, "service", "create", "--name", name, "--replicas", "2",
        "--update-failure-action", "rollback", "--update-monitor", "10s",
        "--rollback-monitor", "1s", "--restart-delay", "0s",
        image, "sleep", "300",
    )  # fmt: skip
    assert "verify: Service converged" in out
    failed = ctl(node, "service", "update", "--args", "sh -c 'sleep 3; exit 1'", name)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    (line,) = failed.stderr.splitlines()
    assert line.startswith(
        f"swarmctl: service {name} cannot converge: update rolled back due to failure or "
        "early termination of task "
    )
    assert "task: non-zero exit (1)" in line
    poll(lambda: update_state(node, name) == "rollback_completed", "rollback completed", LONG)
    assert args_of(node, name) == ["sleep", "300"]
    poll(lambda: len(running_current(node, name)) == 2, "2 tasks at the first spec", LONG)
    history = node.ctl_json("service", "history", name)
    assert [(h["version"], h["origin"]) for h in history] == [
        (1, "create"),
        (2, "update"),
        (3, "update failed"),
    ]
    assert history[2]["current"] and history[2]["changes"] == [
        "container.args: sh -c 'sleep 3; exit 1' → sleep 300"
    ]


def manual_rollbacks_and_history(node: SwarmNode, image: str) -> None:
    """Items 2 and 4: ``service rollback``, ``update --rollback`` and ``rollback
    --to-version`` through the CLI, each waited for, paced by the rollback config."""
    name = "versions"
    ok(
        node, "service", "create", "--name", name, "--replicas", "2", "--env", "V=1",
        "--update-monitor", "1s", "--rollback-monitor", "1s", "--rollback-parallelism", "2",
        image, "sleep", "300",
    )  # fmt: skip
    for version in ("2", "3"):
        ok(node, "service", "update", "--env-add", f"V={version}", name)
    assert "verify: Service converged" in ok(node, "service", "rollback", name)
    assert service(node, name)["spec"]["task"]["container"]["env"] == ["V=2"]
    ok(node, "service", "update", "--rollback", name)
    assert service(node, name)["spec"]["task"]["container"]["env"] == ["V=3"]
    ok(node, "service", "rollback", "--to-version", "1", name)
    current = service(node, name)
    assert current["spec"]["task"]["container"]["env"] == ["V=1"]
    assert current["update_status"]["state"] == "rollback_completed"
    assert len(running_current(node, name)) == 2
    table = ok(node, "service", "history", name)
    assert "rollback to version 1" in table and "container.env: +V=1 -V=3" in table
    rows = node.ctl_json("service", "history", name)
    assert [r["version"] for r in rows] == [1, 2, 3, 4, 5, 6]
    refused = ctl(node, "service", "rollback", "--to-version", "6", name)
    assert (refused.returncode, refused.stderr.strip()) == (
        1,
        f"swarmctl: service {name} is at version 6 already",
    )


def unhealthy_tasks_are_replaced(node: SwarmNode, image: str) -> None:
    """Item 5: a task is RUNNING only once its check passes (create waits for that), and
    one that turns unhealthy fails with the check's output and is replaced."""
    name = "health"
    ok(
        node, "service", "create", "--name", name, "--restart-delay", "0s", *HEALTH,
        image, "sh", "-c", FLAKY,
    )  # fmt: skip
    first = running_current(node, name)
    assert len(first) == 1

    def failed_unhealthy() -> dict[str, Any] | None:
        rows = [t for t in node.tasks(name) if t["id"] == first[0]["id"]]
        return rows[0] if rows and rows[0]["state"] == "failed" else None

    failed = poll(failed_unhealthy, "the first task unhealthy", LONG)
    assert failed["error"].startswith("task: unhealthy container (last health check: cat:"), failed[
        "error"
    ]
    poll(
        lambda: [t for t in running_current(node, name) if t["id"] != first[0]["id"]],
        "a new task in the slot, running (healthy)",
        LONG,
    )
    ok(node, "service", "rm", name)


def health_gates_an_update(node: SwarmNode, image: str) -> None:
    """Items 1 and 5: an update to a spec whose check never passes never runs; its tasks
    turn unhealthy and the update rolls back, the CLI saying so."""
    name = "gated"
    ok(
        node, "service", "create", "--name", name, "--update-failure-action", "rollback",
        "--rollback-monitor", "1s", image, "sleep", "300",
    )  # fmt: skip
    failed = ctl(
        node, "service", "update", "--health-cmd", "echo not ready; exit 1",
        "--health-interval", "1s", "--health-retries", "1", name,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"service {name} cannot converge: update rolled back due to" in failed.stderr
    assert "task: unhealthy container (last health check: not ready)" in failed.stderr
    poll(lambda: update_state(node, name) == "rollback_completed", "rollback completed", LONG)
    assert service(node, name)["spec"]["task"]["container"]["healthcheck"] is None
    ok(node, "service", "rm", name)


def quiet_log(node: SwarmNode) -> None:
    """Item 3: the swarmctl calls above left no transport warning in the node's log."""
    events = node.log_events()
    assert any(e.get("event") == "node.started" for e in events)
    loud = [
        e
        for e in events
        if e.get("subsystem") == "transport"
        and e.get("endpoint") == "control"
        and e.get("level") not in ("debug", "info")
    ]
    assert loud == []
    assert not [
        e
        for e in events
        if e.get("event") == "transport.peer.disconnected" and e.get("endpoint") == "control"
    ]
