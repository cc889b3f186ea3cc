"""The Worker actor over the simulated executor: reconciliation, batching, persistence,
runner supervision."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.supervisor import Backoff
from actors.worker.executors.base import ExitNotify, Observation
from actors.worker.executors.sim import SimController, SimExecutor
from actors.worker.state import WorkerStateFile
from actors.worker.worker import Worker
from actors.worker.worker_sink import WorkerSink
from api.objects import Task
from api.task_state import TaskState
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import Recorder, make_task, state_is

S = TaskState


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def start_worker(executor: Any, state_dir: Path, reporter: Any, **kw: Any) -> Any:
    return Worker.start(
        executor=executor,
        state_dir=state_dir,
        node_id="node1",
        reporter=reporter,
        flush_interval=0.02,
        **kw,
    )


@pytest.fixture
def worker(tmp_path: Path, recorder: Recorder) -> Iterator[tuple[Any, SimExecutor]]:
    executor = SimExecutor("node1", missing_images={"nope"}, exit_codes={"quits": 0, "fails": 3})
    ref = start_worker(executor, tmp_path, recorder)
    yield ref, executor
    if ref.is_alive():
        ref.stop()


def test_tasks_run_complete_fail_and_are_rejected(worker: Any, recorder: Recorder) -> None:
    ref, _ = worker
    sink = WorkerSink(ref)
    sink.apply_assignments(
        True,
        [
            make_task("run"),
            make_task("ok", image="quits"),
            make_task("bad", image="fails"),
            make_task("missing", image="nope"),
        ],
        [],
    )
    proxy = ref.proxy()
    wait_for(lambda: state_is(proxy, "run", S.RUNNING), what="run running")
    wait_for(lambda: state_is(proxy, "ok", S.COMPLETE), what="ok complete")
    failed = wait_for(lambda: state_is(proxy, "bad", S.FAILED), what="bad failed")
    assert failed.err == "task: non-zero exit (3)"
    rejected = wait_for(lambda: state_is(proxy, "missing", S.REJECTED), what="rejected")
    assert "image nope not found on this node" in rejected.err
    wait_for(lambda: recorder.last("run") and recorder.last("run").state is S.RUNNING)
    states = recorder.states("run")
    assert states == sorted(states), "reported states move forward"
    assert len(sink.current_statuses()) == 4


def test_desired_shutdown_and_removal(worker: Any, recorder: Recorder) -> None:
    ref, executor = worker
    proxy = ref.proxy()
    task = make_task("t1")
    proxy.apply_assignments(True, [task], []).get()
    wait_for(lambda: state_is(proxy, "t1", S.RUNNING))
    proxy.apply_assignments(False, [dataclasses.replace(task, desired_state=S.SHUTDOWN)], []).get()
    wait_for(lambda: state_is(proxy, "t1", S.SHUTDOWN))
    assert "t1" in executor.list_tasks()
    proxy.apply_assignments(False, [], ["t1"]).get()
    wait_for(lambda: "t1" not in executor.list_tasks(), what="container removed")
    wait_for(lambda: not proxy.task_ids().get(), what="runner gone")
    assert proxy.current_statuses().get() == []


def test_full_set_removes_tasks_not_in_it(worker: Any) -> None:
    ref, executor = worker
    proxy = ref.proxy()
    proxy.apply_assignments(True, [make_task("a"), make_task("b")], []).get()
    wait_for(lambda: state_is(proxy, "a", S.RUNNING) and state_is(proxy, "b", S.RUNNING))
    proxy.apply_assignments(True, [make_task("a")], []).get()
    wait_for(lambda: "b" not in executor.list_tasks(), what="b removed")
    assert state_is(proxy, "a", S.RUNNING)


def test_restarted_worker_adopts_without_restarting(tmp_path: Path, recorder: Recorder) -> None:
    executor = SimExecutor("node1")
    ref = start_worker(executor, tmp_path, recorder)
    ref.proxy().apply_assignments(True, [make_task("keep")], []).get()
    wait_for(lambda: state_is(ref.proxy(), "keep", S.RUNNING))
    ref.proxy().flush().get()
    ref.stop()
    assert "keep" in executor.list_tasks()  # stopping the worker never stops a task
    saved = WorkerStateFile(tmp_path / "worker").load()
    assert set(saved.tasks) == {"keep"} and saved.statuses["keep"].state is S.RUNNING

    prepared: list[str] = []
    original = SimController.prepare

    def spy(self: SimController) -> None:
        prepared.append("x")
        original(self)

    SimController.prepare = spy  # type: ignore[method-assign]
    try:
        ref2 = start_worker(executor, tmp_path, Recorder())
        try:
            wait_for(lambda: state_is(ref2.proxy(), "keep", S.RUNNING))
            executor.exit("keep", 0)
            wait_for(lambda: state_is(ref2.proxy(), "keep", S.COMPLETE), what="adopted exit")
            assert prepared == []
        finally:
            ref2.stop()
    finally:
        SimController.prepare = original  # type: ignore[method-assign]


def test_orphans_are_removed_on_start(tmp_path: Path, recorder: Recorder) -> None:
    executor = SimExecutor("node1")
    orphan = executor.controller(make_task("orphan"))
    orphan.prepare()
    orphan.start()
    ref = start_worker(executor, tmp_path, recorder)
    try:
        wait_for(lambda: "orphan" not in executor.list_tasks(), what="orphan removed")
    finally:
        ref.stop()


class _CrashOnce(SimExecutor):
    """Its first inspect raises a bug (not an ExecutorError)."""

    crashed = 0

    def controller(self, task: Task) -> SimController:
        outer = self

        class C(SimController):
            def inspect(self) -> Observation:
                if outer.crashed < 2:
                    outer.crashed += 1
                    raise RuntimeError("bug in inspect")
                return super().inspect()

        return C(self, task)


def test_crashed_runner_is_restarted(tmp_path: Path, recorder: Recorder) -> None:
    executor = _CrashOnce("node1")
    ref = start_worker(executor, tmp_path, recorder, runner_backoff=Backoff(0.01, 0.05))
    try:
        ref.proxy().apply_assignments(True, [make_task("t")], []).get()
        wait_for(lambda: state_is(ref.proxy(), "t", S.RUNNING), what="running after crashes")
        assert executor.crashed == 2
    finally:
        ref.stop()


def test_runner_crash_loop_fails_the_task(tmp_path: Path, recorder: Recorder) -> None:
    executor = _CrashOnce("node1")
    executor.crashed = -100
    ref = start_worker(
        executor, tmp_path, recorder, runner_backoff=Backoff(0.001, 0.002), max_runner_crashes=2
    )
    try:
        ref.proxy().apply_assignments(True, [make_task("t")], []).get()
        failed = wait_for(lambda: state_is(ref.proxy(), "t", S.FAILED), what="gave up")
        assert "crashed repeatedly" in failed.err and "bug in inspect" in failed.err
    finally:
        ref.stop()


class _OddWatches(SimExecutor):
    """Its first watch of a task ends with ``first`` (an error: a bug in the executor's
    watch; None: a wake while the task still runs); later ones are the simulation's."""

    def __init__(self, first: BaseException | None) -> None:
        super().__init__("node1")
        self.first = first
        self.watches = 0

    def controller(self, task: Task) -> SimController:
        outer = self

        class C(SimController):
            def watch(self, notify: ExitNotify) -> None:
                outer.watches += 1
                if outer.watches == 1:
                    notify(outer.first)
                    return
                super().watch(notify)

        return C(self, task)


