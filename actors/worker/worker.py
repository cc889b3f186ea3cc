"""The worker: reconciles the assignments the agent hands down into one task runner per
task, and keeps them and their statuses on disk.

Rules:
- ``apply_assignments`` (the ``AssignmentSink`` side, called through a pykka proxy or
  ``WorkerSink``) goes to the `RunnerTable` (runner_table.py states how assignments
  become runners, how runners start from the queue ``start_chunk`` at a time with at
  most ``max_starting`` tasks on their way to RUNNING, and how removals and runners'
  reports are handled); the messages the table tells are handed back to it in order,
  so assignments that come meanwhile are applied between chunks of starts.
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
  assigned. Then it sweeps away containers of tasks it no longer holds (orphans.py). The
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
from actors.worker.runner_supervision import (
    RUNNER_BACKOFF,
    RestartRunner,
    RunnerFinished,
    RunnerIdle,
    RunnerSupervision,
)
from actors.worker.runner_table import RunnerTable, StartQueued, TaskStarted
from actors.worker.start_queue import StartQueue
from actors.worker.state import WORKER_DIR, StateCipher, WorkerStateFile
from actors.worker.status_book import StatusBook
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
        self._start_chunk = start_chunk
        self._max_starting = max_starting
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
        self._book: StatusBook | None = None
        self._table: RunnerTable | None = None
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
        self._table = RunnerTable(
            book=book,
            children=self._children,
            starts=StartQueue(self._start_chunk, self._max_starting),
            tell=self._tell_self,
            executor=self.executor,
            wall_clock=self._wall_clock,
            log=self._log,
        )
        held = self._table.load(state.tasks, state.statuses)
        self._log.info("worker.started", tasks=len(state.tasks), held=held)
        self._sweep_orphans()

    def on_stop(self) -> None:
        if self._table is not None:
            self._table.stop(self._stop_budget)
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
                flusher.actor_ref.stop(block=True, timeout=5.0)
        if self._book is not None:
            self._book.flush()  # the last one, after the runners' last statuses
        self._log.info("worker.stopped")

    # -- AssignmentSink -----------------------------------------------------------------
    def apply_assignments(self, full: bool, tasks: Sequence[Task], removed: Sequence[str]) -> None:
        self._require_table().apply(full, tasks, removed)
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
        return self._require_table().task_ids()

    def held_tasks(self) -> Sequence[tuple[Task, TaskState]]:
        """The tasks this worker holds (not being removed) and their observed states,
        for the log publisher (actors/logs/publisher.py), answered from memory."""
        return self._require_table().held()

    def flush(self) -> None:
        """Persist and report now (tests, shutdown)."""
        self._require_book().flush()

    def _require_book(self) -> StatusBook:
        if self._book is None:
            raise RuntimeError("worker not started")
        return self._book

    def _require_table(self) -> RunnerTable:
        if self._table is None:
            raise RuntimeError("worker not started")
        return self._table

    # -- told ---------------------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildExit) and message.name == FLUSHER:
            if message.error is not None:
                raise HelperCrashed("the status flusher crashed") from message.error
            return None
        if isinstance(message, _SweepCrashed):
            raise HelperCrashed("the orphan sweep crashed") from message.error
        table = self._require_table()
        if isinstance(message, ChildExit):
            table.runner_exited(message)
        elif isinstance(message, StartQueued):
            table.start_queued()
        elif isinstance(message, TaskStarted):
            table.free_slot(message.task_id)
        elif isinstance(message, RunnerIdle):
            table.runner_idle(message)
        elif isinstance(message, RestartRunner):
            table.restart_due(message)
        elif isinstance(message, RunnerFinished):
            table.runner_finished(message)
        return None

    # -- helpers ------------------------------------------------------------------------
    def _flush_soon(self) -> None:
        """From any thread (a runner reporting a status): flush without waiting."""
        flusher = self._flusher
        if flusher is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                flusher.poke()

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
