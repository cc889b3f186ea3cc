"""Issue 5 roles and revocation on real processes: ``node rm`` (refusals, revocation, a
removed worker stops and, restarted, is refused and stops again, its tasks move) and
``node demote|promote`` (Raft membership follows; the last manager cannot be demoted; a
demoted manager becomes a worker that takes tasks)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.ca.certs import CertificateError, read_node_certificate
from actors.ca.node_certs import NODE_CERT_FILE
from api.enums import NodeRole
from tests.support.swarm import CtlError, Swarm, SwarmNode, poll
from transport.client import Client
from transport.keys import read_keypair


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def row(swarm: Swarm, node: SwarmNode) -> dict[str, Any] | None:
    for r in swarm.node_rows():
        if r["id"] == node.node_id:
            return dict(r)
    return None


def raft_status(manager: SwarmNode, asker: SwarmNode) -> dict[str, Any]:
    server_key = read_keypair(manager.state_dir / "keys" / "curve.key").public
    keys = read_keypair(asker.state_dir / "keys" / "curve.key")
    with Client(
        f"tcp://{manager.remote_api}", server_key=server_key, keypair=keys, timeout=5.0
    ) as client:
        return dict(client.request("raft.status"))


def test_node_rm_revokes_and_a_removed_worker_cannot_reconnect(swarm: Swarm) -> None:
    nodes = swarm.start_cluster(managers=1, workers=2, heartbeat_period="1s")
    m1, w1, w2 = nodes
    m1.ctl_json(
        "service",
        "create",
        "--name",
        "web",
        "--replicas",
        "4",
        "--detach",
        "busybox",
        "sleep",
        "300",
    )
    poll(lambda: len(m1.running("web")) == 4, "4 running", 60)
    # a ready node is refused without --force, a manager even with it
    for args, words in (
        (("node", "rm", w1.node_id), "is not down"),
        (("node", "rm", "--force", m1.node_id), "demote it first"),
    ):
        with pytest.raises(CtlError) as refused:
            m1.ctl_json(*args)
        assert words in str(refused.value)
    # --force removes a live worker: it is cut off at once and its tasks move
    assert m1.ctl_json("node", "rm", "--force", w1.node_id)["id"] == w1.node_id
    assert row(swarm, w1) is None

    def moved() -> bool:
        running = m1.running("web")
        return len(running) == 4 and all(t["node_id"] != w1.node_id for t in running)

    poll(moved, "4 tasks running away from the removed worker", 60)
    poll(
        lambda: any(e.get("event") == "agent.node.removed" for e in w1.log_events()),
        "w1 logs that it was removed",
    )
    # it stops, and restarted with its state dir it is refused again and stops again
    assert w1.process is not None and w1.process.wait(timeout=60) == 1
    w1.start(wait=False)
    assert w1.process is not None and w1.process.wait(timeout=60) == 1
    assert "this node was removed from the cluster" in w1.log_path.read_text()
    assert row(swarm, w1) is None
    refused_keys = [e for e in m1.log_events() if e.get("event") == "ca.admission.refused"]
    assert refused_keys, "m1 refused the removed key at the handshake"
    # a DOWN worker is removed without --force
    w2.kill()
    poll(lambda: (row(swarm, w2) or {}).get("status") == "down", "w2 down", 30)
    assert m1.ctl_json("node", "rm", w2.node_id)["id"] == w2.node_id
    assert [r["hostname"] for r in swarm.node_rows()] == ["m1"]


def test_demote_promote_round_trip_and_the_last_manager(swarm: Swarm) -> None:
    m1, m2, m3 = swarm.start_cluster(managers=3, workers=0)
    leader = swarm.leader()
    assert leader is not None
    # demote the leader itself: it hands leadership over first, then leaves Raft
    target = leader
    others = [n for n in (m1, m2, m3) if n is not target]
    target_id = target.node_id
    assert others[0].ctl_json("node", "demote", target_id)["id"] == target_id

    def demoted() -> bool:
        r = row_on(others[0], target_id)
        return r is not None and r["role"] == "worker" and r["manager_status"] is None

    poll(demoted, "the old leader shows as a worker", 60)
    assert len(managers_on(others[0])) == 2
    assert swarm_leader_id(others[0]) in {n.node_id for n in others}
    assert removed_from_raft(swarm, target_id)
    # it may no longer speak Raft
    with pytest.raises(Exception):  # noqa: B017 - unauthorized (RemoteError)
        raft_status(others[0], target)
    # promote it back: three reachable managers again
    others[0].ctl_json("node", "promote", target_id)

    def three_managers() -> bool:
        rows = others[0].ctl_json("node", "ls")
        mgrs = [r for r in rows if r["manager_status"]]
        return len(mgrs) == 3 and all(
            r["manager_status"]["reachability"] == "reachable" for r in mgrs
        )

    poll(three_managers, "3 reachable managers again", 60)
    poll(
        lambda: any(
            e.get("event") == "raft.learner.promoted" for n in others for e in n.log_events()
        ),
        "promoted back to voter",
        60,
    )
    # demote two; the last one is refused
    a, b = others
    a.ctl_json("node", "demote", target_id)
    poll(lambda: (row_on(a, target_id) or {}).get("role") == "worker", "demoted again", 60)
    poll(lambda: len(managers_on(a)) == 2, "2 managers", 60)
    survivor = a if swarm_leader_id(a) == a.node_id else b
    other = b if survivor is a else a
    survivor.ctl_json("node", "demote", other.node_id)
    poll(lambda: (row_on(survivor, other.node_id) or {}).get("role") == "worker", "1 left", 60)
    with pytest.raises(CtlError) as refused:
        survivor.ctl_json("node", "demote", survivor.node_id)
    assert "last manager" in str(refused.value)


def test_a_demoted_manager_becomes_a_worker_that_takes_tasks(swarm: Swarm) -> None:
    """``node demote`` of a follower: it leaves Raft, renews into a worker certificate,
    restarts its parts as a worker with a session to the leader, and the scheduler places
    tasks on it. The default heartbeat period (5 s): the node learns its new role from its
    session's stream, not from a heartbeat."""
    m1, m2, m3 = swarm.start_cluster(managers=3, workers=0)
    leader = swarm.leader()
    assert leader is not None
    target = next(n for n in (m1, m2, m3) if n is not leader)
    target_id = target.node_id
    leader.ctl_json("node", "demote", target_id)

    def a_worker() -> bool:
        r = row_on(leader, target_id) or {}
        return (
            r.get("role") == "worker"
            and r.get("manager_status") is None
            and r.get("status") == "ready"
            and certificate_role(target) is NodeRole.WORKER
        )

    poll(a_worker, f"{target.name} a ready worker with a worker certificate", 60)
    poll(
        lambda: session_after_restart(target),
        f"{target.name} restarted as a worker with a session",
        60,
    )
    assert target.process is not None and target.process.poll() is None  # never exited
    assert len(managers_on(leader)) == 2
    # it renewed through the leader, which recorded it a worker, not through its own CA,
    # whose store stopped following Raft with the demotion under way
    refused = [e for e in target.log_events() if e.get("event") == "ca.request.refused"]
    assert refused == []
    # tasks that only a worker may run go to it
    leader.ctl_json(
        "service", "create", "--name", "on-workers", "--replicas", "2",
        "--constraint", "node.role==worker", "--detach", "busybox", "sleep", "300",
    )  # fmt: skip

    def placed_on_it() -> bool:
        running = leader.running("on-workers")
        return len(running) == 2 and all(t["node_id"] == target_id for t in running)

    poll(placed_on_it, f"2 tasks running on {target.name}", 60)


