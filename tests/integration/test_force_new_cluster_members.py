"""Manager decisions and manager status follow Raft's membership, not the store's roles
(actors/control/raft_members.py), on real processes: after ``--force-new-cluster`` the
managers the group lost can be demoted and removed, and ``node ls`` on a manager that just
restarted shows the live leader and itself reachable from its first answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.swarm import Swarm, SwarmNode, poll
from transport.client import Client
from transport.keys import read_keypair

LONG = 60.0


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def raft_status(node: SwarmNode) -> dict[str, Any]:
    """``raft.status`` of ``node``, asked with its own certified manager key."""
    keys = read_keypair(node.state_dir / "keys" / "curve.key")
    with Client(f"tcp://{node.remote_api}", server_key=keys.public, keypair=keys, timeout=5.0) as c:
        return dict(c.request("raft.status"))


def rows_of(node: SwarmNode) -> dict[str, dict[str, Any]]:
    return {r["hostname"]: r for r in node.ctl_json("node", "ls")}


def test_managers_lost_to_force_new_cluster_are_demoted_and_removed(swarm: Swarm) -> None:
    """The store still holds m1 and m3 as managers; Raft has m2 alone. Demoting one was
    refused for a loss of quorum counted on the store's roles, and removing one said it
    was a member of the Raft cluster."""
    swarm.start_cluster(managers=3, workers=0, heartbeat_period="1s")
    m1, m2, m3 = swarm.nodes
    m1.kill()
    m3.kill()
    assert m2.terminate() == 0
    m2.extra = (*m2.extra, "--force-new-cluster")
    m2.start()
    poll(lambda: raft_status(m2)["state"] == "leader", "m2 elects itself", LONG)
    m2.wait_ready(timeout=LONG)

    rows = rows_of(m2)
    assert rows["m2"]["manager_status"]["leader"] is True
    for old in ("m1", "m3"):  # managers in the store, no longer Raft members
        assert rows[old]["role"] == "manager"
        assert rows[old]["manager_status"]["leader"] is False
        assert rows[old]["manager_status"]["reachability"] == "unknown"

    # demote m1: nothing to take out of Raft, the leader records it as a worker; once
    # it is down it is removed without --force
    assert m2.ctl_json("node", "demote", m1.node_id)["id"] == m1.node_id

    def m1_down_worker() -> bool:
        row = rows_of(m2)["m1"]
        return row["role"] == "worker" and row["manager_status"] is None and row["status"] == "down"

    poll(m1_down_worker, "m1 a down worker", LONG)
    assert m2.ctl_json("node", "rm", m1.node_id)["id"] == m1.node_id
    # m3 is no Raft member either: removed as it is (SwarmKit refuses only a member)
    assert m2.ctl_json("node", "rm", "--force", m3.node_id)["id"] == m3.node_id
    rows = rows_of(m2)
    assert sorted(rows) == ["m2"]
    assert rows["m2"]["manager_status"] == {
        "leader": True,
        "reachability": "reachable",
        "addr": rows["m2"]["manager_status"]["addr"],
    }
    # m2 is the last voter: its demotion is refused
    refused = m2.ctl("node", "demote", m2.node_id)
    assert refused.returncode != 0 and "last manager" in refused.stderr, refused.stderr


def test_node_ls_on_a_restarted_manager_shows_the_live_leader(swarm: Swarm) -> None:
    """The old leader restarts: its store says it leads (and, once caught up, that it is
    unreachable, as the new leader recorded while it was down). Every answer of its
    ``node ls`` shows the leader Raft knows and itself reachable."""
    managers = swarm.start_cluster(managers=3, workers=0)
    old = swarm.leader()
    assert old is not None
    others = [n for n in managers if n is not old]
    assert old.terminate() == 0

    def new_leader() -> SwarmNode | None:
        states = {n.name: raft_status(n) for n in others}
        leaders = [n for n in others if states[n.name]["state"] == "leader"]
        if len(leaders) != 1:
            return None
        raft_id = states[leaders[0].name]["node_id"]
        return leaders[0] if all(s["leader_id"] == raft_id for s in states.values()) else None

    leader = poll(new_leader, "a new leader both others follow", LONG)
    term = raft_status(leader)["term"]
    old.start(wait=False)

    def answer() -> list[dict[str, Any]] | None:
        result = old.ctl("node", "ls", "--format", "json")
        return json.loads(result.stdout) if result.returncode == 0 else None

    answers = [poll(answer, f"{old.name} answers node ls", LONG)]
    answers += [a for a in (answer() for _ in range(10)) if a is not None]
    # the leader did not change meanwhile: it is what every answer must show
    assert (raft_status(leader)["state"], raft_status(leader)["term"]) == ("leader", term)
    for rows in answers:
        shown = [r["id"] for r in rows if r["manager_status"] and r["manager_status"]["leader"]]
        assert shown == [leader.node_id], rows
        own = next(r for r in rows if r["id"] == old.node_id)
        assert own["manager_status"]["reachability"] == "reachable", own
