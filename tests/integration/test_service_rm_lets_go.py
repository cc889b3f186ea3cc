"""``service rm`` on a real node: the service is gone for the user at once, as Docker
deletes it, while its tasks take their stop grace period to end: its name can be taken
again and its secrets and configs removed right away."""

from __future__ import annotations

from pathlib import Path

from tests.support.swarm import Swarm, poll

# a task that ignores SIGTERM, so it lives out its stop grace period
STUBBORN = ("sh", "-c", "trap '' TERM; while true; do sleep 1; done")


def test_a_removed_service_frees_its_name_secrets_and_configs_at_once(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1", executor="process")
        node.wait_ready()
        secret_file = tmp_path / "pw.txt"
        secret_file.write_text("s3cret")
        node.ctl_json("secret", "create", "pw", str(secret_file))
        node.ctl_json("config", "create", "cf", str(secret_file))
        node.ctl_json(
            "service", "create", "--name", "s2", "--secret", "pw", "--config", "cf",
            "--stop-grace-period", "60s", "--detach", "busybox", *STUBBORN,
        )  # fmt: skip
        [old] = poll(lambda: node.running("s2"), "s2 running", 60.0)

        removed = node.ctl("service", "rm", "s2")
        assert removed.returncode == 0, removed.stderr
        assert node.ctl_json("service", "ls") == []
        gone = node.ctl("service", "inspect", "s2")
        assert gone.returncode != 0 and "no such service: s2" in gone.stderr
        for kind, name in (("secret", "pw"), ("config", "cf")):
            freed = node.ctl(kind, "rm", name)
            assert freed.returncode == 0, freed.stderr
        again = node.ctl_json(
            "service", "create", "--name", "s2", "--detach", "busybox", "sleep", "600"
        )
        assert again["id"] != old["service_id"]
        assert [s["name"] for s in node.ctl_json("service", "ls")] == ["s2"]
        # meanwhile the old task is still being stopped (it ignores SIGTERM)
        listed = node.ctl_json("task", "ls")
        assert old["id"] in {t["id"] for t in listed}
        poll(lambda: len(node.running("s2")) == 1, "the new s2 running", 60.0)
