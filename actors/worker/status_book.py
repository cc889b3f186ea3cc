"""The worker's tasks and latest statuses, shared between its actors and the status flusher
that persists them and reports changed statuses in batches.

Rules:
- Any thread may update the book (task runners report from their own threads); every
  method takes the lock only to copy or change plain dicts.
- Statuses are coalesced per task: only the latest status of each task changed since the
  last flush is reported. A flush runs every ``interval`` seconds when something changed,
  and at once after an urgent change (RUNNING, terminal states) or a new reporter: the
  book is the `PeriodicJob` of the worker's flusher (a `PeriodicActor`), and ``on_urgent``
  pokes it.
- A status in a state managers set (a new task's ASSIGNED, as the manager sent it) is
  kept but never reported: the dispatcher refuses it, and the node logged each refusal.
- Order inside a flush: write the state file (fsync) first, then report, so a status a
  manager has seen is never lost by a crash. A failed report is retried at the next flush
  (newer statuses of the same task win); a failed write (OSError) is retried too and blocks
  reports. It is logged once every `WRITE_FAILURE_LOG_INTERVAL` seconds with the count of
  failures since (a full disk fails every flush), and its end once a write succeeds. Any
  other error is a bug: it crashes the flusher (and so the worker).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from actors.log import get_logger
from actors.worker.interfaces import StatusReporter
from actors.worker.state import WorkerState, WorkerStateFile
from api.objects import Task, TaskStatus
from api.task_state import TaskState
from transport.trust import RefusalTally

__all__ = ["StatusBook", "is_urgent"]


def is_urgent(status: TaskStatus) -> bool:
    return status.state is TaskState.RUNNING or status.state.is_terminal


def _reportable(status: TaskStatus) -> bool:
    return not status.state.manager_owned


WRITE_FAILURE_LOG_INTERVAL: Final = 30.0  # seconds between logs of a failing state write


class StatusBook:
    def __init__(
        self,
        state_file: WorkerStateFile,
        reporter: StatusReporter | None = None,
        *,
        interval: float = 0.1,
        on_urgent: Callable[[], None] | None = None,  # from any thread: flush now
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._file = state_file
        self._reporter = reporter
        self._interval = interval
        self._on_urgent = on_urgent
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._statuses: dict[str, TaskStatus] = {}
        self._unreported: dict[str, TaskStatus] = {}
        self._dirty = False
        self._log = get_logger("worker")
        self._clock = clock
        self._write_failures = RefusalTally(WRITE_FAILURE_LOG_INTERVAL)

    # -- lifecycle ----------------------------------------------------------------------
    def load(self) -> WorkerState:
        state = self._file.load()
        with self._lock:
            self._tasks = dict(state.tasks)
            self._statuses = {k: v for k, v in state.statuses.items() if k in self._tasks}
        return WorkerState(dict(self._tasks), dict(self._statuses))

    def set_reporter(self, reporter: StatusReporter | None) -> None:
        with self._lock:
            self._reporter = reporter
            # a new session gets everything a node may report
            self._unreported = {k: v for k, v in self._statuses.items() if _reportable(v)}
        self._urgent()

    # -- updates ------------------------------------------------------------------------
    def put_task(self, task: Task) -> None:
        with self._lock:
            self._tasks[task.id] = task
            self._dirty = True

    def forget_task(self, task_id: str) -> None:
        """The task is no longer assigned (its status stays until ``forget_status``)."""
        with self._lock:
            if self._tasks.pop(task_id, None) is not None:
                self._dirty = True

    def forget_status(self, task_id: str) -> None:
        with self._lock:
            self._statuses.pop(task_id, None)
            self._unreported.pop(task_id, None)
            self._dirty = True

    def update(self, task_id: str, status: TaskStatus) -> None:
        with self._lock:
            self._statuses[task_id] = status
            if _reportable(status):
                self._unreported[task_id] = status
            self._dirty = True
        if is_urgent(status):
            self._urgent()

    def _urgent(self) -> None:
        if self._on_urgent is not None:
            self._on_urgent()

    # -- reads --------------------------------------------------------------------------
    def status(self, task_id: str) -> TaskStatus | None:
        with self._lock:
            return self._statuses.get(task_id)

    def task_ids(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._tasks)

    def current(self) -> Sequence[tuple[str, TaskStatus]]:
        with self._lock:
            return [(k, v) for k, v in self._statuses.items() if k in self._tasks]

    # -- flushing (the flusher's PeriodicJob) ---------------------------------------------
    def interval(self) -> float:
        return self._interval

    def tick(self, now: float) -> None:
        self.flush()

    def flush(self) -> None:
        with self._lock:
            dirty = self._dirty
            tasks = dict(self._tasks)
            statuses = dict(self._statuses)
            self._dirty = False
        if dirty:
            try:
                self._file.save(tasks, statuses)
            except OSError as exc:
                with self._lock:
                    self._dirty = True
                count = self._write_failures.refuse("write", self._clock())
                if count is not None:
                    self._log.error(
                        "worker.state.write_failed",
                        path=str(self._file.path),
                        error=str(exc),
                        failures=count,
                    )
                return
            if self._write_failures.totals:
                self._log.info(
                    "worker.state.write_recovered",
                    path=str(self._file.path),
                    failures=self._write_failures.totals["write"],
                )
                self._write_failures = RefusalTally(WRITE_FAILURE_LOG_INTERVAL)
        with self._lock:
            reporter = self._reporter
            if reporter is None or not self._unreported:
                return
            batch = self._unreported
            self._unreported = {}
        try:
            reporter.report_status(list(batch.items()))
        except Exception as exc:
            with self._lock:
                for key, value in batch.items():
                    self._unreported.setdefault(key, value)
            self._log.warning("worker.status.report_failed", error=str(exc), count=len(batch))
