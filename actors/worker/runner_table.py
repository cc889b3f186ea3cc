"""The tasks a worker holds and their runners, kept on the worker actor's thread (the
worker: actors/worker/worker.py, which hands this table its requests and the messages
told to it; the pure decisions: runner_rules.py, assignments.py, start_queue.py; the
runners as children: runner_supervision.py).

Rules:
- An assignment set (assignments.py) queues a runner for each new task, passes
  desired-state changes on to a running runner, and tells removed tasks' runners to shut
  down and remove their container (runner_rules.py `removal`). A task never comes back
  once unassigned.
- Runners start from the queue (start_queue.py) ``chunk`` at a time, one `StartQueued`
  told to the worker per chunk, and at most ``max_starting`` tasks are on their way to
  RUNNING at once (the queue's next waits for one to get there, or end: `TaskStarted`),
  so thousands of assignments are thousands of queue entries, not thousands of threads
  waiting for the engine; assignments that come meanwhile are applied between chunks: a
  task removed, or whose desired state became SHUTDOWN, while it waits in the queue is
  never started (a service of 100,000 replicas removed 5 s after its creation left a
  backlog of thousands of queued starts ahead of its removal). A task to stop that has
  no container is settled without a runner (``controller.step`` decides it with no call):
  SHUTDOWN, and a removed one forgotten.
- Tasks loaded from disk that never got to RUNNING are held until a manager's full set
  says they are still assigned, so a task whose service was removed while the node was
  down is never started; the others are queued (their runners re-adopt containers).
- A runner's report of an earlier incarnation is stale and ignored. A runner that crashed
  too often fails its task (runner_rules.py `failed_by_crashes`); a removed one is then
  forgotten.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pykka

from actors.supervisor import ChildExit
from actors.worker.assignments import assignment_changes
from actors.worker.executors.base import Executor
from actors.worker.runner_rules import (
    Phase,
    Removal,
    failed_by_crashes,
    held_at_start,
    initial_status,
    reached_start,
    removal,
    settle,
    takes_start_slot,
)
from actors.worker.runner_supervision import (
    RestartRunner,
    RunnerFinished,
    RunnerIdle,
    RunnerRecord,
    RunnerSupervision,
)
from actors.worker.start_queue import StartQueue
from actors.worker.status_book import StatusBook
from actors.worker.task_runner import RemoveTask, TaskUpdate
from api.objects import Task, TaskStatus
from api.task_state import TaskState

__all__ = ["RunnerTable", "StartQueued", "TaskStarted"]


@dataclass(frozen=True)
class StartQueued:
    """Told to the worker: start the queue's next chunk (`RunnerTable.start_queued`)."""


@dataclass(frozen=True)
class TaskStarted:
    """Told to the worker: a task on its way got to RUNNING, or ended, or waits at READY
    as desired (`RunnerTable.free_slot`)."""

    task_id: str


