"""The Worker under a backlog: runners start from a queue a chunk at a time, so a removal
or a stop that comes meanwhile supersedes a queued start; tasks from disk that had not
started wait for a manager's full set; start and stop stay short whatever the number of
tasks. Over the simulated executor."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.worker import runner_supervision
from actors.worker import worker as worker_module
from actors.worker.executors.sim import SimExecutor
from actors.worker.state import WorkerStateFile
from actors.worker.task_runner import TaskRunner
from actors.worker.worker import Worker
from api.objects import TaskStatus
from api.task_state import TaskState
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import Recorder, make_task, state_is

S = TaskState


class _Recording(SimExecutor):
    """Records every task it created a container for; ``gate``, while closed, holds the
    worker's thread in its first look at ``prepare_refuses_started`` (asked once per
    queued new task, on the worker's thread)."""

    def __init__(self) -> None:
        super().__init__("node1")
        self.created: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()  # the worker's thread waits at the gate

    def create(self, task_id: str) -> None:
        self.created.append(task_id)
        super().create(task_id)

    @property  # type: ignore[override]
    def prepare_refuses_started(self) -> bool:
        if not self.gate.is_set():
            self.held.set()
            self.gate.wait(10.0)
        return True


def start_worker(executor: Any, state_dir: Path, **kw: Any) -> Any:
    return Worker.start(
        executor=executor,
        state_dir=state_dir,
        node_id="node1",
        reporter=Recorder(),
        flush_interval=0.02,
        **kw,
    )


@pytest.fixture
def executor() -> _Recording:
    return _Recording()


@pytest.fixture
def worker(tmp_path: Path, executor: _Recording) -> Iterator[Any]:
    ref = start_worker(executor, tmp_path, start_chunk=1)
    yield ref
    executor.gate.set()
    if ref.is_alive():
        ref.stop()


def _hold_the_first_start(ref: Any, executor: _Recording, tasks: list[Any]) -> None:
    """Assign ``tasks`` and hold the worker in the first queued start."""
    executor.gate.clear()
    ref.proxy().apply_assignments(True, tasks, [])
    assert executor.held.wait(10.0), "the worker never reached the first queued start"


def test_a_removal_supersedes_the_queued_starts(worker: Any, executor: _Recording) -> None:
    tasks = [make_task(f"t{i:03}") for i in range(50)]
    _hold_the_first_start(worker, executor, tasks)
    done = worker.proxy().apply_assignments(False, [], [t.id for t in tasks])
    executor.gate.set()
    done.get(timeout=10.0)
    wait_for(lambda: not worker.proxy().task_ids().get(), what="every task forgotten")
    assert executor.created in ([], ["t000"])  # the one held at the gate, at most


def test_a_stop_supersedes_the_queued_starts(worker: Any, executor: _Recording) -> None:
    tasks = [make_task(f"t{i:03}") for i in range(50)]
    _hold_the_first_start(worker, executor, tasks)
    stopped = [dataclasses.replace(t, desired_state=S.REMOVE) for t in tasks]
    done = worker.proxy().apply_assignments(False, stopped, [])
    executor.gate.set()
    done.get(timeout=10.0)
    proxy = worker.proxy()
    for task in tasks[1:]:
        wait_for(lambda t=task: state_is(proxy, t.id, S.SHUTDOWN), what=f"{task.id} shut down")
    assert executor.created in ([], ["t000"])
    # they hold no runner (no thread), and a removal then forgets them without a call
    proxy.apply_assignments(False, [], [t.id for t in tasks]).get()
    wait_for(lambda: not proxy.task_ids().get(), what="every task forgotten")
    assert executor.created in ([], ["t000"])


def _save(state_dir: Path, statuses: dict[str, TaskState]) -> None:
    tasks = {i: make_task(i) for i in statuses}
    WorkerStateFile(state_dir / "worker").save(
        tasks, {i: TaskStatus(state=s, timestamp=1.0) for i, s in statuses.items()}
    )


def test_tasks_from_disk_not_started_wait_for_the_managers_set(
    tmp_path: Path, executor: _Recording
) -> None:
    executor.controller(make_task("ran")).prepare()
    executor.controller(make_task("ran")).start()
    executor.controller(make_task("created")).prepare()  # created, never started
    executor.created.clear()
    _save(
        tmp_path,
        {"ran": S.RUNNING, "created": S.PREPARING, "queued": S.ASSIGNED, "kept": S.ACCEPTED},
    )
    ref = start_worker(executor, tmp_path)
    try:
        proxy = ref.proxy()
        wait_for(lambda: state_is(proxy, "ran", S.RUNNING), what="running task adopted")
        assert executor.created == []  # nothing else started before a manager's set
        assert state_is(proxy, "queued", S.ASSIGNED) and state_is(proxy, "kept", S.ACCEPTED)
        # the manager's set: only "ran" and "kept" are still assigned
        proxy.apply_assignments(True, [make_task("ran"), make_task("kept")], []).get()
        wait_for(lambda: state_is(proxy, "kept", S.RUNNING), what="kept started")
        wait_for(lambda: "created" not in executor.list_tasks(), what="created removed")
        wait_for(lambda: sorted(proxy.task_ids().get()) == ["kept", "ran"], what="forgotten")
        assert executor.created == ["kept"]  # "created" and "queued" never started
    finally:
        ref.stop()


