"""Images pulled from a real registry started here (Debian's ``docker-registry`` on
127.0.0.1, basic auth), through real ``swarm-node`` processes and ``swarmctl`` (issue 12
item 6).

With ``--with-registry-auth`` and the user's docker config, a node pulls a private image
and runs it; without credentials, with a wrong password, or for a tag the registry lacks,
the task is REJECTED saying which. The credentials are found in no file of any state dir
and in no log.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI
from tests.support.at_rest import files_under
from tests.support.registry import Registry, missing_registry_programs
from tests.support.swarm import Swarm, SwarmNode, poll

pytestmark = pytest.mark.docker
LONG = 60.0
PASSWORD = f"pw-{uuid.uuid4().hex}"


@pytest.fixture
def registry(tmp_path: Path, docker_client: Any) -> Iterator[Registry]:
    missing = missing_registry_programs()
    if missing:
        reason = f"no {', '.join(missing)} (Debian's docker-registry and apache2-utils)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    with Registry.start(tmp_path / "registry", user="alice", password=PASSWORD) as started:
        yield started
        started.forget_pulled(docker_client)


@pytest.fixture
def node(tmp_path: Path, docker_client: Any, test_image: str) -> Iterator[SwarmNode]:
    (tmp_path / "swarm").mkdir()
    with Swarm(tmp_path / "swarm", docker_client=docker_client) as swarm:
        started = swarm.start_node("m1", executor="docker")
        started.wait_ready()
        yield started


def docker_config(
    monkeypatch: pytest.MonkeyPatch, directory: Path, registry: Registry, password: str
) -> None:
    """The user's docker config, as ``docker login ADDRESS`` writes it, for swarmctl."""
    directory.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{registry.user}:{password}".encode()).decode()
    (directory / "config.json").write_text(
        json.dumps({"auths": {registry.address: {"auth": auth}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))


def finished(node: SwarmNode, service: str) -> dict[str, Any]:
    def one() -> dict[str, Any] | None:
        rows = [t for t in node.tasks(service) if t["state"] in ("running", "rejected")]
        return rows[0] if rows else None

    found: dict[str, Any] = poll(one, f"{service} running or rejected", LONG)
    return found


def create(node: SwarmNode, name: str, image: str, *flags: str) -> None:
    node.ctl_json(
        "service", "create", "--name", name, "--restart-condition", "none", "--detach",
        *flags, image, "sleep", "300",
    )  # fmt: skip


def test_pull_with_and_without_credentials(
    node: SwarmNode,
    registry: Registry,
    docker_client: Any,
    test_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repository = f"swarmnode-test/private-{uuid.uuid4().hex[:8]}"
    image = registry.push(docker_client, test_image, repository, "v1")

    create(node, "anonymous", image)
    task = finished(node, "anonymous")
    assert task["state"] == "rejected"
    assert "wants credentials" in task["error"] and "--with-registry-auth" in task["error"]

    docker_config(monkeypatch, tmp_path / "wrong", registry, "not-the-password")
    create(node, "wrong", image, "--with-registry-auth")
    task = finished(node, "wrong")
    assert task["state"] == "rejected" and "refused the credentials" in task["error"]

    docker_config(monkeypatch, tmp_path / "right", registry, PASSWORD)
    missing = f"{registry.address}/{repository}:no-such-tag"
    create(node, "missing", missing, "--with-registry-auth")
    task = finished(node, "missing")
    assert task["state"] == "rejected" and f"image {missing} not found" in task["error"]

    create(node, "private", image, "--with-registry-auth")
    task = finished(node, "private")
    assert task["state"] == "running", task
    assert image in docker_client.containers.get(task["container_id"]).image.tags
    events = [e.get("event") for e in node.log_events() if e.get("image") == image]
    assert "worker.image.pull.started" in events and "worker.image.pull.complete" in events
    inspected = node.ctl("service", "inspect", "private", "--format", "json").stdout
    assert PASSWORD not in inspected and json.loads(inspected)[0].get("registry_auth") is None

    # the credentials: in no file of the node's state dir, in no log line
    basic = base64.b64encode(f"{registry.user}:{PASSWORD}".encode())
    for path in files_under(node.state_dir, node.log_dir):
        if path.suffix == ".json" and path.parent.name in ("wrong", "right"):
            continue  # the user's own docker configs
        content = path.read_bytes()
        assert PASSWORD.encode() not in content, f"{path} holds the registry password"
        assert basic not in content, f"{path} holds the registry credentials"
