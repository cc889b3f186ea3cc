"""``swarm-node --metrics-addr`` on real processes (issue 11 item 4): the exposition
parses with ``prometheus_client``'s own parser, holds every metric the issue lists, moves
when work happens, binds loopback unless told otherwise, and shows no secret."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.idle_sockets import closed_by_peer, idle_connections
from tests.support.swarm import Swarm, SwarmNode, free_port, poll

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

LISTED = (
    # raft
    "swarm_raft_term",
    "swarm_raft_commit_index",
    "swarm_raft_applied_index",
    "swarm_raft_leader_changes",
    "swarm_raft_proposal_seconds",
    "swarm_raft_snapshot_bytes",
    # store
    "swarm_store_objects",
    # scheduler
    "swarm_scheduler_tasks_scheduled",
    "swarm_scheduler_tasks_pending",
    "swarm_scheduler_task_wait_seconds",
    # dispatcher
    "swarm_dispatcher_sessions",
    "swarm_dispatcher_heartbeats_missed",
    # log broker
    "swarm_log_subscriptions",
    "swarm_log_subscriptions_expired",
    # tasks by state, restarts, transport
    "swarm_tasks",
    "swarm_node_tasks",
    "swarm_actor_restarts",
    "swarm_transport_frames",
    "swarm_transport_bytes",
    "swarm_transport_refusals",
    "swarm_transport_stranger_connections",
    # cluster-wide (managers)
    "swarm_cluster_nodes",
    "swarm_cluster_services",
    "swarm_service_replicas_desired",
    "swarm_service_replicas_running",
)


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def scrape(port: int, host: str = "127.0.0.1") -> tuple[set[str], Samples, str]:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    families = list(text_string_to_metric_families(text))
    samples: Samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
    }
    return {f.name for f in families}, samples, text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_parse_hold_every_listed_metric_and_move_with_work(swarm: Swarm) -> None:
    port = free_port()
    m1 = swarm.start_node("m1", extra=("--metrics-addr", str(port)))
    m1.wait_ready()
    names, before, _ = scrape(port)
    assert not set(LISTED) - names, f"missing: {sorted(set(LISTED) - names)}"
    assert value(before, "swarm_raft_is_leader") == 1

    m1.ctl_json(
        "service", "create", "--name", "web", "--replicas", "2", "--detach", "busybox",
        "sleep", "300",
    )  # fmt: skip
    m1.ctl_json(
        "service", "create", "--name", "nowhere", "--constraint", "node.labels.zone==mars",
        "--detach", "busybox", "sleep", "300",
    )  # fmt: skip
    poll(lambda: len(m1.running("web")) == 2, "2 web tasks running", 60)

    def moved() -> Samples | None:
        _, after, _ = scrape(port)
        ok = (
            value(after, "swarm_service_replicas_running", service="web", mode="replicated") == 2
            and value(after, "swarm_scheduler_tasks_pending", reason="constraints") == 1
        )
        return after if ok else None

    after = poll(moved, "the scrape shows the work", 30)
    assert value(after, "swarm_raft_applied_index") > value(before, "swarm_raft_applied_index")
    assert value(after, "swarm_raft_proposal_seconds_count") > value(
        before, "swarm_raft_proposal_seconds_count"
    )
    scheduled = "swarm_scheduler_tasks_scheduled_total"
    assert value(after, scheduled) >= value(before, scheduled) + 2
    assert value(after, "swarm_service_replicas_desired", service="web", mode="replicated") == 2
    assert value(after, "swarm_cluster_services") == 2
    assert value(after, "swarm_tasks", state="running") == 2
    assert value(after, "swarm_tasks", state="pending") == 1
    assert value(after, "swarm_node_tasks", state="running") == 2
    assert value(after, "swarm_store_objects", kind="service") == 2
    ready_manager = {"status": "ready", "role": "manager", "availability": "active"}
    assert value(after, "swarm_cluster_nodes", **ready_manager) == 1
    frames = "swarm_transport_frames_total"
    assert value(after, frames, endpoint="control", direction="in") > value(
        before, frames, endpoint="control", direction="in"
    )


def test_metrics_bind_loopback_and_expose_no_secret(swarm: Swarm) -> None:
    port = free_port()
    m1 = swarm.start_node("m1", extra=("--metrics-addr", f":{port}"))
    m1.wait_ready()
    listening = [e for e in m1.log_events() if e.get("event") == "node.metrics.listening"]
    assert listening and listening[-1]["address"] == f"127.0.0.1:{port}"
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.2", port))  # the loopback address only, not a wildcard
    tokens = [m1.join_token(role) for role in ("worker", "manager")]
    _, _, text = scrape(port)
    for token in tokens:
        assert token not in text and token.split("-")[-1] not in text
    for word in ("PRIVATE KEY", "CERTIFICATE", "SWMKEY", "SWMTKN"):
        assert word not in text


def test_a_worker_serves_its_own_metrics_and_a_taken_port_fails_the_start(
    swarm: Swarm,
) -> None:
    m1 = swarm.start_node("m1")
    m1.wait_ready()
    port = free_port()
    joining = m1.join_args(m1.join_token("worker"))
    swarm.start_node("w1", extra=(*joining, "--metrics-addr", f"127.0.0.1:{port}"))

    def w1_ready() -> bool:
        return any(
            r["hostname"] == "w1" and r["status"] == "ready" for r in m1.ctl_json("node", "ls")
        )

    poll(w1_ready, "w1 ready")
    names, samples, _ = scrape(port)
    assert "swarm_node_tasks" in names and "swarm_transport_frames" in names
    assert "swarm_cluster_nodes" not in names  # a worker has no store
    assert value(samples, "swarm_transport_frames_total", endpoint="control", direction="in") >= 0

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        other = SwarmNode(
            "m2",
            swarm.tmp_path / "m2",
            swarm.tmp_path,
            executor="process",
            port=free_port(),
            extra=("--metrics-addr", f"127.0.0.1:{taken}"),
        )
        other.start(wait=False)
        assert other.process is not None
        assert other.process.wait(timeout=60) == 1
        assert any("--metrics-addr" in str(e.get("error")) for e in other.log_events())


def test_idle_connections_cannot_multiply_the_nodes_threads(swarm: Swarm) -> None:
    """A peer that opens connections and sends nothing held one thread of the node each,
    for ever. Past MAX_CONNECTIONS they are closed at once, and the idle ones within it
    after IO_TIMEOUT, so a scrape gets through again."""
    from actors.metrics.server import MAX_CONNECTIONS

    port = free_port()
    m1 = swarm.start_node("m1", extra=("--metrics-addr", str(port)))
    m1.wait_ready()
    idle = idle_connections("127.0.0.1", port, MAX_CONNECTIONS + 20)
    try:
        poll(lambda: closed_by_peer(idle) >= 20, "the connections past the bound closed", 30)
        names, _, _ = poll(lambda: _scrape_or_none(port), "a scrape once idle ones timed out", 60)
        assert "swarm_raft_term" in names
    finally:
        for conn in idle:
            conn.close()


def _scrape_or_none(port: int) -> tuple[set[str], Samples, str] | None:
    try:
        return scrape(port)
    except OSError:
        return None