def test_start_starts_no_runner(
    tmp_path: Path, executor: _Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a node's supervisor gives a child 10 s to start: thousands of runners on disk once
    # took longer, and the node failed to start. Every runner starts after on_start has
    # returned (from the worker's queue), whichever message the worker takes first.
    _save(tmp_path, {f"t{i}": S.RUNNING for i in range(20)})
    started_worker = threading.Event()
    runner_starts_before: list[bool] = []
    original_on_start = Worker.on_start
    original_start = TaskRunner.start

    def on_start(self: Worker) -> None:
        original_on_start(self)
        started_worker.set()

    def start_recorded(*args: Any, **kwargs: Any) -> Any:
        runner_starts_before.append(not started_worker.is_set())
        return original_start(*args, **kwargs)

    monkeypatch.setattr(worker_module.Worker, "on_start", on_start)
    monkeypatch.setattr(runner_supervision.TaskRunner, "start", start_recorded)
    ref = start_worker(executor, tmp_path)
    try:
        assert len(ref.proxy().task_ids().get(timeout=30.0)) == 20
        wait_for(lambda: len(runner_starts_before) == 20, "the 20 runners started", 30.0)
        assert not any(runner_starts_before)  # none from within on_start
    finally:
        ref.stop()


class _SlowToStop(TaskRunner):
    def on_stop(self) -> None:
        super().on_stop()
        _SlowToStop.release.wait(30.0)

    release = threading.Event()


def test_stop_waits_for_the_runners_within_one_budget(
    tmp_path: Path, executor: _Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each runner was given 5 s in turn: thousands in flight held a SIGTERM for minutes
    monkeypatch.setattr(runner_supervision, "TaskRunner", _SlowToStop)
    ref = start_worker(executor, tmp_path, stop_budget=0.2)
    try:
        proxy = ref.proxy()
        proxy.apply_assignments(True, [make_task(f"t{i}") for i in range(6)], []).get()
        for i in range(6):
            wait_for(lambda i=i: state_is(proxy, f"t{i}", S.RUNNING), what=f"t{i} running")
        ref.stop(block=True, timeout=10.0)  # 6 x 5 s before
    except pykka.Timeout:
        pytest.fail("the worker did not stop within its budget")
    finally:
        _SlowToStop.release.set()


def test_a_finished_task_holds_no_runner_until_it_is_removed(tmp_path: Path) -> None:
    # thousands of completed tasks held a thread each until their removal
    executor = SimExecutor("node1", exit_codes={"quits": 0})
    ref = start_worker(executor, tmp_path)
    try:
        proxy = ref.proxy()
        tasks = [make_task(f"done{i}", image="quits") for i in range(5)]
        proxy.apply_assignments(True, tasks, []).get()
        for task in tasks:
            wait_for(lambda t=task: state_is(proxy, t.id, S.COMPLETE), what=f"{task.id} done")
        wait_for(lambda: not pykka.ActorRegistry.get_by_class(TaskRunner), what="runners ended")
        assert sorted(executor.list_tasks()) == sorted(t.id for t in tasks)  # kept till rm
        proxy.apply_assignments(True, tasks[1:], []).get()
        wait_for(lambda: "done0" not in executor.list_tasks(), what="done0's container removed")
        wait_for(lambda: "done0" not in proxy.task_ids().get(), what="done0 forgotten")
        assert state_is(proxy, "done1", S.COMPLETE)
    finally:
        ref.stop()


class _SlowCreate(SimExecutor):
    """Its creates wait for ``release``: tasks stay PREPARING meanwhile."""

    def __init__(self) -> None:
        super().__init__("node1")
        self.release = threading.Event()
        self.creating: list[str] = []
        self._creating_lock = threading.Lock()

    def create(self, task_id: str) -> None:
        with self._creating_lock:
            self.creating.append(task_id)
        self.release.wait(10.0)
        super().create(task_id)


def test_at_most_max_starting_tasks_are_on_their_way_at_once(tmp_path: Path) -> None:
    # each task on its way held a runner thread and a thread waiting for the engine:
    # 10,000 threads on a worker given a big service
    executor = _SlowCreate()
    ref = start_worker(executor, tmp_path, max_starting=3)
    try:
        proxy = ref.proxy()
        tasks = [make_task(f"t{i:02}") for i in range(10)]
        proxy.apply_assignments(True, tasks, []).get()
        wait_for(lambda: len(executor.creating) == 3, what="three on their way")
        assert len(pykka.ActorRegistry.get_by_class(TaskRunner)) == 3
        # a queued task removed meanwhile is never started
        proxy.apply_assignments(False, [], ["t09"]).get()
        executor.release.set()
        for task in tasks[:9]:
            wait_for(lambda t=task: state_is(proxy, t.id, S.RUNNING), what=f"{task.id} running")
        assert "t09" not in executor.creating and "t09" not in proxy.task_ids().get()
    finally:
        executor.release.set()
        ref.stop()