def certificate_role(node: SwarmNode) -> NodeRole | None:
    """The role of the certificate in the node's state dir (None: none readable now)."""
    try:
        cert = (node.state_dir / "certificates" / NODE_CERT_FILE).read_bytes()
        return read_node_certificate(cert).role
    except (OSError, CertificateError, ValueError):
        return None


def session_after_restart(node: SwarmNode) -> bool:
    """The node's log: a restart as a worker began, then a dispatcher session opened."""
    restarting = False
    for e in node.log_events():
        if e.get("event") == "node.role.restarting" and e.get("role") == "worker":
            restarting = True
        elif restarting and e.get("event") == "agent.session.opened":
            return True
    return False


def row_on(node: SwarmNode, node_id: str) -> dict[str, Any] | None:
    for r in node.ctl_json("node", "ls"):
        if r["id"] == node_id:
            return dict(r)
    return None


def swarm_leader_id(node: SwarmNode) -> str | None:
    for r in node.ctl_json("node", "ls"):
        if r["manager_status"] and r["manager_status"]["leader"]:
            return str(r["id"])
    return None


def managers_on(node: SwarmNode) -> list[dict[str, Any]]:
    return [r for r in node.ctl_json("node", "ls") if r["manager_status"]]


def removed_from_raft(swarm: Swarm, node_id: str) -> bool:
    """Some manager's log says it proposed the REMOVE of ``node_id``'s Raft id."""
    return any(
        e.get("event") == "raft.member.removed" and e.get("node") == node_id
        for n in swarm.nodes
        for e in n.log_events()
    )


