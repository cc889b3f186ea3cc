"""Shared helpers for worker tests: a recording reporter, tasks, status checks."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from api.objects import Task, TaskStatus
from api.specs import ContainerSpec, HealthConfig, TaskSpec
from api.task_state import TaskState


class Recorder:
    """A StatusReporter that keeps every batch."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, TaskStatus]]] = []
        self._lock = threading.Lock()

    def report_status(self, updates: Sequence[tuple[str, TaskStatus]]) -> None:
        with self._lock:
            self.batches.append(list(updates))

    def states(self, task_id: str) -> list[TaskState]:
        with self._lock:
            return [s.state for batch in self.batches for k, s in batch if k == task_id]

    def last(self, task_id: str) -> TaskStatus | None:
        with self._lock:
            found = [s for batch in self.batches for k, s in batch if k == task_id]
        return found[-1] if found else None


def make_task(
    task_id: str,
    *,
    image: str = "img",
    command: tuple[str, ...] = (),
    args: tuple[str, ...] = (),
    slot: int = 1,
    node_id: str = "node1",
    service: str = "svc",
    grace: float = 10.0,
    stop_signal: str = "",
    healthcheck: HealthConfig | None = None,
    env: tuple[str, ...] = (),
    labels: dict[str, str] | None = None,
) -> Task:
    container = ContainerSpec(
        image=image,
        command=command,
        args=args,
        env=env,
        labels=labels or {},
        stop_grace_period=grace,
        stop_signal=stop_signal,
        healthcheck=healthcheck,
    )
    return Task(
        id=task_id,
        service_id=f"{service}-id",
        service_name=service,
        slot=slot,
        node_id=node_id,
        desired_state=TaskState.RUNNING,
        status=TaskStatus(state=TaskState.ASSIGNED),
        spec=TaskSpec(container=container),
    )


def status_of(worker_proxy: object, task_id: str) -> TaskStatus | None:
    statuses = dict(worker_proxy.current_statuses().get(timeout=5))  # type: ignore[attr-defined]
    return statuses.get(task_id)


def state_is(worker_proxy: object, task_id: str, *states: TaskState) -> TaskStatus | None:
    status = status_of(worker_proxy, task_id)
    return status if status is not None and status.state in states else None
