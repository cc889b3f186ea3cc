"""A swarm-node's log lines and its node id (real processes): a node that has an identity
(a state dir with a certificate) carries its id from its very first line; on a first start
the lines logged before the node has an id carry no ``node_id`` (before, they carried
``node_id: "-"``), and every line from the one that names the new id on carries it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.swarm import Swarm, SwarmNode


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def _check_first_start(node: SwarmNode, events: list[dict[str, Any]]) -> None:
    assert events, "no JSON log lines"
    assert all(e.get("node_id") != "-" for e in events)
    known = [i for i, e in enumerate(events) if "node_id" in e]
    assert known, "no line carries the node id"
    # once known, every later line carries it, and it is the node's
    assert all("node_id" in e for e in events[known[0] :])
    assert {e["node_id"] for e in events[known[0] :]} == {node.node_id}


def test_a_restarted_node_carries_its_id_from_its_first_line(swarm: Swarm) -> None:
    manager = swarm.start_node("m1")
    manager.wait_ready()
    _check_first_start(manager, manager.log_events())
    initialized = [e for e in manager.log_events() if e["event"] == "node.cluster.initialized"]
    assert [e.get("node_id") for e in initialized] == [manager.node_id]

    worker = swarm.join("w1", manager, manager.join_token("worker"))
    worker.wait_started()
    swarm.wait_cluster(1, 1)
    _check_first_start(worker, worker.log_events())

    for node in (manager, worker):
        assert node.terminate() == 0
        node.start()
    manager.wait_ready()
    swarm.wait_cluster(1, 1)
    for node in (manager, worker):
        events = node.log_events()
        assert events and {e.get("node_id") for e in events} == {node.node_id}, node.name
