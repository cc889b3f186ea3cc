"""What this node's worker holds, read at scrape time: its tasks by state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric

from actors.metrics.registry import NAMESPACE
from api.objects import TaskStatus
from api.task_state import TaskState

__all__ = ["NodeTasksCollector"]


class NodeTasksCollector:
    """``statuses()``: the worker's current statuses (None: no worker runs now)."""

    def __init__(self, statuses: Callable[[], Sequence[tuple[str, TaskStatus]] | None]) -> None:
        self._statuses = statuses

    def collect(self) -> Iterator[Metric]:
        statuses = self._statuses()
        if statuses is None:
            return
        counted = Counter(status.state for _, status in statuses)
        family = GaugeMetricFamily(
            f"{NAMESPACE}_node_tasks", "Tasks this node runs, by state.", labels=["state"]
        )
        for state in TaskState:
            family.add_metric([state.label], counted.get(state, 0))
        yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing declared up front: the families vary with what runs
