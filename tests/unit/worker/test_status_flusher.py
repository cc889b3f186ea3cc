"""The worker's status flusher: the status book as a PeriodicJob on a manual timer (nothing
sleeps), urgent statuses flushed at once, and a flusher or orphan sweep that fails crashes
the worker so its supervisor sees it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pykka
import pytest
from structlog.testing import capture_logs

from actors.periodic import PeriodicActor
from actors.supervised import ChildContext, ChildExit, Directory
from actors.worker.executors.sim import SimExecutor
from actors.worker.state import WorkerStateFile
from actors.worker.status_book import StatusBook
from actors.worker.worker import HelperCrashed, Worker
from api.objects import TaskStatus
from api.task_state import TaskState
from tests.support.clocks import ManualTimer
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import Recorder, make_task

INTERVAL = 0.1


class Exits:
    def __init__(self) -> None:
        self.exits: list[ChildExit] = []

    def __call__(self, exit_: ChildExit) -> None:
        self.exits.append(exit_)


def context(timer: ManualTimer, name: str, exits: Exits | None = None) -> ChildContext:
    report = exits if exits is not None else (lambda _exit: None)
    return ChildContext(name, 1, Directory([name]), report, clock=timer.clock, timer=timer)


@pytest.fixture(autouse=True)
def stop_all() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all()


def saved(tmp_path: Path) -> dict[str, TaskState]:
    state = WorkerStateFile(tmp_path).load()
    return {task_id: status.state for task_id, status in state.statuses.items()}


def test_a_change_is_written_and_reported_at_the_next_tick(tmp_path: Path) -> None:
    timer, reporter = ManualTimer(), Recorder()
    book = StatusBook(WorkerStateFile(tmp_path), reporter, interval=INTERVAL)
    PeriodicActor.start(context(timer, "flusher"), book)
    book.put_task(make_task("t"))
    book.update("t", TaskStatus(state=TaskState.PREPARING))
    assert timer.delays == [INTERVAL]
    assert reporter.batches == [] and saved(tmp_path) == {}  # not before the tick

    timer.advance(INTERVAL)
    wait_for(lambda: reporter.states("t") == [TaskState.PREPARING], "the report")
    assert saved(tmp_path) == {"t": TaskState.PREPARING}
    wait_for(lambda: len(timer.delays) == 2, "the next tick armed")
    timer.advance(INTERVAL)  # nothing changed: nothing reported again
    wait_for(lambda: len(timer.delays) == 3, "the tick after")
    assert len(reporter.batches) == 1


def test_an_urgent_status_is_flushed_without_waiting_for_the_tick(tmp_path: Path) -> None:
    timer, reporter = ManualTimer(), Recorder()
    flusher: list[pykka.ActorProxy[PeriodicActor]] = []
    book = StatusBook(
        WorkerStateFile(tmp_path), reporter, interval=60.0, on_urgent=lambda: flusher[0].poke()
    )
    flusher.append(PeriodicActor.start(context(timer, "flusher"), book).proxy())
    book.put_task(make_task("t"))
    book.update("t", TaskStatus(state=TaskState.RUNNING))
    wait_for(lambda: reporter.states("t") == [TaskState.RUNNING], "the urgent report")
    assert saved(tmp_path) == {"t": TaskState.RUNNING}


class BrokenCipher:
    """A state cipher with a bug: encrypting raises what a flush does not expect."""

    def encrypt(self, plaintext: bytes) -> bytes:
        raise RuntimeError("cipher bug")

    def decrypt(self, ciphertext: bytes) -> bytes:
        return ciphertext


def test_a_failing_flush_crashes_the_worker(tmp_path: Path) -> None:
    timer, exits = ManualTimer(), Exits()
    Worker.start(
        context(timer, "worker", exits),
        executor=SimExecutor("node1"),
        state_dir=tmp_path,
        state_cipher=BrokenCipher(),
    ).proxy().apply_assignments(True, (make_task("t"),), ())
    timer.advance(INTERVAL)  # the flusher's tick, if no urgent status came first
    exit_ = wait_for(lambda: exits.exits and exits.exits[0], "the worker's exit")
    assert isinstance(exit_.error, HelperCrashed)
    assert "cipher bug" in str(exit_.error.__cause__)


class SweepBug(SimExecutor):
    def list_tasks(self) -> Sequence[str]:
        def broken() -> Iterator[str]:
            raise RuntimeError("sweep bug")
            yield "never"

        return broken()  # type: ignore[return-value]


def test_a_failing_orphan_sweep_crashes_the_worker(tmp_path: Path) -> None:
    timer, exits = ManualTimer(), Exits()
    Worker.start(context(timer, "worker", exits), executor=SweepBug("node1"), state_dir=tmp_path)
    exit_ = wait_for(lambda: exits.exits and exits.exits[0], "the worker's exit")
    assert isinstance(exit_.error, HelperCrashed)
    assert "sweep bug" in str(exit_.error.__cause__)


def test_a_state_managers_set_is_kept_but_never_reported(tmp_path: Path) -> None:
    """A new task's ASSIGNED (the manager's own status of it) is the book's first status
    of the task: saved, but not reported (the dispatcher refuses it), not even to a new
    session; the node's own next state is."""
    reporter = Recorder()
    book = StatusBook(WorkerStateFile(tmp_path), reporter, interval=INTERVAL)
    book.put_task(make_task("t"))
    book.update("t", TaskStatus(state=TaskState.ASSIGNED))
    book.flush()
    assert saved(tmp_path) == {"t": TaskState.ASSIGNED} and reporter.batches == []
    book.set_reporter(reporter)  # a new session gets every status a node may report
    book.flush()
    assert reporter.batches == []
    book.update("t", TaskStatus(state=TaskState.ACCEPTED))
    book.flush()
    assert reporter.states("t") == [TaskState.ACCEPTED]


class FailingStateFile(WorkerStateFile):
    """A state file on a disk that is full until ``failing`` is cleared."""

    failing = True

    def save(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        if self.failing:
            raise OSError(28, "No space left on device")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


def test_a_failing_state_write_is_logged_once_a_while_and_its_end_once(tmp_path: Path) -> None:
    now = [0.0]
    state_file = FailingStateFile(tmp_path)
    reporter = Recorder()
    book = StatusBook(state_file, reporter, interval=INTERVAL, clock=lambda: now[0])
    book.put_task(make_task("t"))
    book.update("t", TaskStatus(state=TaskState.PREPARING))
    with capture_logs() as logs:
        for _ in range(50):  # every flush fails: 5 s of flushes
            book.flush()
            now[0] += INTERVAL
        now[0] += 30.0
        book.flush()
        state_file.failing = False
        book.flush()
    failed = [e for e in logs if e["event"] == "worker.state.write_failed"]
    assert [e["failures"] for e in failed] == [1, 50]
    recovered = [e for e in logs if e["event"] == "worker.state.write_recovered"]
    assert [e["failures"] for e in recovered] == [51]
    assert reporter.batches and saved(tmp_path) == {"t": TaskState.PREPARING}
