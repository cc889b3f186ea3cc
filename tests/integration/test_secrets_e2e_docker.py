"""Secrets and configs end to end: real ``swarm-node`` processes (a manager and two
workers, docker executor), the real engine, the real ``swarmctl``.

A container reads its secret at /run/secrets/<target> and its config at its target, with
the modes and owners given, read-only; the worker that runs no task using the secret never
receives it (its session log names every secret it received); rotation the Docker way
replaces the file; the secret cannot be removed while a service uses it; and after all
that, the secret's bytes are in no file under any node's state dir and in no log (while
the manager's decrypted Raft log does hold them: that is where they live).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.ca.keystore import DATA_KEY, KeyStore
from actors.node.startup.keys import KEYSTORE_DIR
from actors.worker.task_files import default_files_root
from api.ids import new_id
from tests.support.at_rest import decryptable_by, files_under
from tests.support.swarm import Swarm, SwarmNode, node_containers, poll

LONG = 90.0
SCRIPT = "exec sleep 600"
TARGET = "db/password"


@pytest.fixture
def swarm(tmp_path: Path, docker_client: Any, test_image: str) -> Iterator[Swarm]:
    with Swarm(tmp_path, docker_client=docker_client) as s:
        yield s


def session_secrets(node: SwarmNode) -> tuple[set[str], set[str]]:
    """The secret ids the node's agent logged as received, and as dropped, from its
    sessions (it logs every frame that brings or drops any)."""
    received: set[str] = set()
    dropped: set[str] = set()
    for path in node.log_dir.glob(f"{node.name}.*.log"):
        for line in path.read_text().splitlines():
            if '"agent.dependencies.received"' in line:
                event = json.loads(line)
                received.update(event["received"]["secrets"])
                dropped.update(event["dropped"]["secrets"])
    return received, dropped


def container_of(swarm: Swarm, node: SwarmNode, task_id: str) -> Any:
    found = [
        c
        for c in node_containers(swarm.docker, node.node_id)
        if c.labels.get("com.docker.swarm.task.id") == task_id
    ]
    return found[0] if found else None


def running_task(node: SwarmNode, service: str, on: SwarmNode) -> dict[str, Any]:
    rows = node.running(service)
    assert all(r["node_id"] == on.node_id for r in rows)
    return rows[0] if rows else {}


def exec_out(container: Any, *cmd: str) -> tuple[int, str]:
    code, out = container.exec_run(list(cmd))
    return code, out.decode("utf-8", "replace")


def test_secrets_and_configs_reach_only_their_tasks(swarm: Swarm, tmp_path: Path) -> None:
    manager, w1, w2 = swarm.start_cluster(1, 2, executor="docker", timeout=LONG)
    v1 = f"v1-{new_id()}-{os.urandom(8).hex()}".encode()
    v2 = f"v2-{new_id()}-{os.urandom(8).hex()}".encode()
    config_data = b"listen 8080;\n"
    inputs = tmp_path / "inputs"  # beside the state dirs, not in one
    inputs.mkdir()
    for name, data in (("pw_v1", v1), ("pw_v2", v2), ("site", config_data)):
        (inputs / name).write_bytes(data)
    ids = {}
    for noun, name in (("secret", "pw_v1"), ("secret", "pw_v2"), ("config", "site")):
        created = manager.ctl(noun, "create", name, str(inputs / name))
        assert created.returncode == 0, created.stderr
        ids[name] = created.stdout.strip()
    [shown] = manager.ctl_json("config", "inspect", "site")
    assert shown["spec"]["data"]  # a config shows its data
    manager.ctl_json(
        "service", "create", "--name", "db", "--detach",
        "--constraint", f"node.hostname=={w1.name}",
        "--secret", f"source=pw_v1,target={TARGET},uid=70,gid=71,mode=0440",
        "--config", "source=site,target=/etc/site.conf,mode=0400",
        "swarmnode-test:busybox", "sh", "-c", SCRIPT,
    )  # fmt: skip
    row = poll(lambda: running_task(manager, "db", w1), "db running on w1", LONG)
    container = container_of(swarm, w1, row["id"])
    path = f"/run/secrets/{TARGET}"
    assert exec_out(container, "cat", path) == (0, v1.decode())
    assert exec_out(container, "stat", "-c", "%a %u %g", path) == (0, "440 70 71\n")
    assert exec_out(container, "cat", "/etc/site.conf") == (0, config_data.decode())
    assert exec_out(container, "stat", "-c", "%a", "/etc/site.conf") == (0, "400\n")
    code, _ = exec_out(container, "sh", "-c", f"echo x > {path}")
    assert code != 0  # read-only
    files = default_files_root(w1.node_id) / row["id"] / "secrets" / TARGET
    assert files.read_bytes() == v1  # on the worker's tmpfs, for the task's life

    # in use: refused, naming the service
    refused = manager.ctl("secret", "rm", "pw_v1")
    assert refused.returncode != 0 and "in use by service db" in refused.stderr

    # rotation, the Docker way: the file at the same target now holds the new secret
    manager.ctl_json(
        "service", "update", "--detach", "--secret-rm", "pw_v1",
        "--secret-add", f"source=pw_v2,target={TARGET},uid=70,gid=71,mode=0440", "db",
    )  # fmt: skip
    new = poll(
        lambda: (r := running_task(manager, "db", w1)) and r["id"] != row["id"] and r,
        "the rotated task running",
        LONG,
    )
    rotated = container_of(swarm, w1, new["id"])
    assert exec_out(rotated, "cat", path) == (0, v2.decode())
    poll(lambda: not files.exists(), "the old task's files removed", LONG)
    removed = manager.ctl("secret", "rm", "pw_v1")
    assert removed.returncode == 0, removed.stderr

    # only w1 ever received the secrets; its agent dropped the old one
    poll(lambda: ids["pw_v1"] in session_secrets(w1)[1], "w1 dropped pw_v1", LONG)
    assert session_secrets(w1)[0] == {ids["pw_v1"], ids["pw_v2"]}
    assert session_secrets(w2) == (set(), set())
    assert session_secrets(manager) == (set(), set())  # a manager runs tasks too: not these

    # nothing of the secrets at rest, nor in any log
    for node in (manager, w1, w2):
        assert node.terminate() == 0
    for node in (manager, w1, w2):
        for file in files_under(node.state_dir):
            content = file.read_bytes()
            for data in (v1, v2):
                assert data not in content, f"{file} holds a secret"
    for log in tmp_path.glob("*.log"):
        text = log.read_bytes()
        assert v1 not in text and v2 not in text, f"{log} holds a secret"
    data_key = KeyStore(manager.state_dir / KEYSTORE_DIR).load(None)[DATA_KEY]
    worker_state = b"".join(p for _, p in decryptable_by(data_key, manager.state_dir / "worker"))
    assert v1 not in worker_state
    raft = b"".join(p for _, p in decryptable_by(data_key, manager.state_dir / "raft"))
    assert v1 in raft and v2 in raft  # where a secret lives: the encrypted Raft log
