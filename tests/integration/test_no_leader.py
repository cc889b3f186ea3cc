"""A manager that knows no Raft leader serves no cluster state (actors/control/readiness.py):
three managers, two killed with ``kill -9``; the survivor refuses ``node ls`` with Docker's
words, through swarmctl and through its Engine API (the real ``docker`` CLI), instead of
showing the dead leader ``Ready / Leader`` from its stale store; ``version`` and
``docker info`` still answer; its web view (headless Chromium) says above its rows
that they may be out of date, and shows no manager leading; once a second manager is
back, reads are served again and the warning goes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import chromium, count_of, text_of
from tests.support.engine_cli import DockerCli, engine_flags
from tests.support.swarm import Swarm, SwarmNode, free_port, poll
from tests.support.waiting import wait_for

NO_LEADER = (
    "The swarm does not have a leader. It's possible that too few managers are online. "
    "Make sure more than half of the managers are online."
)
DOCKERD_SAYS = f"rpc error: code = Unknown desc = {NO_LEADER}"
LONG = 60.0


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def refused_without_leader(node: SwarmNode) -> str | None:
    """swarmctl's error line for ``node ls`` on ``node``, once it refuses it."""
    result = node.ctl("node", "ls")
    return result.stderr.strip() if result.returncode != 0 else None


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def test_a_manager_without_a_leader_refuses_cluster_reads_as_docker(
    swarm: Swarm, browser: Any, tmp_path: Path
) -> None:
    sock = tmp_path / "engine.sock"
    web = free_port()
    m1 = swarm.start_node("m1")
    m1.wait_ready()
    token = m1.join_token("manager")
    survivor = swarm.start_node(
        "m2", extra=(*m1.join_args(token), *engine_flags(sock), "--web-addr", str(web))
    )
    m3 = swarm.start_node("m3", extra=m1.join_args(token))
    swarm.wait_cluster(3, 0)
    wait_for(sock.exists, "the survivor's Engine API socket")
    docker = DockerCli(sock, cwd=tmp_path)
    assert len(docker.ok("node", "ls", "-q").split()) == 3
    browser.get(f"http://127.0.0.1:{web}/")
    poll(lambda: text_of(browser, "#live") == "live", "the page's stream open", LONG)
    poll(lambda: text_of(browser, ".leader") == "Leader", "the leader on the page", LONG)
    assert not browser.find_element("id", "quorum").is_displayed()

    m1.kill()  # the founder, the leader
    m3.kill()

    error = poll(lambda: refused_without_leader(survivor), "node ls refused", LONG)
    assert error == f"swarmctl: {NO_LEADER}"
    version = survivor.ctl_json("version")  # the node's own view still answers
    assert version["server"]["node_id"] == survivor.node_id

    refused = docker.run("node", "ls")
    assert refused.returncode != 0
    assert refused.stderr.strip() == f"Error response from daemon: {DOCKERD_SAYS}"
    info = json.loads(docker.ok("info", "--format", "{{json .Swarm}}"))
    assert (info["NodeID"], info["ControlAvailable"]) == (survivor.node_id, True)
    assert info["Error"] == DOCKERD_SAYS
    assert docker.ok("version", "--format", "{{.Server.APIVersion}}").strip()
    # the page keeps its rows but says they may be stale; its managers' status is the
    # survivor's live view, as node ls would show it: nobody leads
    poll(lambda: browser.find_element("id", "quorum").is_displayed(), "the page's warning", LONG)
    assert text_of(browser, "#quorum").startswith(NO_LEADER)
    assert "may be out of date" in text_of(browser, "#quorum")
    poll(lambda: count_of(browser, ".leader") == 0, "no leader on the page", LONG)

    # a second manager back: a leader again, and reads are served again
    m1.start()
    rows = poll(lambda: survivor.ctl_json("node", "ls"), "node ls served again", LONG)
    assert {r["hostname"] for r in rows} == {"m1", "m2", "m3"}
    poll(lambda: not browser.find_element("id", "quorum").is_displayed(), "warning gone", LONG)
    poll(lambda: text_of(browser, ".leader") == "Leader", "a leader on the page again", LONG)
