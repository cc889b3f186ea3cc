"""Services on a multi-node cluster of real processes (process executor): global services
follow the nodes, replicas spread, a follower's control socket works (writes forwarded to
the leader), and losing the leader (kill -9) or a worker loses no slot and no write."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.swarm import Swarm, SwarmNode, poll

IMAGE = "busybox"
LONG = 90.0


def create(node: SwarmNode, name: str, *flags: str) -> None:
    node.ctl_json("service", "create", "--name", name, "--detach", *flags, IMAGE, "sleep", "600")


def running(node: SwarmNode, service: str) -> list[dict[str, Any]]:
    return node.running(service)


def slots_converged(node: SwarmNode, service: str, replicas: int, dead: set[str]) -> bool:
    """Slots 1..replicas each have exactly one task meant to run, and it runs on a live
    node."""
    rows = node.tasks(service)
    wanted = Counter(t["slot"] for t in rows if t["desired_state"] == "running")
    if sorted(wanted) != list(range(1, replicas + 1)) or any(c != 1 for c in wanted.values()):
        return False
    live = [
        t
        for t in rows
        if t["desired_state"] == "running" and t["state"] == "running" and t["node_id"] not in dead
    ]
    return len(live) == replicas


def agent_left_the_dead_leader_at_once(worker: SwarmNode) -> bool:
    """The worker's agent saw its session's connection close when the leader was killed
    (not a heartbeat later), and an attempt at the dead manager since failed at once,
    refused, instead of waiting out the connect timeout. False until a session opened
    again."""
    events = [e for e in worker.log_events() if str(e.get("event", "")).startswith("agent.")]
    ended = next(
        i
        for i, e in enumerate(events)
        if e["event"] == "agent.session.ended" and "connection to" in str(e.get("reason"))
    )
    dead = events[ended]["manager"]
    assert f"the connection to {dead} closed" in str(events[ended]["reason"])
    after = events[ended + 1 :]
    opened = next((i for i, e in enumerate(after) if e["event"] == "agent.session.opened"), None)
    if opened is None:
        return False  # not back yet
    assert after[opened]["manager"] != dead
    for e in after[:opened]:
        if e["event"] == "agent.session.ended" and e["manager"] == dead:
            assert "refused the connection" in str(e["reason"]), e
    return True


def follower(swarm: Swarm) -> SwarmNode:
    leader = swarm.leader()
    assert leader is not None
    return next(n for n in swarm.managers if n is not leader)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    with Swarm(tmp_path_factory.mktemp("cluster")) as swarm:
        swarm.start_cluster(managers=3, workers=2)
        yield swarm


def test_a_global_service_runs_once_per_node_and_follows_a_joiner(cluster: Swarm) -> None:
    m1 = cluster.nodes[0]
    create(m1, "everywhere", "--mode", "global")
    ids = {r["id"] for r in cluster.node_rows()}
    assert len(ids) == 5

    def one_per_node(expected: set[str]) -> bool:
        tasks = running(m1, "everywhere")
        nodes = [t["node_id"] for t in tasks]
        return len(nodes) == len(expected) and set(nodes) == expected

    poll(lambda: one_per_node(ids), "5 global tasks on 5 nodes", LONG)
    w3 = cluster.join("w3", m1, m1.join_token("worker"))
    cluster.wait_cluster(3, 3)
    poll(lambda: one_per_node(ids | {w3.node_id}), "6 global tasks on 6 nodes", LONG)


def test_replicas_spread_and_a_follower_serves_the_control_api(cluster: Swarm) -> None:
    via = follower(cluster)
    nodes = len(cluster.node_rows())
    create(via, "spread", "--replicas", str(nodes))
    poll(lambda: len(running(via, "spread")) == nodes, f"{nodes} replicas running", LONG)
    placed = Counter(t["node_id"] for t in running(via, "spread"))
    assert len(placed) == nodes  # spread: one per node when they all fit
    via.ctl_json("service", "scale", "spread=2", "--detach")
    poll(lambda: slots_converged(via, "spread", 2, set()), "scaled to 2", LONG)
    leader = cluster.leader()
    assert leader is not None
    assert {s["name"] for s in leader.ctl_json("service", "ls")} >= {"spread", "everywhere"}


def test_leader_and_worker_kill_lose_no_slot_and_no_write(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        swarm.start_cluster(managers=3, workers=2, heartbeat_period="1s")
        m1 = swarm.nodes[0]
        create(m1, "web", "--replicas", "6")
        poll(lambda: slots_converged(m1, "web", 6, set()), "6 replicas", LONG)
        acked = []
        for i in range(5):  # acknowledged writes, before the leader dies
            create(follower(swarm), f"acked-{i}", "--replicas", "0")
            acked.append(f"acked-{i}")

        leader = swarm.leader()
        assert leader is not None
        old_id = leader.node_id
        leader.kill()
        dead = {old_id}

        def new_leader() -> SwarmNode | None:
            found = swarm.leader()
            return found if found is not None and found.node_id != old_id else None

        survivor = poll(new_leader, "a new leader", LONG)
        names = {s["name"] for s in survivor.ctl_json("service", "ls")}
        assert set(acked) <= names  # no acknowledged write lost
        survivor.ctl_json("service", "scale", "web=9", "--detach")
        poll(lambda: slots_converged(survivor, "web", 9, dead), "9 replicas after failover", LONG)
        for worker in (n for n in swarm.nodes if n.name in ("w1", "w2")):
            poll(lambda w=worker: agent_left_the_dead_leader_at_once(w), "session back", LONG)
        rows = {r["hostname"]: r for r in survivor.ctl_json("node", "ls")}

        def old_leader_down() -> bool:
            row = {r["hostname"]: r for r in survivor.ctl_json("node", "ls")}[leader.name]
            ms = row["manager_status"]
            return bool(
                row["status"] == "down" and ms["reachability"] == "unreachable" and not ms["leader"]
            )

        poll(old_leader_down, "the old leader DOWN and unreachable", LONG)

        worker = next(n for n in swarm.nodes if n.name == "w1")
        on_worker = [t for t in running(survivor, "web") if t["node_id"] == worker.node_id]
        assert on_worker, "spread placed a replica on w1"
        worker.kill()
        dead.add(worker.node_id)
        poll(
            lambda: (
                {r["hostname"]: r for r in survivor.ctl_json("node", "ls")}["w1"]["status"]
                == "down"
            ),
            "w1 DOWN after the heartbeat grace",
            LONG,
        )
        poll(lambda: slots_converged(survivor, "web", 9, dead), "w1's replicas elsewhere", LONG)
        assert rows  # node ls answered throughout

        # both come back with their state dirs: the old leader rejoins Raft as a follower
        leader.start()
        worker.start()
        swarm.wait_cluster(3, 2, timeout=LONG)
        assert swarm.leader() is not leader
        poll(lambda: slots_converged(survivor, "web", 9, set()), "still 9 replicas", LONG)
