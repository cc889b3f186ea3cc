"""Dependency gating (issue 10 item 8): the conditions, the scheduler holding tasks back
with a message naming what they wait for, and letting them go once met."""

from __future__ import annotations

import dataclasses
import random

from actors.scheduler import SchedulerCore
from actors.scheduler.dependencies import Counts, TaskCounts, unmet_dependency
from api.enums import DependencyCondition, JobState
from api.objects import JobStatus, Service, Task, TaskStatus
from api.specs import (
    Dependency,
    GlobalService,
    ReplicatedJob,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
)
from api.task_state import TaskState
from tests.unit.scheduler.helpers import node, task


def service(name: str, mode: ServiceMode | None = None, *deps: Dependency) -> Service:
    spec = ServiceSpec(name=name, mode=mode or ReplicatedService(2), depends_on=deps)
    return Service(id=f"id-{name}", spec=spec)


def of(svc: Service, state: TaskState, desired: TaskState = TaskState.RUNNING) -> Task:
    t = task(svc.id, state=state, desired=desired, node_id="a")
    return dataclasses.replace(t, service_name=svc.spec.name)


def verdict(target: Service, *tasks: Task, condition: DependencyCondition) -> str | None:
    web = service("web", None, Dependency(target.spec.name, condition))
    counts = TaskCounts.of(tasks)
    return unmet_dependency(web, {target.spec.name: target}.get, counts.counts)


def test_running_counts_started_tasks_against_the_replicas() -> None:
    db = service("db")
    running = DependencyCondition.RUNNING
    assert verdict(db, of(db, TaskState.STARTING), condition=running) == (
        "waiting for service db to be running (1/2 tasks running)"
    )
    assert (
        verdict(db, of(db, TaskState.STARTING), of(db, TaskState.RUNNING), condition=running)
        is None
    )
    # a task stopping or finished does not count
    stopping = of(db, TaskState.RUNNING, desired=TaskState.SHUTDOWN)
    assert verdict(db, stopping, of(db, TaskState.RUNNING), condition=running) is not None
    assert verdict(service("none", ReplicatedService(0)), condition=running) is None


def test_healthy_counts_running_only() -> None:
    db = service("db", GlobalService())
    healthy = DependencyCondition.HEALTHY
    assert (
        verdict(db, condition=healthy) == "waiting for service db to be healthy (0/1 tasks healthy)"
    )
    assert verdict(
        db, of(db, TaskState.STARTING), of(db, TaskState.RUNNING), condition=healthy
    ) == ("waiting for service db to be healthy (1/2 tasks healthy)")
    assert verdict(db, of(db, TaskState.RUNNING), condition=healthy) is None


def test_completed_needs_a_completed_run_of_a_job() -> None:
    done = DependencyCondition.COMPLETED
    migrate = service("migrate", ReplicatedJob(1, 1))
    assert (
        verdict(migrate, condition=done) == "waiting for service migrate to complete (not run yet)"
    )
    going = dataclasses.replace(migrate, job_status=JobStatus(iteration=1))
    assert verdict(going, condition=done) == (
        "waiting for service migrate to complete (run 1 running)"
    )
    finished = dataclasses.replace(
        migrate, job_status=JobStatus(iteration=1, state=JobState.COMPLETED)
    )
    assert verdict(finished, condition=done) is None
    assert "it is not a job" in str(verdict(service("db"), condition=done))


def test_a_missing_dependency_is_never_met() -> None:
    web = service("web", None, Dependency("gone"))
    assert unmet_dependency(web, lambda _: None, lambda _: Counts()) == (
        "waiting for service gone, which does not exist"
    )


def test_the_scheduler_holds_tasks_back_until_their_dependency_is_met() -> None:
    core = SchedulerCore(clock=lambda: 1000.0, rng=random.Random(1))
    db = service("db", ReplicatedService(1))
    web = service("web", ReplicatedService(1), Dependency("db", DependencyCondition.HEALTHY))
    waiting = dataclasses.replace(task(web.id, id="w1", slot=1), service_name="web")
    db_task = dataclasses.replace(task(db.id, id="d1", slot=1), service_name="db")
    core.reset([node("a")], [waiting, db_task], [db, web])
    decisions = core.schedule()
    assert [a.task.id for a in decisions.assignments] == ["d1"]
    [held] = decisions.unschedulable
    assert held.task.id == "w1"
    assert held.message == "waiting for service db to be healthy (0/1 tasks healthy)"
    # the db task starts, then passes its healthcheck: the dependency is met
    placed = dataclasses.replace(db_task, node_id="a", status=TaskStatus(state=TaskState.STARTING))
    core.task_changed(placed)
    assert core.dirty
    assert not core.schedule().assignments  # started, not yet healthy
    core.task_changed(dataclasses.replace(placed, status=TaskStatus(state=TaskState.RUNNING)))
    assert core.dirty
    assert [a.task.id for a in core.schedule().assignments] == ["w1"]
