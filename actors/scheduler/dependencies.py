"""Dependency gating (``--depends-on SERVICE[:CONDITION]``, swarmnode extension): a
service's tasks are not scheduled until every service it depends on meets its condition.

Rules:
- Dependencies name services; a name no service has now (removed since) is never met.
- ``running``: every task the dependency wants has started: as many runnable tasks
  (desired RUNNING; COMPLETE for a job) STARTING or RUNNING as it has replicas (others:
  as it has runnable tasks, at least one). ``healthy``: the same, counting RUNNING
  only: a task with a healthcheck is RUNNING once it passed it (the worker holds it
  STARTING before).
  A replicated dependency scaled to 0 is met.
- ``completed``: the dependency is a job whose current run completed (a service that is
  not a job never completes).
- Only scheduling is gated: tasks already placed keep running whatever happens to their
  dependencies later. A task held back stays PENDING and its message says what it waits
  for (``service ps`` shows it).
- ``TaskCounts`` keeps, per service, the states of its runnable tasks, fed with every task
  change (the scheduler's watch) and answering the counts in O(1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from api.enums import DependencyCondition, JobState
from api.objects import Service, Task
from api.specs import GlobalJob, ReplicatedJob, ReplicatedService
from api.task_state import TaskState

__all__ = ["Counts", "TaskCounts", "unmet_dependency"]

_RUNNABLE = (TaskState.RUNNING, TaskState.COMPLETE)  # a job's tasks run to COMPLETE


@dataclass(frozen=True, slots=True)
class Counts:
    runnable: int = 0  # desired RUNNING (COMPLETE: jobs), not finished
    started: int = 0  # of those, STARTING or RUNNING
    running: int = 0  # of those, RUNNING


@dataclass(slots=True)
class TaskCounts:
    """Per service, the observed state of each runnable task (for the conditions)."""

    by_service: dict[str, dict[str, TaskState]] = field(default_factory=dict)

    def update(self, task: Task) -> bool:
        """Take in a changed task; True when its service's counts may have changed."""
        states = self.by_service.setdefault(task.service_id, {})
        before = states.get(task.id)
        if task.desired_state in _RUNNABLE and not task.status.state.is_terminal:
            states[task.id] = task.status.state
        else:
            states.pop(task.id, None)
        if not states:
            del self.by_service[task.service_id]
        return before != states.get(task.id)

    def remove(self, task: Task) -> bool:
        states = self.by_service.get(task.service_id)
        if states is None or task.id not in states:
            return False
        del states[task.id]
        if not states:
            del self.by_service[task.service_id]
        return True

    def counts(self, service_id: str) -> Counts:
        states = self.by_service.get(service_id, {})
        return Counts(
            runnable=len(states),
            started=sum(1 for s in states.values() if s in (TaskState.STARTING, TaskState.RUNNING)),
            running=sum(1 for s in states.values() if s == TaskState.RUNNING),
        )

    @staticmethod
    def of(tasks: Iterable[Task]) -> TaskCounts:
        book = TaskCounts()
        for t in tasks:
            book.update(t)
        return book


def unmet_dependency(
    service: Service,
    by_name: Callable[[str], Service | None],
    counts: Callable[[str], Counts],
) -> str | None:
    """What ``service``'s tasks wait for (the first unmet dependency), or None."""
    for dep in service.spec.depends_on:
        target = by_name(dep.service)
        want = dep.condition
        if target is None or target.pending_delete:
            return f"waiting for service {dep.service}, which does not exist"
        if want == DependencyCondition.COMPLETED:
            status = target.job_status
            if not isinstance(target.spec.mode, ReplicatedJob | GlobalJob):
                return f"waiting for service {dep.service} to complete (it is not a job)"
            if status is None or status.iteration == 0:
                return f"waiting for service {dep.service} to complete (not run yet)"
            if status.state != JobState.COMPLETED:
                return (
                    f"waiting for service {dep.service} to complete "
                    f"(run {status.iteration} {status.state.value})"
                )
            continue
        c = counts(target.id)
        mode = target.spec.mode
        desired = mode.replicas if isinstance(mode, ReplicatedService) else max(1, c.runnable)
        have = c.running if want == DependencyCondition.HEALTHY else c.started
        if have < desired:
            word = "healthy" if want == DependencyCondition.HEALTHY else "running"
            return f"waiting for service {dep.service} to be {word} ({have}/{desired} tasks {word})"
    return None