def test_a_failed_watch_crashes_the_runner_which_watches_again(
    tmp_path: Path, recorder: Recorder
) -> None:
    executor = _OddWatches(RuntimeError("bug in the exit watch"))
    ref = start_worker(executor, tmp_path, recorder, runner_backoff=Backoff(0.01, 0.05))
    try:
        ref.proxy().apply_assignments(True, [make_task("t")], []).get()
        wait_for(lambda: executor.watches == 2, what="watched again by the restarted runner")
        executor.exit("t", 3)
        failed = wait_for(lambda: state_is(ref.proxy(), "t", S.FAILED), what="the exit")
        assert failed.container_status.exit_code == 3
    finally:
        ref.stop()


def test_a_wake_while_the_task_still_runs_watches_again(tmp_path: Path, recorder: Recorder) -> None:
    executor = _OddWatches(None)
    ref = start_worker(executor, tmp_path, recorder)
    try:
        ref.proxy().apply_assignments(True, [make_task("t")], []).get()
        wait_for(lambda: executor.watches == 2, what="watched again")
        assert state_is(ref.proxy(), "t", S.RUNNING)
        executor.exit("t", 0)
        wait_for(lambda: state_is(ref.proxy(), "t", S.COMPLETE), what="the exit")
        assert S.FAILED not in recorder.states("t")
    finally:
        ref.stop()


