"""Jobs and schedules (issue 10 item 6) on a real ``swarm-node`` with the docker executor
on the real engine, through the real ``swarmctl``: completions at most ``--max-concurrent``
at a time and never restarted, ``service ls`` showing them, ``--force`` running the job
again, a failing job following its restart policy and failing the CLI's wait, and a
scheduled job whose runs missed while the manager was down are coalesced into one."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.swarm import CtlError, SwarmNode, node_containers, poll

pytestmark = pytest.mark.docker

LONG = 90.0


@pytest.fixture
def node(docker_node: SwarmNode) -> SwarmNode:
    return docker_node


def job_of(node: SwarmNode, name: str) -> dict[str, Any]:
    rows = [s for s in node.ctl_json("service", "ls") if s["name"] == name]
    return dict(rows[0]["job"])


def test_replicated_job_completes_and_reruns_on_force(
    node: SwarmNode, test_image: str, docker_client: Any
) -> None:
    # without --detach, create waits until the run completed
    node.ctl_json(
        "service", "create", "--name", "batch", "--mode", "replicated-job", "--replicas", "4",
        "--max-concurrent", "2", test_image, "sh", "-c", "sleep 1",
    )  # fmt: skip
    job = job_of(node, "batch")
    assert (job["iteration"], job["state"], job["completed"], job["total"]) == (
        1, "completed", 4, 4,
    )  # fmt: skip
    rows = node.tasks("batch")
    assert sorted(r["slot"] for r in rows) == [1, 2, 3, 4]  # one task a slot: none restarted
    assert all(r["state"] == "complete" and r["exit_code"] == 0 for r in rows)
    table = node.ctl("service", "ls").stdout
    assert "0/2 (4/4 completed)" in table, table
    # the engine ran four containers, never more than two at once (their run windows)
    windows = []
    for r in rows:
        state = docker_client.api.inspect_container(r["container_id"])["State"]
        windows.append((state["StartedAt"], state["FinishedAt"]))
    for started, _ in windows:
        assert sum(1 for s, f in windows if s <= started < f) <= 2, windows
    # --force runs it again: a second run of four
    node.ctl_json("service", "update", "--force", "batch")
    job = job_of(node, "batch")
    assert (job["iteration"], job["state"], job["completed"]) == (2, "completed", 4)
    assert len(node.tasks("batch")) == 8


def test_a_failing_job_follows_its_restart_policy(node: SwarmNode, test_image: str) -> None:
    with pytest.raises(CtlError) as failed:
        node.ctl_json(
            "service", "create", "--name", "broken", "--mode", "replicated-job",
            "--restart-condition", "on-failure", "--restart-delay", "0s",
            "--restart-max-attempts", "1", test_image, "sh", "-c", "exit 3",
        )  # fmt: skip
    assert "run 1 failed" in str(failed.value) and "max attempts" in str(failed.value)
    rows = node.tasks("broken")
    assert [r["state"] for r in rows] == ["failed", "failed"]  # the first and one restart
    assert all(r["exit_code"] == 3 for r in rows)
    assert job_of(node, "broken")["state"] == "failed"


def run_events(node: SwarmNode, service_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in node.log_events()
        if e.get("event") == "orchestrator.job.run_started" and e.get("service_id") == service_id
    ]


def test_a_schedule_runs_the_job_and_coalesces_runs_missed_while_down(
    node: SwarmNode, test_image: str, docker_client: Any
) -> None:
    every = 3.0
    service_id = node.ctl_json(
        "service", "create", "--detach", "--name", "tick", "--mode", "replicated-job",
        "--schedule", "* * * * * */3", "--schedule-policy", "allow", test_image, "true",
    )["id"]  # fmt: skip
    # allow: the run due after the restart starts even if the run the kill interrupted is
    # still counted as going (under skip, that due time is skipped and the next run, later,
    # has nothing missed to say)
    poll(lambda: job_of(node, "tick")["iteration"] >= 2, "two scheduled runs", LONG)
    poll(lambda: job_of(node, "tick")["state"] == "completed", "a run completed", LONG)
    before = node.ctl_json("service", "inspect", "tick")[0]["job_status"]
    # the only manager goes away for more than two due times (counted from the kill: a due
    # time may pass between reading `before` and the kill, and its run start before it)
    node.kill()
    killed_at = time.time()
    poll(lambda: time.time() > killed_at + 3 * every, "three due times pass", LONG)
    node.start()
    node.wait_ready()
    poll(lambda: run_events(node, service_id), "a run after the restart", LONG)
    first = run_events(node, service_id)[0]
    # one run for the latest due time, not one per due time missed
    assert first["iteration"] - before["iteration"] in (1, 2), (before, first)
    assert "earlier due times missed" in first["message"], (before, first)
    assert first["scheduled_at"] > killed_at + every, (killed_at, first)
    poll(lambda: len(run_events(node, service_id)) >= 2, "the schedule goes on", LONG)
    second = run_events(node, service_id)[1]
    assert second["iteration"] == first["iteration"] + 1
    assert second["scheduled_at"] > first["scheduled_at"]
    node.ctl_json("service", "rm", "tick")
    poll(lambda: not node_containers(docker_client, node.node_id), "containers removed", LONG)
