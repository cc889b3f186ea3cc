"""``swarmctl node ls`` and ``node ps`` on a cluster of real processes (two managers, a
worker): the ``*`` is beside the node whose control socket was asked (not the leader's),
``--filter`` keeps what Docker's keeps and refuses a bad word in one line, and ``node ps``
lists the tasks on this node by default, on the nodes named otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.swarm import Swarm, SwarmNode, poll

LONG = 90.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    with Swarm(tmp_path_factory.mktemp("listings")) as swarm:
        swarm.start_cluster(managers=2, workers=1)
        yield swarm


def by_name(swarm: Swarm) -> dict[str, SwarmNode]:
    return {n.name: n for n in swarm.nodes}


def hostnames(node: SwarmNode, *words: str) -> list[str]:
    return [row["hostname"] for row in node.ctl_json("node", "ls", *words)]


def test_node_ls_marks_the_asked_node_and_filters(cluster: Swarm) -> None:
    nodes = by_name(cluster)
    m2, w1 = nodes["m2"], nodes["w1"]
    table = m2.ctl("node", "ls")
    assert table.returncode == 0, table.stderr
    marked = {line.split()[0]: line.split()[1] == "*" for line in table.stdout.splitlines()[1:]}
    assert marked == {nodes["m1"].node_id: False, m2.node_id: True, w1.node_id: False}
    assert [r["self"] for r in m2.ctl_json("node", "ls", "--filter", f"id={m2.node_id}")] == [True]

    m2.ctl_json("node", "update", "--label-add", "zone=a", "w1")
    assert hostnames(m2, "--filter", "role=worker") == ["w1"]
    assert hostnames(m2, "--filter", "role=manager", "--filter", "name=m") == ["m1", "m2"]
    assert hostnames(m2, "--filter", "node.label=zone=a") == ["w1"]
    assert hostnames(m2, "--filter", "node.label=zone=b") == []
    assert hostnames(m2, "--filter", "membership=accepted") == ["m1", "m2", "w1"]
    for word, said in (
        ("colour=red", "unknown key 'colour'"),
        ("role=boss", "expected manager or worker"),
    ):
        bad = m2.ctl("node", "ls", "--filter", word)
        assert bad.returncode == 2 and said in bad.stderr, bad.stderr
        assert len(bad.stderr.splitlines()) == 1 and bad.stdout == ""


def test_node_ps_lists_this_node_or_the_nodes_named(cluster: Swarm) -> None:
    nodes = by_name(cluster)
    m1, m2, w1 = nodes["m1"], nodes["m2"], nodes["w1"]
    for name, labels in (("front", ("--label", "tier=front")), ("back", ())):
        m1.ctl_json(
            "service", "create", "--name", name, "--replicas", "3", *labels, "--detach",
            "busybox", "sleep", "600",
        )  # fmt: skip
    poll(
        lambda: len(m1.running("front")) == 3 and len(m1.running("back")) == 3,
        "front and back running",
        LONG,
    )
    everywhere = {t["id"]: t["node_id"] for s in ("front", "back") for t in m1.running(s)}

    mine = m2.ctl_json("node", "ps")  # the node whose control socket was asked
    assert mine and {t["node_id"] for t in mine} == {m2.node_id}
    assert {t["id"] for t in mine} == {i for i, n in everywhere.items() if n == m2.node_id}

    table = m1.ctl("node", "ps", "w1", "self", "--no-trunc")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == [
        "ID", "NAME", "IMAGE", "NODE", "DESIRED", "STATE", "CURRENT", "STATE", "ERROR", "PORTS",
    ]  # fmt: skip
    shown = {line.split()[0]: line.split()[3] for line in table.stdout.splitlines()[1:]}
    assert shown == {
        i: {m1.node_id: "m1", w1.node_id: "w1"}[n]
        for i, n in everywhere.items()
        if n in (m1.node_id, w1.node_id)
    }

    fronts = m1.ctl_json("node", "ps", "--filter", "label=tier=front", "m1", "m2", "w1")
    assert sorted(t["id"] for t in fronts) == sorted(t["id"] for t in m1.running("front"))
    backs_on_w1 = {t["id"][:12] for t in m1.running("back") if t["node_id"] == w1.node_id}
    quiet = m1.ctl(
        "node", "ps", "-q", "--filter", "name=back.", "--filter", "desired-state=running", "w1"
    )
    assert quiet.returncode == 0 and set(quiet.stdout.split()) == backs_on_w1, quiet.stderr

    missing = m1.ctl("node", "ps", "ghost", "w1")
    assert missing.returncode == 1 and "ghost" in missing.stderr, missing.stderr
    assert len(missing.stderr.splitlines()) == 1
    assert {line.split()[3] for line in missing.stdout.splitlines()[1:]} == {"w1"}
    bad = m1.ctl("node", "ps", "--filter", "node=w1")
    assert bad.returncode == 2 and "unknown key 'node'" in bad.stderr, bad.stderr