def test_promote_a_worker_then_demote_it(swarm: Swarm) -> None:
    m1, w1 = swarm.start_cluster(managers=1, workers=1, heartbeat_period="1s")
    w1_id = w1.node_id
    m1.ctl_json(
        "service",
        "create",
        "--name",
        "web",
        "--mode",
        "global",
        "--detach",
        "busybox",
        "sleep",
        "300",
    )
    poll(lambda: len(m1.running("web")) == 2, "a web task on each node", 60)
    w1_task = next(t["id"] for t in m1.running("web") if t["node_id"] == w1_id)
    # a worker's control socket refuses cluster commands in one line
    refused = w1.ctl("service", "ls")
    assert refused.returncode != 0
    assert (
        refused.stderr.strip().splitlines() == [refused.stderr.strip().splitlines()[0]]
        and "not a manager" in refused.stderr
    )
    # promote: the same process restarts as a manager, joins Raft and serves swarmctl
    m1.ctl_json("node", "promote", w1_id)

    def reachable_manager() -> bool:
        r = row_on(m1, w1_id) or {}
        ms = r.get("manager_status") or {}
        return r.get("role") == "manager" and ms.get("reachability") == "reachable"

    poll(reachable_manager, "w1 a reachable manager", 90)
    poll(
        lambda: any(e.get("event") == "raft.learner.promoted" for e in m1.log_events()),
        "w1 promoted to voter",
        60,
    )
    poll(lambda: w1.ctl_json("service", "ls"), "swarmctl service ls on w1", 60)
    assert {r["id"] for r in w1.ctl_json("node", "ls")} == {m1.node_id, w1_id}
    assert (w1.state_dir / "raft").exists()
    assert w1.process is not None and w1.process.poll() is None  # never exited
    assert w1.node_id == w1_id
    assert raft_status(m1, w1)["node_id"] > 0  # its key may speak Raft now
    # its task kept running through the restart
    assert any(t["id"] == w1_task for t in m1.running("web"))
    # demote: back to a worker, Raft data gone, swarmctl refused, tasks still run
    m1.ctl_json("node", "demote", w1_id)
    poll(
        lambda: (
            (row_on(m1, w1_id) or {}).get("role") == "worker"
            and (row_on(m1, w1_id) or {}).get("manager_status") is None
        ),
        "w1 a worker again",
        60,
    )

    def refused_on_w1() -> bool:
        result = w1.ctl("service", "ls")
        return result.returncode != 0 and "not a manager" in result.stderr

    poll(refused_on_w1, "w1's swarmctl refused", 60)
    poll(lambda: not (w1.state_dir / "raft").exists(), "w1's Raft data removed", 30)
    poll(lambda: (row_on(m1, w1_id) or {}).get("status") == "ready", "w1 ready", 30)
    # its task reports running again once the worker's new session resyncs its statuses
    poll(lambda: any(t["id"] == w1_task for t in m1.running("web")), "w1's task running", 30)
    assert w1.process is not None and w1.process.poll() is None
    with pytest.raises(Exception):  # noqa: B017 - unauthorized (RemoteError)
        raft_status(m1, w1)
    # a process restart brings it back as a worker
    w1.kill()
    w1.start()
    poll(refused_on_w1, "w1 restarted as a worker", 60)
    poll(lambda: (row_on(m1, w1_id) or {}).get("status") == "ready", "w1 ready again", 30)


