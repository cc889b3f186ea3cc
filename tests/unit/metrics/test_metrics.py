"""The metrics pieces without a process: the scheduler's pending reasons, the metrics
address, and the cluster gauges a manager's store gives, as Prometheus parses them."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from actors.metrics.cluster import ClusterCollector
from actors.metrics.http import is_loopback, parse_metrics_addr
from actors.metrics.node import NodeTasksCollector
from actors.metrics.raft import RaftCollector
from actors.metrics.transport import TransportCollector
from actors.scheduler import Pipeline, SchedulerCore
from api.enums import NodeAvailability, NodeState
from api.objects import TaskStatus
from api.task_state import TaskState
from tests.unit.control.helpers import Cluster
from tests.unit.scheduler.helpers import demand, info, node, task
from transport.stats import endpoint_stats


def test_the_scheduler_says_which_filter_keeps_each_task_waiting() -> None:
    core = SchedulerCore(clock=lambda: 1000.0, rng=random.Random(1))
    nodes = [
        node("a", state=NodeState.DOWN),
        node("b", availability=NodeAvailability.DRAIN),
        node("c", labels={"zone": "b"}),
    ]
    picky = task(id="p", constraints=("node.labels.zone==a",))
    core.reset(nodes, [picky], [])
    assert core.pending_reasons() == {"new": 1}
    core.schedule()
    assert core.pending_reasons() == {"ready": 1}  # two nodes unready, one unsuitable
    core.reset([node("c", labels={"zone": "b"})], [picky], [])
    core.schedule()
    assert core.pending_reasons() == {"constraints": 1}
    core.reset([], [picky], [])
    core.schedule()
    assert core.pending_reasons() == {"no-nodes": 1}


def test_blocking_filter_and_rejection() -> None:
    pipeline = Pipeline()
    d = demand(constraints=("node.labels.zone==a",))
    assert pipeline.rejection(d, info(node("x"))) == (
        "constraints",
        "constraint node.labels.zone==a not satisfied",
    )
    check = pipeline.group(d)
    for n in (node("x"), node("y"), node("z", state=NodeState.DOWN)):
        check.passes(info(n))
    assert check.blocking_filter == "constraints"
    assert pipeline.group(d).blocking_filter == "no-nodes"


def test_metrics_addresses() -> None:
    assert parse_metrics_addr("9323") == ("127.0.0.1", 9323)
    assert parse_metrics_addr(":9323") == ("127.0.0.1", 9323)
    assert parse_metrics_addr("0.0.0.0:9323") == ("0.0.0.0", 9323)
    assert parse_metrics_addr("[::1]:9323") == ("::1", 9323)
    for bad in ("", "host:", "host:x", "1:99999"):
        with pytest.raises(ValueError, match="--metrics-addr"):
            parse_metrics_addr(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


def parsed(*collectors: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    for c in collectors:
        registry.register(c)  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_cluster_gauges_from_a_store() -> None:
    c = Cluster()
    node_id = c.add_node("n1", manager=True)
    c.create(name="web", replicas=2)
    c.set_task(c.add_task("web", 1, node_id), TaskState.RUNNING)
    samples = parsed(ClusterCollector(c.store))
    assert samples[("swarm_store_objects", (("kind", "service"),))] == 1
    assert samples[("swarm_cluster_services", ())] == 1
    labels = (("mode", "replicated"), ("service", "web"))
    assert samples[("swarm_service_replicas_desired", labels)] == 2
    assert samples[("swarm_service_replicas_running", labels)] == 1
    assert samples[("swarm_tasks", (("state", "running"),))] == 1
    nodes = (("availability", "active"), ("role", "manager"), ("status", "ready"))
    assert samples[("swarm_cluster_nodes", nodes)] == 1


def test_node_raft_and_transport_collectors() -> None:
    statuses = [("t1", TaskStatus(state=TaskState.RUNNING)), ("t2", TaskStatus())]
    samples = parsed(NodeTasksCollector(lambda: statuses))
    assert samples[("swarm_node_tasks", (("state", "running"),))] == 1
    assert samples[("swarm_node_tasks", (("state", "new"),))] == 1
    assert parsed(NodeTasksCollector(lambda: None)) == {}

    class Status:
        term, commit, applied, is_leader = 3, 10, 9, True

    samples = parsed(RaftCollector(lambda: Status()))
    assert samples[("swarm_raft_term", ())] == 3
    assert samples[("swarm_raft_applied_index", ())] == 9
    assert samples[("swarm_raft_is_leader", ())] == 1

    stats = endpoint_stats("unit-test-endpoint")
    stats.frames_in += 2
    stats.refuse("stranger.too_large")
    stats.strangers = 3
    samples = parsed(TransportCollector())
    assert (
        samples[("swarm_transport_stranger_connections", (("endpoint", "unit-test-endpoint"),))]
        == 3
    )
    frames = (("direction", "in"), ("endpoint", "unit-test-endpoint"))
    assert samples[("swarm_transport_frames_total", frames)] >= 2
    refused = (("endpoint", "unit-test-endpoint"), ("reason", "stranger.too_large"))
    assert samples[("swarm_transport_refusals_total", refused)] >= 1
