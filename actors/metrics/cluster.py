"""What a manager's store says, as gauges read at scrape time (any manager: the store is
replicated): objects by kind, tasks by state, and the cluster-wide view (nodes by status,
role and availability; services; each service's replicas desired and running).

Only names, states and counts: nothing a spec or a cluster object holds as a secret."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from actors.control.views import service_summary
from actors.metrics.registry import NAMESPACE
from actors.store import MemoryStore, ReadTx, nodes, services, tasks
from api.objects import ObjectKind, Task
from api.task_state import TaskState

__all__ = ["ClusterCollector"]


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{NAMESPACE}_{name}", doc, labels=labels)


class ClusterCollector:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        return iter(self._store.view(self._read))

    def _read(self, tx: ReadTx) -> list[Metric]:
        objects = _gauge("store_objects", "Objects in this manager's store, by kind.", ["kind"])
        for kind in ObjectKind:
            objects.add_metric([kind.value], tx.count(kind))

        all_tasks = tasks.list_all(tx)
        by_state = _gauge("tasks", "Tasks in the cluster, by observed state.", ["state"])
        counted = Counter(t.status.state for t in all_tasks)
        for state in TaskState:
            by_state.add_metric([state.label], counted.get(state, 0))

        node_counts = Counter(
            (n.status.state.value, n.role.value, n.spec.availability.value)
            for n in nodes.list_all(tx)
        )
        cluster_nodes = _gauge(
            "cluster_nodes",
            "Nodes in the cluster, by status, role and availability.",
            ["status", "role", "availability"],
        )
        for (status, role, availability), count in sorted(node_counts.items()):
            cluster_nodes.add_metric([status, role, availability], count)

        live = [s for s in services.list_all(tx) if not s.pending_delete]
        service_count = GaugeMetricFamily(
            f"{NAMESPACE}_cluster_services", "Services in the cluster.", value=len(live)
        )
        of_service: dict[str, list[Task]] = {}
        for t in all_tasks:
            of_service.setdefault(t.service_id, []).append(t)
        desired = _gauge(
            "service_replicas_desired", "Tasks a service wants running.", ["service", "mode"]
        )
        running = _gauge(
            "service_replicas_running",
            "Tasks of a service running (and meant to).",
            ["service", "mode"],
        )
        for service in live:
            summary = service_summary(service, of_service.get(service.id, ()))
            labels = [service.spec.name, summary["mode"]]
            desired.add_metric(labels, summary["replicas_desired"])
            running.add_metric(labels, summary["replicas_running"])
        return [objects, by_state, cluster_nodes, service_count, desired, running]

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing declared up front: the families vary with what runs
