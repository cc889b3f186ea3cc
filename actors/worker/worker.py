"""The worker: reconciles the assignments the agent hands down into one task runner per
task, and keeps them and their statuses on disk.

Rules:
- ``apply_assignments`` (the ``AssignmentSink`` side, called through a pykka proxy or
  ``WorkerSink``) queues a runner for each new task, passes desired-state changes on, and
  tells removed tasks' runners to shut down and remove their container. A full set removes
  every task not in it.
- Runners start from the queue (start_queue.py) ``start_chunk`` at a time, one mailbox
  message per chunk, and at most ``max_starting`` tasks are on their way to RUNNING at
  once (the queue's next waits for one to get there, or end), so thousands of
  assignments are thousands of queue entries, not thousands of threads waiting for the
  engine; assignments that come meanwhile are applied between chunks: a task removed,
  or whose desired state became SHUTDOWN, while it waits in the queue is never started
  (a service of 100,000 replicas removed 5 s after its creation left a backlog of
  thousands of queued starts ahead of its removal). A task to stop that has no
  container is settled without a runner (``controller.step`` decides it with no call):
  SHUTDOWN, and a removed one forgotten. The decisions about a task's runner are pure:
  runner_rules.py.
- The actor never blocks: executor calls run in the runners' threads, disk writes and
  reports in the status flusher (a `PeriodicActor` running the status book's flushes on
  the supervisor's timer), the orphan sweep in a thread of its own. ``current_statuses``
  is answered from memory. A crash of the flusher or of the sweep crashes the worker.
- Runners are supervised here (runner_supervision.py): a crashed runner is restarted
  after a backoff and inspects its container again (adopting it, never restarting it).
  More than ``max_runner_crashes`` crashes within ``runner_crash_window`` seconds fail
  the task instead.
- On start the worker loads its tasks and statuses from ``STATE_DIR`` and queues runners
  for those that had RUNNING or later (which re-adopt containers, never start one); the
  others (not started yet) are held until a manager's full set says they are still
  assigned, so a task whose service was removed while the node was down is never
  started. Then it sweeps away containers of tasks it no longer holds (orphans.py). The
  sweep runs again after every full assignment set. ``on_start`` starts no runner
  itself: a node with thousands of tasks on disk starts its worker at once.
- On stop the runners are stopped, within ``stop_budget`` seconds in all; containers keep
  running (a restarted worker adopts them). The agent and the node reach the worker
  through a `WorkerSink` (worker_sink.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka

from actors.log import get_logger
from actors.periodic import PeriodicActor
from actors.supervisor import Backoff, ChildContext, ChildExit, SupervisedActor, ThreadTimer, Timer
from actors.worker.executors.base import Executor
from actors.worker.interfaces import StatusReporter
from actors.worker.orphans import remove_orphans
from actors.worker.runner_rules import (
    Phase,
    Removal,
    failed_by_crashes,
    initial_status,
    reached_start,
    removal,
    settle,
)
from actors.worker.runner_supervision import (
    RUNNER_BACKOFF,
    RestartRunner,
    RunnerFinished,
    RunnerIdle,
    RunnerRecord,
    RunnerSupervision,
)
from actors.worker.start_queue import StartQueue
from actors.worker.state import WORKER_DIR, StateCipher, WorkerStateFile
from actors.worker.status_book import StatusBook
from actors.worker.task_runner import RemoveTask, TaskUpdate
from api.objects import Task, TaskStatus
from api.task_state import TaskState

__all__ = ["HelperCrashed", "Worker"]

FLUSHER = "status-flusher"  # the flusher's child name (task runners are named by task id)
START_CHUNK = 64  # runners started per mailbox message
# tasks on their way to RUNNING at once: a little over the docker executor's 10 engine
# slots keeps the engine busy, and a removal finds at most this many past their last look
# at the desired state (at 64, starts queued behind the slots ran 25 s after a removal)
MAX_STARTING = 16
STOP_BUDGET = 5.0  # seconds to stop every runner in (the node's stop timeout is twice it)


class HelperCrashed(RuntimeError):
    """The status flusher or the orphan sweep failed: the worker crashes with it."""


@dataclass(frozen=True)
class _StartQueued:
    pass


@dataclass(frozen=True)
class _Started:
    """A task on its way got to RUNNING, or ended, or waits at READY as desired."""

    task_id: str


@dataclass(frozen=True)
class _SweepCrashed:
    error: BaseException


class Worker(SupervisedActor):
    def __init__(
        self,
        ctx: ChildContext | None = None,
        *,
        executor: Executor,
        state_dir: Path,
        node_id: str = "",
        reporter: StatusReporter | None = None,
        flush_interval: float = 0.1,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] | None = None,
        timer: Timer | None = None,
        runner_backoff: Backoff = RUNNER_BACKOFF,
        max_runner_crashes: int = 5,
        runner_crash_window: float = 60.0,
        state_cipher: StateCipher | None = None,
        start_chunk: int = START_CHUNK,
        max_starting: int = MAX_STARTING,
        stop_budget: float = STOP_BUDGET,
    ) -> None:
        super().__init__(ctx)
        self._starts = StartQueue(start_chunk, max_starting)
        self._stop_budget = stop_budget
        self.executor = executor
        self.state_dir = Path(state_dir)
        self._state_cipher = state_cipher  # a manager's: its tasks are encrypted at rest
        self.node_id = node_id
        self._reporter = reporter
        self._flush_interval = flush_interval
        self._wall_clock = wall_clock
        self._clock = clock or (ctx.clock if ctx is not None else time.monotonic)
        self._timer: Timer = timer or (ctx.timer if ctx is not None else ThreadTimer())
        self._runners: dict[str, RunnerRecord] = {}
        self._book: StatusBook | None = None
        self._flusher: pykka.ActorProxy[PeriodicActor] | None = None
        self._log = get_logger("worker", executor=executor.name)
        self._children = RunnerSupervision(
            executor=executor,
            tell=self._tell_self,
            clock=self._clock,
            wall_clock=wall_clock,
            timer=self._timer,
            backoff=runner_backoff,
            max_crashes=max_runner_crashes,
            crash_window=runner_crash_window,
            log=self._log,
        )

    # -- lifecycle ----------------------------------------------------------------------
    def on_start(self) -> None:
        book = StatusBook(
            WorkerStateFile(self.state_dir / WORKER_DIR, self._state_cipher),
            self._reporter,
            interval=self._flush_interval,
            on_urgent=self._flush_soon,
        )
        state = book.load()
        self._book = book
        self._flusher = PeriodicActor.start(self._children.context(FLUSHER), book).proxy()
        held = 0
        for task in state.tasks.values():
            persisted = state.statuses.get(task.id)
            started = persisted is not None and persisted.state >= TaskState.RUNNING
            self._add(task, persisted, held=not started)
            held += not started
        self._log.info("worker.started", tasks=len(state.tasks), held=held)
        self._sweep_orphans()

    def on_stop(self) -> None:
        runners, self._runners = self._runners, {}
        self._starts.clear()
        self._children.stop_all(runners.values(), self._stop_budget)
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
                flusher.actor_ref.stop(block=True, timeout=5.0)
        if self._book is not None:
            self._book.flush()  # the last one, after the runners' last statuses
        self._log.info("worker.stopped")

    # -- AssignmentSink -----------------------------------------------------------------
    def apply_assignments(self, full: bool, tasks: Sequence[Task], removed: Sequence[str]) -> None:
        incoming = {task.id: task for task in tasks}
        gone = set(removed)
        if full:
            gone |= {task_id for task_id in self._runners if task_id not in incoming}
        for task in incoming.values():
            self._upsert(task)
        for task_id in gone - set(incoming):
            self._remove(task_id)
        self._log.info(
            "worker.assignments.applied", full=full, tasks=len(incoming), removed=len(gone)
        )
        if full:
            self._sweep_orphans()

    def current_statuses(self) -> Sequence[tuple[str, TaskStatus]]:
        return self._require_book().current()

    # -- other requests -----------------------------------------------------------------
    def set_reporter(self, reporter: StatusReporter | None) -> None:
        """Report to ``reporter`` from now on (every known status is sent again)."""
        self._reporter = reporter
        self._require_book().set_reporter(reporter)

    def task_ids(self) -> Sequence[str]:
        return sorted(self._runners)

    def held_tasks(self) -> Sequence[tuple[Task, TaskState]]:
        """The tasks this worker holds (not being removed) and their observed states,
        for the log publisher (actors/logs/publisher.py), answered from memory."""
        states = {task_id: status.state for task_id, status in self._require_book().current()}
        return [
            (r.task, states.get(task_id, TaskState.NEW))
            for task_id, r in self._runners.items()
            if not r.removing
        ]

    def flush(self) -> None:
        """Persist and report now (tests, shutdown)."""
        self._require_book().flush()

    def _require_book(self) -> StatusBook:
        if self._book is None:
            raise RuntimeError("worker not started")
        return self._book

    # -- told ---------------------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildExit) and message.name == FLUSHER:
            if message.error is not None:
                raise HelperCrashed("the status flusher crashed") from message.error
        elif isinstance(message, _SweepCrashed):
            raise HelperCrashed("the orphan sweep crashed") from message.error
        elif isinstance(message, ChildExit):
            self._on_runner_exit(message)
        elif isinstance(message, _StartQueued):
            self._start_queued()
        elif isinstance(message, _Started):
            self._free_slot(message.task_id)
        elif isinstance(message, RunnerIdle):
            runner = self._runners.get(message.task_id)
            if runner is not None and runner.incarnation == message.incarnation:
                self._free_slot(message.task_id)
                runner.ref = None
                runner.phase = Phase.DONE
                if runner.removing:  # told to a runner already stopping
                    self._enqueue(runner)
        elif isinstance(message, RestartRunner):
            runner = self._runners.get(message.task_id)
            due = runner is not None and runner.incarnation == message.incarnation
            if runner is not None and due and runner.ref is None:
                self._start_runner(runner)
        elif isinstance(message, RunnerFinished):
            self._free_slot(message.task_id)
            runner = self._runners.pop(message.task_id, None)
            if runner is not None:
                self._require_book().forget_status(message.task_id)
                self._log.info("worker.task.removed", task_id=message.task_id)
        return None

    # -- reconciliation -----------------------------------------------------------------
    def _add(self, task: Task, persisted: TaskStatus | None, *, held: bool = False) -> None:
        book = self._require_book()
        book.put_task(task)
        status = initial_status(task, persisted)
        if book.status(task.id) is None:
            book.update(task.id, status)
        runner = RunnerRecord(task=task, phase=Phase.HELD if held else Phase.QUEUED)
        self._runners[task.id] = runner
        if not held:
            self._enqueue(runner)

    def _upsert(self, task: Task) -> None:
        runner = self._runners.get(task.id)
        if runner is None:
            self._add(task, self._require_book().status(task.id))
            return
        if runner.removing:
            return  # being removed: a task never comes back once unassigned
        changed = task.desired_state != runner.task.desired_state
        runner.task = task
        self._require_book().put_task(task)
        if runner.phase is Phase.HELD:  # still assigned, as a manager's set says
            self._enqueue(runner)
        elif changed and runner.ref is not None:
            self._tell_runner(runner, TaskUpdate(task))

    def _remove(self, task_id: str) -> None:
        runner = self._runners.get(task_id)
        book = self._require_book()
        book.forget_task(task_id)
        if runner is None:
            book.forget_status(task_id)
            return
        if runner.removing:
            return
        runner.removing = True
        self._free_slot(task_id)  # its slot: a removed task is not on its way any more
        status = book.status(task_id) or runner.task.status
        todo = removal(runner.phase, status.state)  # runner_rules.py
        if todo is Removal.TELL_RUNNER:
            self._tell_runner(runner, RemoveTask())  # a crashed one restarts removing
        elif todo is Removal.FORGET:
            self._runners.pop(task_id, None)
            book.forget_status(task_id)
        elif todo is Removal.QUEUE_RUNNER:
            self._enqueue(runner)

    def _tell_runner(self, runner: RunnerRecord, message: object) -> None:
        if runner.ref is None:
            return
        # A dead runner's exit report is on the way; the restarted one reads runner.task.
        with contextlib.suppress(pykka.ActorDeadError):
            runner.ref.tell(message)

    # -- helpers ------------------------------------------------------------------------
    def _flush_soon(self) -> None:
        """From any thread (a runner reporting a status): flush without waiting."""
        flusher = self._flusher
        if flusher is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                flusher.poke()

    # -- runners ------------------------------------------------------------------------
    def _enqueue(self, runner: RunnerRecord) -> None:
        runner.phase = Phase.QUEUED
        if self._starts.push(runner.task.id):
            self._tell_self(_StartQueued())

    def _start_queued(self) -> None:
        """Start the next chunk of queued runners; the rest after the messages that came
        meanwhile (a removal supersedes a queued start)."""
        starts = self._starts
        starts.woken()
        started = 0
        book = self._require_book()
        while (task_id := starts.next()) is not None and started < starts.chunk:
            runner = self._runners.get(task_id)
            if runner is None or runner.phase is not Phase.QUEUED or self._settle(runner):
                starts.drop()  # removed (or queued twice) meanwhile, or settled
                continue
            status = book.status(task_id) or runner.task.status
            on_its_way = not runner.removing and status.state < TaskState.RUNNING
            if on_its_way and starts.full():
                return  # the rest when one gets there (_Started)
            starts.drop()
            if on_its_way:
                starts.on_its_way(task_id)
            self._start_runner(runner)
            started += 1
        if starts.more():
            self._tell_self(_StartQueued())

    def _free_slot(self, task_id: str) -> None:
        """``task_id`` is no longer on its way to RUNNING: the queue's next may start."""
        if self._starts.free(task_id):
            self._tell_self(_StartQueued())

    def _on_status(self, task_id: str, status: TaskStatus) -> None:
        """A runner's new status (on its thread): into the book, and a slot freed when the
        task got to RUNNING, ended, or waits at READY as desired."""
        self._require_book().update(task_id, status)
        if not self._starts.is_starting(task_id):
            return
        runner = self._runners.get(task_id)
        if reached_start(status.state, runner.task.desired_state if runner else None):
            self._tell_self(_Started(task_id))

    def _settle(self, runner: RunnerRecord) -> bool:
        """Whether the task needs no runner: its first step takes no executor call (a new
        task to stop: controller.py). Its status is recorded; a removed one is forgotten."""
        book = self._require_book()
        task_id = runner.task.id
        settled = settle(
            runner.task,
            book.status(task_id) or runner.task.status,
            removing=runner.removing,
            now=self._wall_clock(),
            prepare_refuses_started=self.executor.prepare_refuses_started,
        )
        if settled is None:
            return False
        if settled.forget:
            self._runners.pop(task_id, None)
            book.forget_status(task_id)
            return True
        book.update(task_id, settled.status)
        runner.phase = Phase.SETTLED
        return True

    def _start_runner(self, runner: RunnerRecord) -> None:
        status = self._require_book().status(runner.task.id) or runner.task.status
        self._children.start(runner, status, self._on_status)

    def _on_runner_exit(self, exit_: ChildExit) -> None:
        runner = self._runners.get(exit_.name)
        if runner is None or runner.incarnation != exit_.incarnation or exit_.error is None:
            return
        runner.ref = None
        error = self._children.crashed(runner, exit_.error)
        if error is not None:
            self._give_up(runner, error)

    def _give_up(self, runner: RunnerRecord, error: str) -> None:
        book = self._require_book()
        task_id = runner.task.id
        self._free_slot(task_id)
        status = book.status(task_id) or runner.task.status
        failed = failed_by_crashes(status, error, self._wall_clock())
        if failed is not None:
            book.update(task_id, failed)
        if runner.removing:
            self._runners.pop(task_id, None)
            book.forget_status(task_id)

    def _tell_self(self, message: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(message)

    # -- orphans ------------------------------------------------------------------------
    def _sweep_orphans(self) -> None:
        book = self._require_book()
        thread = threading.Thread(
            target=self._sweep, args=(book,), name="worker-orphan-sweep", daemon=True
        )
        thread.start()

    def _sweep(self, book: StatusBook) -> None:
        try:
            remove_orphans(self.executor, book, self._log)
        except BaseException as exc:  # a bug (the executor's errors are logged below)
            self._tell_self(_SweepCrashed(exc))
