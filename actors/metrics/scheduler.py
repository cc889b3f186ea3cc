"""The scheduler's metrics, set by its shell (actors/scheduler/actor.py) after each tick:
tasks assigned, how long they waited, and the tasks still pending by the filter that
keeps them there (the scheduler core's `pending_reasons`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from actors.metrics.registry import NAMESPACE, REGISTRY

__all__ = ["PENDING", "SCHEDULED", "TASK_WAIT_SECONDS", "TICK_SECONDS", "set_pending"]

SCHEDULED: Final = Counter(
    "scheduler_tasks_scheduled",
    "Tasks the scheduler assigned to a node (written to the store).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
PENDING: Final = Gauge(
    "scheduler_tasks_pending",
    "Tasks waiting for a node, by the filter that turned most nodes down (ready, resources, "
    "constraints, platform, host-ports, max-replicas; no-nodes, node-missing, invalid).",
    ["reason"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
TASK_WAIT_SECONDS: Final = Histogram(
    "scheduler_task_wait_seconds",
    "Seconds from a task's creation to its assignment to a node.",
    namespace=NAMESPACE,
    registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
TICK_SECONDS: Final = Histogram(
    "scheduler_tick_seconds",
    "Seconds one scheduling tick took (decide and write).",
    namespace=NAMESPACE,
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


_reasons: set[str] = set()  # every reason set so far (one scheduler per process at most)


def set_pending(by_reason: Mapping[str, int]) -> None:
    """The pending tasks now: reasons no longer present drop to zero."""
    for reason in _reasons - set(by_reason):
        PENDING.labels(reason).set(0)
    for reason, count in by_reason.items():
        PENDING.labels(reason).set(count)
    _reasons.update(by_reason)