def test_statuses_are_coalesced_and_resent_to_a_new_reporter(
    worker: Any, recorder: Recorder
) -> None:
    ref, _ = worker
    proxy = ref.proxy()
    proxy.apply_assignments(True, [make_task(f"t{i}") for i in range(20)], []).get()
    for i in range(20):
        wait_for(lambda i=i: state_is(proxy, f"t{i}", S.RUNNING))
    wait_for(
        lambda: all(
            recorder.last(f"t{i}").state is S.RUNNING for i in range(20) if recorder.last(f"t{i}")
        ),
        what="all reported",
    )
    assert sum(len(b) for b in recorder.batches) < 20 * 6, "updates coalesced"
    fresh = Recorder()
    proxy.set_reporter(fresh).get()
    wait_for(lambda: len({k for b in fresh.batches for k, _ in b}) == 20, what="resent")


class _Flaky(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 3

    def report_status(self, updates: Any) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("no session")
        super().report_status(updates)


def test_failed_reports_are_retried(tmp_path: Path) -> None:
    flaky = _Flaky()
    ref = start_worker(SimExecutor("node1"), tmp_path, flaky)
    try:
        ref.proxy().apply_assignments(True, [make_task("t")], []).get()
        wait_for(lambda: flaky.last("t") and flaky.last("t").state is S.RUNNING)
    finally:
        ref.stop()


def test_corrupt_state_file_is_moved_aside(tmp_path: Path) -> None:
    state = WorkerStateFile(tmp_path)
    state.dir.mkdir(parents=True, exist_ok=True)
    state.path.write_bytes(b"\x93garbage")
    loaded = state.load()
    assert loaded.tasks == {} and (tmp_path / "tasks.corrupt").exists()
    task = make_task("x")
    state.save({"x": task}, {"x": task.status})
    assert state.load().tasks["x"] == task


class _PullingController(SimController):
    """Prepares like a pull: reports a line of progress, then waits to be released."""

    def prepare(self, progress: Any = None) -> None:
        if progress is not None:
            progress("pulling image img: 1 of 2 layers")
        assert isinstance(self._executor, _PullingExecutor)
        self._executor.release.wait(10.0)
        super().prepare(progress)


class _PullingExecutor(SimExecutor):
    def __init__(self) -> None:
        super().__init__("node1")
        self.release = threading.Event()

    def controller(self, task: Task) -> SimController:
        return _PullingController(self, task)


def test_a_long_prepare_shows_its_progress_while_preparing(
    tmp_path: Path, recorder: Recorder
) -> None:
    executor = _PullingExecutor()
    ref = start_worker(executor, tmp_path, recorder)
    try:
        proxy = ref.proxy()
        proxy.apply_assignments(True, [make_task("t1")], []).get()
        preparing = wait_for(lambda: state_is(proxy, "t1", S.PREPARING), what="preparing")
        wait_for(
            lambda: (s := state_is(proxy, "t1", S.PREPARING)) and s.message.startswith("pulling"),
            what="the pull's progress",
        )
        wait_for(
            lambda: any(s.message.startswith("pulling") for b in recorder.batches for _, s in b),
            what="the progress reported",
        )
        executor.release.set()
        running = wait_for(lambda: state_is(proxy, "t1", S.RUNNING), what="running")
        assert running.message == "started" and preparing.timestamp <= running.timestamp
    finally:
        executor.release.set()
        ref.stop()
