"""A worker restarted with assignments on disk whose service was removed meanwhile starts
none of them: tasks that had not started wait for the manager's full set, which no
longer holds them (real swarm-node processes, the process executor)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.worker.state import WORKER_DIR, WorkerStateFile
from api.objects import TaskStatus
from api.task_state import TaskState
from tests.support.swarm import Swarm, SwarmNode, poll
from tests.unit.worker.helpers import make_task


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[SwarmNode, SwarmNode]]:
    with Swarm(tmp_path) as swarm:
        m1 = swarm.start_node("m1", executor="process")
        m1.wait_ready()
        w1 = swarm.join("w1", m1, m1.join_token("worker"), executor="process")
        swarm.wait_cluster(1, 1)
        yield m1, w1


def test_tasks_on_disk_of_a_removed_service_are_never_started(
    cluster: tuple[SwarmNode, SwarmNode],
) -> None:
    _, w1 = cluster
    assert w1.terminate() == 0
    # what a worker stopped with a backlog keeps on disk: tasks assigned, accepted or
    # preparing, of a service removed while it was down (the manager holds none of them)
    states = [TaskState.ASSIGNED, TaskState.ACCEPTED, TaskState.PREPARING]
    tasks = {
        f"gone{i}".ljust(25, "0"): dataclasses.replace(
            make_task(
                f"gone{i}".ljust(25, "0"),
                command=("sleep", "300"),
                node_id=w1.node_id,
                service="removedservice0000000000000",
            ),
            slot=i + 1,
        )
        for i in range(len(states))
    }
    statuses = {
        task_id: TaskStatus(state=state, timestamp=1.0)
        for task_id, state in zip(tasks, states, strict=True)
    }
    state_file = WorkerStateFile(w1.state_dir / WORKER_DIR)
    kept = state_file.load()
    state_file.save({**kept.tasks, **tasks}, {**kept.statuses, **statuses})
    w1.start()

    def applied_full() -> bool:
        return any(
            e.get("event") == "worker.assignments.applied" and e.get("full")
            for e in w1.log_events()
        )

    poll(applied_full, "w1: the manager's full set applied", 30.0)

    def forgotten() -> bool:
        return not set(tasks) & set(WorkerStateFile(w1.state_dir / WORKER_DIR).load().tasks)

    poll(forgotten, "w1: the removed service's tasks forgotten", 30.0)
    started = [
        e
        for e in w1.log_events()
        if e.get("event") == "worker.task.transition"
        and e.get("task_id") in tasks
        and e.get("state") in ("preparing", "ready", "starting", "running")
    ]
    assert started == []
    assert any(
        e.get("event") == "worker.started" and e.get("held") == len(tasks) for e in w1.log_events()
    )
