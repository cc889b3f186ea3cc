"""``swarm-node --force-new-cluster`` recovers a cluster that lost 2 of its 3 managers
(issue 5, item 8): real processes on loopback, kill -9, every wait a ``poll``.

The survivor is a manager that joined (not the founder): its Raft storage started from the
group's bootstrap voters, the harder case for the rewrite of the configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.swarm import Swarm, SwarmNode, poll
from transport.client import Client
from transport.keys import read_keypair

SERVICE = "quorum-phoenix"
LONG = 60.0


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def raft_status(node: SwarmNode, via: SwarmNode) -> dict[str, int | str]:
    """``raft.status`` of ``node``, asked with ``via``'s certified manager key."""
    server = read_keypair(node.state_dir / "keys" / "curve.key").public
    keys = read_keypair(via.state_dir / "keys" / "curve.key")
    with Client(f"tcp://{node.remote_api}", server_key=server, keypair=keys, timeout=5.0) as c:
        return dict(c.request("raft.status"))


def managers_of(node: SwarmNode) -> dict[str, dict[str, object]]:
    rows = node.ctl_json("node", "ls")
    return {r["hostname"]: r["manager_status"] for r in rows if r["manager_status"]}


def test_force_new_cluster_recovers_from_losing_two_of_three_managers(swarm: Swarm) -> None:
    swarm.start_cluster(managers=3, workers=0, heartbeat_period="1s")
    m1, m2, m3 = swarm.nodes
    m1.ctl_json(
        "service", "create", "--name", SERVICE, "--replicas", "3", "--detach",
        "busybox", "sleep", "300",
    )  # fmt: skip
    poll(lambda: len(m1.running(SERVICE)) == 3, f"{SERVICE}: 3 running", LONG)
    poll(lambda: [s["name"] for s in m2.ctl_json("service", "ls")] == [SERVICE], "m2 has it")

    # quorum lost: kill -9 two of the three managers (the founder among them)
    survivor = m2
    m1.kill()
    m3.kill()
    refused = survivor.ctl("service", "scale", f"{SERVICE}=5")
    assert refused.returncode != 0
    error = refused.stderr.strip()
    assert error.startswith("swarmctl: "), error
    assert any(w in error for w in ("leader", "unavailable", "timed out", "no reply")), error
    assert len(error.splitlines()) == 1, error

    # restart the survivor alone as a one-member cluster that keeps all state
    assert survivor.terminate() == 0
    survivor.extra = (*survivor.extra, "--force-new-cluster")
    survivor.start()
    assert any(e.get("event") == "raft.force_new_cluster" for e in survivor.log_events())

    def leads() -> dict[str, int | str] | None:
        status = raft_status(survivor, survivor)
        return status if status["state"] == "leader" else None

    status = poll(leads, "the survivor elects itself", LONG)
    assert status["leader_id"] == status["node_id"]
    survivor.wait_ready(timeout=LONG)
    assert managers_of(survivor)["m2"]["leader"] is True
    # the scale refused without quorum was not committed (the survivor served no read
    # while it knew no leader: tests/integration/test_no_leader.py)
    listed = survivor.ctl_json("service", "ls")
    assert [(s["name"], s["replicas_desired"]) for s in listed] == [(SERVICE, 3)]
    # the dead managers' tasks come back on the survivor; writes commit again
    poll(lambda: len(survivor.running(SERVICE)) == 3, f"{SERVICE}: 3 running again", LONG)
    survivor.ctl_json("service", "scale", f"{SERVICE}=4")
    poll(lambda: len(survivor.running(SERVICE)) == 4, f"{SERVICE}: 4 running", LONG)

    # a new manager joins the one-member cluster with the manager token, and the two
    # of them commit together
    survivor.extra = tuple(a for a in survivor.extra if a != "--force-new-cluster")
    m4 = swarm.join("m4", survivor, survivor.join_token("manager"))

    def joined() -> bool:
        status = managers_of(survivor).get("m4")
        return bool(status) and status["reachability"] == "reachable"  # type: ignore[index]

    poll(joined, "m4 a reachable manager", LONG)
    poll(lambda: [s["name"] for s in m4.ctl_json("service", "ls")] == [SERVICE], "m4 has it")
    m4_status = raft_status(m4, survivor)
    assert m4_status["leader_id"] == status["node_id"]
    m4.ctl_json("service", "scale", f"{SERVICE}=2")  # forwarded to the leader, committed
    poll(lambda: len(survivor.running(SERVICE)) == 2, f"{SERVICE}: 2 running", LONG)
    assert {s["name"]: s["replicas_desired"] for s in m4.ctl_json("service", "ls")} == {SERVICE: 2}


def test_old_managers_back_with_their_old_state_rejoin_the_forced_cluster(
    swarm: Swarm,
) -> None:
    """After --force-new-cluster on m2, m1 and m3 started again with their old state made a
    majority of their old group between themselves: they elected a leader of their own and
    took writes that the cluster never saw. Told by m2 that they were removed
    (``raft.removed``), they drop their Raft state and join m2's cluster as new members,
    as SwarmKit's managers do."""
    swarm.start_cluster(managers=3, workers=0, heartbeat_period="1s")
    m1, m2, m3 = swarm.nodes
    m1.ctl_json("service", "create", "--name", SERVICE, "--detach", "busybox", "sleep", "300")
    poll(lambda: [s["name"] for s in m2.ctl_json("service", "ls")] == [SERVICE], "m2 has it")
    m1.kill()
    m3.kill()
    assert m2.terminate() == 0
    m2.extra = (*m2.extra, "--force-new-cluster")
    m2.start()
    poll(lambda: raft_status(m2, m2)["state"] == "leader", "m2 elects itself", LONG)
    m2.wait_ready(timeout=LONG)
    m2.extra = tuple(a for a in m2.extra if a != "--force-new-cluster")
    m2.ctl_json("service", "scale", f"{SERVICE}=2")
    forced_term = raft_status(m2, m2)["term"]

    for old in (m1, m3):
        old.start(wait=False)
    for old in (m1, m3):
        poll(
            lambda old=old: any(e.get("event") == "node.raft.rejoined" for e in old.log_events()),
            f"{old.name} told it was removed, and rejoined",
            LONG,
        )
        assert any(e.get("event") == "raft.member.removed" for e in old.log_events())

    def both_back() -> bool:
        managers = managers_of(m2)
        return all(
            bool(managers.get(name)) and managers[name]["reachability"] == "reachable"
            for name in ("m1", "m3")
        )

    poll(both_back, "m1 and m3 reachable managers of m2's cluster", LONG)
    status = raft_status(m2, m2)
    assert (status["state"], status["term"]) == ("leader", forced_term)  # never deposed
    for old in (m1, m3):
        poll(
            lambda old=old: (
                {s["name"]: s["replicas_desired"] for s in old.ctl_json("service", "ls")}
                == {SERVICE: 2}
            ),
            f"{old.name} serves the one cluster's state",
            LONG,
        )
    m1.ctl_json("service", "scale", f"{SERVICE}=3")  # a write through a rejoined manager
    poll(
        lambda: (
            {s["name"]: s["replicas_desired"] for s in m2.ctl_json("service", "ls")} == {SERVICE: 3}
        ),
        "the write committed in the one cluster",
        LONG,
    )
