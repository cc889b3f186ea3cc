"""A secret and a config for a process-executor task, end to end: one real ``swarm-node``
(the process executor, its tasks as ``nobody`` when it runs as root) and the real
``swarmctl``. The task finds them as files in ``$SWARM_SECRETS_DIR`` and
``$SWARM_CONFIGS_DIR`` (it prints their digests and modes, never their bytes), on a tmpfs,
gone once the task is; nowhere under the state dir."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.worker.executors.process_logs import read_text
from actors.worker.task_files import default_files_root
from api.ids import new_id
from tests.support.at_rest import files_under
from tests.support.swarm import Swarm, SwarmNode, poll

SCRIPT = (
    'sha256sum "$SWARM_SECRETS_DIR/api/key" "$SWARM_CONFIGS_DIR/etc/app.ini"; '
    'stat -c "%a" "$SWARM_SECRETS_DIR/api/key"; echo done; exec sleep 300'
)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[SwarmNode]:
    with Swarm(tmp_path) as swarm:
        started = swarm.start_node("m1", executor="process")
        started.wait_ready()
        yield started


def test_a_process_task_gets_its_files(node: SwarmNode, tmp_path: Path) -> None:
    secret = f"key-{new_id()}-{os.urandom(8).hex()}".encode()
    config = b"[app]\nport = 8080\n"
    for noun, name, data in (("secret", "api_key", secret), ("config", "app", config)):
        path = tmp_path / name
        path.write_bytes(data)
        created = node.ctl(noun, "create", name, str(path))
        assert created.returncode == 0, created.stderr
    node.ctl_json(
        "service", "create", "--name", "api", "--detach",
        "--secret", "source=api_key,target=api/key,mode=0444",
        "--config", "source=app,target=/etc/app.ini",
        "busybox", "sh", "-c", SCRIPT,
    )  # fmt: skip
    row = poll(lambda: (rows := node.running("api")) and rows[0], "api running", 60.0)
    log = node.state_dir / "process" / f"{row['id']}.log"
    poll(lambda: log.exists() and "done" in read_text(log), "the task's output", 60.0)
    lines = read_text(log).splitlines()
    assert lines[0].split()[0] == hashlib.sha256(secret).hexdigest()
    assert lines[1].split()[0] == hashlib.sha256(config).hexdigest()
    assert lines[2] == "444"
    task_files = default_files_root(node.node_id) / row["id"]
    assert (task_files / "secrets" / "api" / "key").read_bytes() == secret
    node.ctl_json("service", "rm", "api")
    poll(lambda: not task_files.exists(), "the task's files removed", 60.0)
    assert node.terminate() == 0
    for path in files_under(node.state_dir):
        assert secret not in path.read_bytes(), f"{path} holds the secret"


def test_a_templated_config_is_expanded_for_each_task(node: SwarmNode, tmp_path: Path) -> None:
    """``config create --template-driver golang``: each task's file is the template
    expanded on its node, with its own slot, env and secret; inspect shows the template."""
    secret = tmp_path / "pw"
    secret.write_bytes(b"hunter2")
    assert node.ctl("secret", "create", "pw", str(secret)).returncode == 0
    template = tmp_path / "app.tmpl"
    template.write_text(
        'slot={{.Task.Slot}} host={{.Node.Hostname}} mode={{env "MODE"}} pw={{secret "pw"}}\n'
    )
    created = node.ctl("config", "create", "--template-driver", "golang", "app", str(template))
    assert created.returncode == 0, created.stderr
    [shown] = node.ctl_json("config", "inspect", "app")
    assert shown["spec"]["templating"] == "golang"
    bad = tmp_path / "bad.tmpl"
    bad.write_text("{{.Task.Nope}}")
    refused = node.ctl("config", "create", "--template-driver", "golang", "bad", str(bad))
    assert refused.returncode != 0 and "unknown field .Task.Nope" in refused.stderr
    node.ctl_json(
        "service", "create", "--name", "tpl", "--detach", "--replicas", "2",
        "--env", "MODE=blue", "--secret", "pw", "--config", "source=app,target=/app.conf",
        "busybox", "sh", "-c", 'cat "$SWARM_CONFIGS_DIR/app.conf"; echo done; exec sleep 300',
    )  # fmt: skip
    rows = poll(lambda: len(r := node.running("tpl")) == 2 and r, "tpl running", 60.0)
    hostname = node.ctl_json("node", "inspect", "self")[0]["description"]["hostname"]
    for row in rows:
        log = node.state_dir / "process" / f"{row['id']}.log"
        poll(lambda log=log: log.exists() and "done" in read_text(log), "the output", 60.0)
        assert read_text(log).splitlines()[0] == (
            f"slot={row['slot']} host={hostname} mode=blue pw=hunter2"
        )
    node.ctl_json("service", "rm", "tpl")
