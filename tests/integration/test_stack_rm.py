"""``swarmctl stack rm`` on a real ``swarm-node`` (process executor) with the real
``swarmctl``: what it cannot remove is named, the rest is still removed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.swarm import Swarm, SwarmNode

COMPOSE = """\
services:
  app:
    image: busybox
    command: sleep 300
    secrets: [pw]
    configs: [conf]
secrets:
  pw: {file: ./pw.txt}
configs:
  conf: {file: ./app.conf}
"""


@pytest.fixture
def node(tmp_path: Path) -> Iterator[SwarmNode]:
    with Swarm(tmp_path) as swarm:
        started = swarm.start_node("m1")
        started.wait_ready()
        yield started


def names(node: SwarmNode, kind: str) -> set[str]:
    return {row["name"] for row in node.ctl_json(kind, "ls")}


def test_what_another_service_uses_is_named_and_the_rest_still_removed(
    node: SwarmNode, tmp_path: Path
) -> None:
    """A secret of the stack that another service uses cannot go: stack rm stopped there,
    leaving the stack's config (and every stack named after it) behind, as if it had
    removed them. Docker's goes on, naming each failure, and exits 1."""
    (tmp_path / "pw.txt").write_text("s3cret")
    (tmp_path / "app.conf").write_text("x=1\n")
    (tmp_path / "st.yml").write_text(COMPOSE)
    for stack in ("one", "two"):
        deployed = node.ctl("stack", "deploy", "-c", str(tmp_path / "st.yml"), stack)
        assert deployed.returncode == 0, deployed.stderr
    node.ctl_json("service", "create", "--name", "outsider", "--detach",
                  "--secret", "one_pw", "busybox", "sleep", "300")  # fmt: skip

    result = node.ctl("stack", "rm", "one", "two")
    assert result.returncode == 1
    assert "Failed to remove secret one_pw: secret 'one_pw' is in use by service outsider" in (
        result.stderr
    )
    assert result.stderr.strip().endswith("Failed to remove some resources from stack: one")
    assert "Removing config one_conf" in result.stdout
    assert names(node, "secret") == {"one_pw"}  # only what another service uses is left
    assert not names(node, "config")
    assert {s["name"] for s in node.ctl_json("service", "ls")} == {"outsider"}