def test_a_manager_demoted_before_it_joined_raft_starts_as_a_worker(swarm: Swarm) -> None:
    """A promotion whose manager parts cannot start (the remote port is taken) leaves a
    node holding a manager certificate and no Raft log. Demoted while it is down, it is
    started again: the managers refuse its ``raft.join`` (it is a worker now), so it
    renews its certificate, gets a worker one and runs as a worker; before, it asked
    again until its start timed out, and so at every start."""
    m1, w1 = swarm.start_cluster(managers=1, workers=1, heartbeat_period="1s")
    w1_id = w1.node_id
    w1.terminate()
    with socket.socket() as held:  # the port w1's manager parts would listen on
        held.bind((w1.listen_host, w1.port))
        held.listen()
        w1.start()
        poll(lambda: (row(swarm, w1) or {}).get("status") == "ready", "w1 ready again", 60)
        m1.ctl_json("node", "promote", w1_id)
        assert w1.process is not None and w1.process.wait(timeout=60) == 1
    assert certificate_role(w1) is NodeRole.MANAGER
    assert not (w1.state_dir / "raft").exists()
    poll(lambda: (row(swarm, w1) or {}).get("status") == "down", "w1 down", 60)
    m1.ctl_json("node", "demote", w1_id)
    poll(lambda: (row(swarm, w1) or {}).get("role") == "worker", "w1 recorded a worker", 60)
    w1.start(wait=False)

    def a_ready_worker() -> bool:
        w1._check_alive()
        r = row(swarm, w1) or {}
        return r.get("status") == "ready" and certificate_role(w1) is NodeRole.WORKER

    poll(a_ready_worker, "w1 a ready worker with a worker certificate", 60)
    events = [e.get("event") for e in w1.log_events()]
    assert "raft.join.renewed" in events and "node.started" in events
    assert w1.ctl("service", "ls").returncode != 0  # a worker's socket: not a manager


def test_a_worker_fails_over_to_managers_that_joined_after_it(swarm: Swarm) -> None:
    """w1 joins when m1 is the only manager; m2 and m3 join later, and nothing is
    assigned to w1 meanwhile. With m1 gone (quorum kept by m2 and m3) w1 must open a
    session with the new leader: m1's dispatcher sent w1 the new manager list in a frame
    of its own (actors/dispatcher/notices.py), and w1 keeps it in its managers.json."""
    m1 = swarm.start_node("m1")
    m1.wait_ready()
    m1.ctl_json("cluster", "update", "--heartbeat-period", "1s")
    w1 = swarm.join("w1", m1, m1.join_token("worker"))
    manager_token = m1.join_token("manager")
    swarm.join("m2", m1, manager_token)
    swarm.join("m3", m1, manager_token)
    swarm.wait_cluster(3, 1)
    m1.kill()
    poll(lambda: swarm.leader() not in (None, m1), "m2 or m3 leads", 60)
    leader = swarm.leader()
    assert leader is not None
    poll(
        lambda: (row_on(leader, w1.node_id) or {}).get("status") == "ready",
        "w1 ready under the new leader",
        60,
    )
