"""The worker's task runners as its children (the worker: actors/worker/worker.py).

Rules:
- A task's runner starts as a child named by its task id, with an incarnation counted
  per task: a report (exit, idle, restart due) of an earlier incarnation is stale, and the
  worker ignores it.
- A crashed runner is restarted after a backoff (``RUNNER_BACKOFF`` by the crashes within
  the window; a `RestartRunner` is told to the worker when it is due) and inspects its
  container again, adopting it, never restarting it. More than ``max_crashes`` crashes
  within ``crash_window`` seconds: no restart, the worker fails the task instead
  (runner_rules.py `failed_by_crashes`). Crashes and restarts are counted in the
  supervision metrics.
- On stop every runner is stopped within one budget for them all, not each; the late
  ones are logged. Their containers keep running: a restarted worker adopts them.
- Everything a runner says goes to the worker as a message (``tell``), never a call into
  it: the worker acts on its own thread.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pykka

from actors.metrics import supervisor as supervision_metrics
from actors.supervisor import Backoff, ChildContext, Directory, Timer
from actors.worker.executors.base import Executor
from actors.worker.runner_rules import Phase, describe_crash, recent_crashes
from actors.worker.task_runner import TaskRunner
from api.objects import Task, TaskStatus

__all__ = [
    "RUNNER_BACKOFF",
    "RestartRunner",
    "RunnerFinished",
    "RunnerIdle",
    "RunnerRecord",
    "RunnerSupervision",
]

RUNNER_BACKOFF = Backoff(initial=0.2, maximum=10.0)


@dataclass(frozen=True)
class RestartRunner:
    """A crashed runner's backoff is over."""

    task_id: str
    incarnation: int


@dataclass(frozen=True)
class RunnerFinished:
    """The runner removed its task: the worker forgets it."""

    task_id: str


@dataclass(frozen=True)
class RunnerIdle:
    """The runner's task ended and the runner stopped (it holds no thread now)."""

    task_id: str
    incarnation: int


@dataclass
class RunnerRecord:
    """One task as the worker holds it, and its runner."""

    task: Task
    phase: Phase = Phase.QUEUED
    removing: bool = False
    ref: pykka.ActorRef[Any] | None = None
    incarnation: int = 0
    crashes: deque[float] = field(default_factory=deque)


class RunnerSupervision:
    """Starts, restarts and stops the worker's task runners (the module's rules)."""

    def __init__(
        self,
        *,
        executor: Executor,
        tell: Callable[[object], None],
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        timer: Timer,
        backoff: Backoff,
        max_crashes: int,
        crash_window: float,
        log: Any,
    ) -> None:
        self._executor = executor
        self._tell = tell
        self._clock = clock
        self._wall_clock = wall_clock
        self._timer = timer
        self._backoff = backoff
        self._max_crashes = max_crashes
        self._crash_window = crash_window
        self._log = log
        self._directory = Directory([])

    def context(self, name: str, incarnation: int = 1) -> ChildContext:
        """A child's context: its exit is told to the worker."""
        return ChildContext(
            name=name,
            incarnation=incarnation,
            peers=self._directory,
            report_exit=self._tell,
            clock=self._clock,
            timer=self._timer,
        )

    def start(
        self,
        runner: RunnerRecord,
        status: TaskStatus,
        on_status: Callable[[str, TaskStatus], None],
    ) -> None:
        """Start ``runner``'s next incarnation from ``status``."""
        runner.phase = Phase.STARTED
        runner.incarnation += 1
        tell = self._tell
        runner.ref = TaskRunner.start(
            self.context(runner.task.id, runner.incarnation),
            runner.task,
            status,
            self._executor,
            on_status=on_status,
            on_finished=lambda task_id: tell(RunnerFinished(task_id)),
            on_idle=lambda task_id, n=runner.incarnation: tell(RunnerIdle(task_id, n)),
            removing=runner.removing,
            wall_clock=self._wall_clock,
            timer=self._timer,
        )

    def crashed(self, runner: RunnerRecord, error: BaseException) -> str | None:
        """``runner`` crashed: None when it is restarted once its backoff is over; the
        crash in one line when it crashed too often (the worker fails its task)."""
        task_id = runner.task.id
        supervision_metrics.CRASHES.labels("worker", "task-runner").inc()
        crashes = recent_crashes(runner.crashes, self._clock(), self._crash_window)
        described = describe_crash(error)
        if crashes > self._max_crashes:
            self._log.error("worker.task.runner.gave_up", task_id=task_id, error=described)
            return described
        delay = self._backoff.delay(crashes)
        self._log.warning(
            "worker.task.runner.crashed",
            task_id=task_id,
            error=described,
            delay=delay,
            attempt=crashes,
        )
        due = RestartRunner(task_id, runner.incarnation)
        supervision_metrics.RESTARTS.labels("worker", "task-runner").inc()
        self._timer.call_later(delay, lambda: self._tell(due))
        return None

    def stop_all(self, runners: Iterable[RunnerRecord], budget: float) -> None:
        """Stop every running runner within ``budget`` seconds in all."""
        futures = []
        for runner in runners:
            if runner.ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    futures.append(runner.ref.stop(block=False))
        deadline = self._clock() + budget  # for them all, not each
        late = 0
        for future in futures:
            try:
                future.get(timeout=max(0.0, deadline - self._clock()))
            except pykka.Timeout:
                late += 1
            except Exception:  # a runner that died meanwhile is stopped too
                pass
        if late:
            self._log.warning("worker.runners.stop_late", runners=late, budget=budget)