class RunnerTable:
    """The held tasks' runners (the module's rules); every method but ``on_status`` runs
    on the worker's thread."""

    def __init__(
        self,
        *,
        book: StatusBook,
        children: RunnerSupervision,
        starts: StartQueue,
        tell: Callable[[object], None],
        executor: Executor,
        wall_clock: Callable[[], float],
        log: Any,
    ) -> None:
        self._book = book
        self._children = children
        self._starts = starts
        self._tell = tell  # to the worker, which hands the message back here
        self._executor = executor  # asked, at each settle, whether prepare refuses a started task
        self._wall_clock = wall_clock
        self._log = log
        self._runners: dict[str, RunnerRecord] = {}

    # -- the worker's requests ------------------------------------------------------------
    def load(self, tasks: Mapping[str, Task], statuses: Mapping[str, TaskStatus]) -> int:
        """Take the tasks loaded from disk; how many are held."""
        held = 0
        for task in tasks.values():
            persisted = statuses.get(task.id)
            waits = held_at_start(persisted)
            self._add(task, persisted, held=waits)
            held += waits
        return held

    def apply(self, full: bool, tasks: Sequence[Task], removed: Sequence[str]) -> None:
        changes = assignment_changes(self._runners, full, tasks, removed)
        for task in changes.upserts:
            self._upsert(task)
        for task_id in changes.removals:
            self._remove(task_id)
        self._log.info(
            "worker.assignments.applied",
            full=full,
            tasks=len(changes.upserts),
            removed=len(changes.removals),
        )

    def task_ids(self) -> list[str]:
        return sorted(self._runners)

    def held(self) -> list[tuple[Task, TaskState]]:
        """The tasks held (not being removed) and their observed states."""
        states = {task_id: status.state for task_id, status in self._book.current()}
        return [
            (r.task, states.get(task_id, TaskState.NEW))
            for task_id, r in self._runners.items()
            if not r.removing
        ]

    def stop(self, budget: float) -> None:
        """Stop every runner within ``budget`` seconds in all; containers keep running."""
        runners, self._runners = self._runners, {}
        self._starts.clear()
        self._children.stop_all(runners.values(), budget)

    # -- told to the worker ---------------------------------------------------------------
    def start_queued(self) -> None:
        """Start the next chunk of queued runners; the rest after the messages that came
        meanwhile (a removal supersedes a queued start)."""
        starts = self._starts
        starts.woken()
        started = 0
        while (task_id := starts.next()) is not None and started < starts.chunk:
            runner = self._runners.get(task_id)
            if runner is None or runner.phase is not Phase.QUEUED or self._settle(runner):
                starts.drop()  # removed (or queued twice) meanwhile, or settled
                continue
            on_its_way = takes_start_slot(self._status(runner).state, removing=runner.removing)
            if on_its_way and starts.full():
                return  # the rest when one gets there (TaskStarted)
            starts.drop()
            if on_its_way:
                starts.on_its_way(task_id)
            self._start_runner(runner)
            started += 1
        if starts.more():
            self._tell(StartQueued())

    def free_slot(self, task_id: str) -> None:
        """``task_id`` is no longer on its way to RUNNING: the queue's next may start."""
        if self._starts.free(task_id):
            self._tell(StartQueued())

    def runner_idle(self, idle: RunnerIdle) -> None:
        runner = self._runners.get(idle.task_id)
        if runner is None or runner.incarnation != idle.incarnation:
            return
        self.free_slot(idle.task_id)
        runner.ref = None
        runner.phase = Phase.DONE
        if runner.removing:  # told to a runner already stopping
            self._enqueue(runner)

    def restart_due(self, due: RestartRunner) -> None:
        runner = self._runners.get(due.task_id)
        if runner is not None and runner.incarnation == due.incarnation and runner.ref is None:
            self._start_runner(runner)

    def runner_finished(self, finished: RunnerFinished) -> None:
        self.free_slot(finished.task_id)
        if self._runners.pop(finished.task_id, None) is not None:
            self._book.forget_status(finished.task_id)
            self._log.info("worker.task.removed", task_id=finished.task_id)

    def runner_exited(self, exit_: ChildExit) -> None:
        runner = self._runners.get(exit_.name)
        if runner is None or runner.incarnation != exit_.incarnation or exit_.error is None:
            return
        runner.ref = None
        error = self._children.crashed(runner, exit_.error)
        if error is not None:
            self._give_up(runner, error)

    # -- a runner's thread ----------------------------------------------------------------
    def on_status(self, task_id: str, status: TaskStatus) -> None:
        """A runner's new status (on its thread): into the book, and a slot freed when the
        task got to RUNNING, ended, or waits at READY as desired."""
        self._book.update(task_id, status)
        if not self._starts.is_starting(task_id):
            return
        runner = self._runners.get(task_id)
        if reached_start(status.state, runner.task.desired_state if runner else None):
            self._tell(TaskStarted(task_id))

    # -- reconciliation -------------------------------------------------------------------
    def _add(self, task: Task, persisted: TaskStatus | None, *, held: bool = False) -> None:
        book = self._book
        book.put_task(task)
        if book.status(task.id) is None:
            book.update(task.id, initial_status(task, persisted))
        runner = RunnerRecord(task=task, phase=Phase.HELD if held else Phase.QUEUED)
        self._runners[task.id] = runner
        if not held:
            self._enqueue(runner)

    def _upsert(self, task: Task) -> None:
        runner = self._runners.get(task.id)
        if runner is None:
            self._add(task, self._book.status(task.id))
            return
        if runner.removing:
            return  # being removed: a task never comes back once unassigned
        changed = task.desired_state != runner.task.desired_state
        runner.task = task
        self._book.put_task(task)
        if runner.phase is Phase.HELD:  # still assigned, as a manager's set says
            self._enqueue(runner)
        elif changed and runner.ref is not None:
            self._tell_runner(runner, TaskUpdate(task))

    def _remove(self, task_id: str) -> None:
        runner = self._runners.get(task_id)
        self._book.forget_task(task_id)
        if runner is None:
            self._book.forget_status(task_id)
            return
        if runner.removing:
            return
        runner.removing = True
        self.free_slot(task_id)  # its slot: a removed task is not on its way any more
        todo = removal(runner.phase, self._status(runner).state)
        if todo is Removal.TELL_RUNNER:
            self._tell_runner(runner, RemoveTask())  # a crashed one restarts removing
        elif todo is Removal.FORGET:
            self._forget(task_id)
        elif todo is Removal.QUEUE_RUNNER:
            self._enqueue(runner)

    def _forget(self, task_id: str) -> None:
        self._runners.pop(task_id, None)
        self._book.forget_status(task_id)

    def _status(self, runner: RunnerRecord) -> TaskStatus:
        return self._book.status(runner.task.id) or runner.task.status

    def _tell_runner(self, runner: RunnerRecord, message: object) -> None:
        if runner.ref is None:
            return
        # A dead runner's exit report is on the way; the restarted one reads runner.task.
        with contextlib.suppress(pykka.ActorDeadError):
            runner.ref.tell(message)

    # -- runners --------------------------------------------------------------------------
    def _enqueue(self, runner: RunnerRecord) -> None:
        runner.phase = Phase.QUEUED
        if self._starts.push(runner.task.id):
            self._tell(StartQueued())

    def _settle(self, runner: RunnerRecord) -> bool:
        """Whether the task needs no runner: its first step takes no executor call (a new
        task to stop: controller.py). Its status is recorded; a removed one is forgotten."""
        settled = settle(
            runner.task,
            self._status(runner),
            removing=runner.removing,
            now=self._wall_clock(),
            prepare_refuses_started=self._executor.prepare_refuses_started,
        )
        if settled is None:
            return False
        if settled.forget:
            self._forget(runner.task.id)
            return True
        self._book.update(runner.task.id, settled.status)
        runner.phase = Phase.SETTLED
        return True

    def _start_runner(self, runner: RunnerRecord) -> None:
        self._children.start(runner, self._status(runner), self.on_status)

    def _give_up(self, runner: RunnerRecord, error: str) -> None:
        task_id = runner.task.id
        self.free_slot(task_id)
        failed = failed_by_crashes(self._status(runner), error, self._wall_clock())
        if failed is not None:
            self._book.update(task_id, failed)
        if runner.removing:
            self._forget(task_id)
