"""``swarmctl service scale JOB=N`` on a replicated job, as ``docker service scale``: N
is the job's total completions; the job runs again to N, and scale waits for it."""

from __future__ import annotations

from pathlib import Path

from tests.support.swarm import Swarm


def test_scale_sets_a_replicated_jobs_completions_and_waits_for_them(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1", executor="process")
        node.wait_ready()
        created = node.ctl(
            "service", "create", "--name", "job", "--mode", "replicated-job",
            "--replicas", "2", "busybox", "true",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        scaled = node.ctl("service", "scale", "job=4")
        assert scaled.returncode == 0, scaled.stderr
        lines = scaled.stdout.splitlines()
        assert lines[0] == "job scaled to 4" and "run 2: 4 out of 4 completed" in lines
        [summary] = node.ctl_json("service", "ls")
        assert summary["replicas_desired"] == 4
        [service] = node.ctl_json("service", "inspect", "job")
        assert service["spec"]["mode"]["replicated-job"]["total_completions"] == 4
        status = service["job_status"]
        assert (status["iteration"], status["state"]) == (2, "completed")
