"""One actor per task: carries out the actions ``controller.step`` decides.

Rules:
- The runner is only told (never asked), so it may take its time; still, every executor
  call runs on a thread of its own and comes back as a ``_Done`` message: the actor stays
  free to hear of a desired-state change or a removal while a container is waited on.
- A wait holds no thread while the task runs: a thread asks the controller to ``watch``
  the task and ends; the executor's own watch tells ``_Woken`` when the task may have
  stopped, and only then a thread asks ``exit_result`` (None: still running, the step
  waits again). A watch that failed (a bug) crashes the runner as a crashed call does.
- At most one action is in flight besides ``wait``. A step taken while one is in flight
  (a wait that returned, a desired-state change) updates the status but launches nothing:
  the in-flight action's own step decides next, with the newest inputs.
- A new status is handed to ``on_status`` (the worker's status book) as soon as it is
  decided. When the step says the task is finished (removed), ``on_finished`` is called
  and the runner stops. When the task is terminal and nothing more is to be done until
  it is removed (no action, none in flight), ``on_idle`` is called and the runner stops
  too: a finished task holds no thread (thousands of completed tasks held one each);
  the worker starts a runner again to remove it.
- The runner never stops a container on its own exit: ``on_stop`` only releases the
  controller. A crashed runner is restarted by the worker and inspects again (adoption).
- An exception from an executor call that is not an ``ExecutorError`` is a bug: it
  crashes the runner.
- ``prepare`` reports progress (an image pull) from its thread as ``_Progress``; while the
  task is PREPARING the line becomes its status message (``controller.with_progress``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pykka

from actors.log import get_logger
from actors.supervisor import ChildContext, SupervisedActor, ThreadTimer, Timer
from actors.worker.controller import Action, Decision, Outcome, step, with_progress
from actors.worker.executors.base import Controller, Executor, ExecutorError, Progress
from api.objects import Task, TaskStatus

__all__ = ["RemoveTask", "TaskRunner", "TaskUpdate"]

StatusCallback = Callable[[str, TaskStatus], None]
FinishedCallback = Callable[[str], None]


@dataclass(frozen=True)
class TaskUpdate:
    """The assignment changed (a new desired state)."""

    task: Task


@dataclass(frozen=True)
class RemoveTask:
    """The assignment was removed: shut down, remove the container, finish."""


@dataclass(frozen=True)
class _Kick:
    pass


@dataclass(frozen=True)
class _Launch:
    token: int
    action: Action


@dataclass(frozen=True)
class _Done:
    token: int
    outcome: Outcome


@dataclass(frozen=True)
class _Woken:
    token: int
    error: BaseException | None  # watching failed (a bug)


@dataclass(frozen=True)
class _Progress:
    token: int
    message: str


@dataclass(frozen=True)
class _OpCrashed:
    token: int
    error: BaseException


class RunnerCrash(RuntimeError):
    """An executor call raised something that is not an ``ExecutorError``."""


class TaskRunner(SupervisedActor):
    def __init__(
        self,
        ctx: ChildContext | None,
        task: Task,
        status: TaskStatus,
        executor: Executor,
        *,
        on_status: StatusCallback,
        on_finished: FinishedCallback,
        on_idle: FinishedCallback | None = None,
        removing: bool = False,
        wall_clock: Callable[[], float] = time.time,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(ctx)
        self.task = task
        self.status = status
        self.removing = removing
        self._executor = executor
        self._on_status = on_status
        self._on_finished = on_finished
        self._on_idle = on_idle
        self._wall_clock = wall_clock
        self._timer: Timer = timer or (ctx.timer if ctx is not None else ThreadTimer())
        self._controller: Controller | None = None
        self._tokens = 0
        self._busy: int | None = None  # token of the action in flight (not wait)
        self._waiting: int | None = None  # token of the wait in flight
        self._attempt = 0
        self._finished = False
        self._log = get_logger("worker", task_id=task.id)

    # -- lifecycle ----------------------------------------------------------------------
    def on_start(self) -> None:
        self._controller = self._executor.controller(self.task)
        self.actor_ref.tell(_Kick())

    def on_stop(self) -> None:
        if self._controller is not None:
            self._controller.close()

    # -- messages -----------------------------------------------------------------------
    def on_receive(self, message: object) -> object:
        if isinstance(message, _Done):
            self._on_done(message)
        elif isinstance(message, _Launch):
            if message.token == self._busy:
                self._start_thread(message.token, message.action)
        elif isinstance(message, _Woken):
            if message.error is not None:
                raise RunnerCrash(f"task {self.task.id}: watching it failed") from message.error
            if message.token == self._waiting and not self._finished:
                self._start_thread(message.token, Action.WAIT, woken=True)
        elif isinstance(message, TaskUpdate):
            changed = message.task.desired_state != self.task.desired_state
            self.task = message.task
            if changed and self._busy is None:
                self._step(None)
        elif isinstance(message, RemoveTask):
            if not self.removing:
                self.removing = True
                if self._busy is None:
                    self._step(None)
        elif isinstance(message, _Kick):
            self._step(None)
        elif isinstance(message, _Progress):
            if message.token == self._busy and not self._finished:
                progressed = with_progress(self.status, message.message)
                if progressed != self.status:
                    self.status = progressed
                    self._on_status(self.task.id, progressed)
        elif isinstance(message, _OpCrashed):
            raise RunnerCrash(f"task {self.task.id}: executor call crashed") from message.error
        return None

    def _on_done(self, done: _Done) -> None:
        if done.token == self._waiting:
            self._waiting = None
        elif done.token == self._busy:
            self._busy = None
        else:
            return  # from an action this runner no longer waits for
        outcome = done.outcome
        if outcome.error is not None:
            self._log.warning(
                "worker.task.action.failed",
                action=outcome.action.value,
                error=str(outcome.error),
                temporary=outcome.error.temporary,
            )
        self._step(outcome)

    # -- stepping -----------------------------------------------------------------------
    def _step(self, outcome: Outcome | None) -> None:
        if self._finished:
            return
        decision = step(
            desired=self.task.desired_state,
            status=self.status,
            outcome=outcome,
            removing=self.removing,
            now=self._wall_clock(),
            attempt=self._attempt,
            prepare_refuses_started=self._executor.prepare_refuses_started,
        )
        self._attempt = self._attempt + 1 if decision.retry else 0
        self._apply(decision)

    def _apply(self, decision: Decision) -> None:
        if decision.status != self.status:
            old, self.status = self.status, decision.status
            if old.state != decision.status.state:
                self._log.info(
                    "worker.task.transition",
                    state=decision.status.state.label,
                    previous=old.state.label,
                    message=decision.status.message,
                    err=decision.status.err or None,
                )
            self._on_status(self.task.id, decision.status)
        if decision.finished:
            self._finished = True
            self._on_finished(self.task.id)
            self.stop()
            return
        action = decision.action
        if action is None and self._busy is None and self._waiting is None:
            if decision.status.state.is_terminal and self._on_idle is not None:
                self._finished = True  # hears nothing more: the worker restarts it to remove
                self._on_idle(self.task.id)
                self.stop()
            return
        if action is None or self._busy is not None:
            return
        if action is Action.WAIT:
            if self._waiting is None:
                self._tokens += 1
                self._waiting = self._tokens
                self._start_thread(self._tokens, Action.WAIT)
            return
        self._tokens += 1
        self._busy = self._tokens
        if decision.delay > 0:
            token = self._tokens
            self._timer.call_later(decision.delay, lambda: self._tell(_Launch(token, action)))
        else:
            self._start_thread(self._tokens, action)

    # -- executor calls (threads) -------------------------------------------------------
    def _tell(self, message: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(message)

    def _start_thread(self, token: int, action: Action, *, woken: bool = False) -> None:
        """``action`` on a thread; a WAIT not ``woken`` yet only starts the watch."""
        controller = self._controller
        assert controller is not None
        thread = threading.Thread(
            target=self._call,
            args=(token, action, controller, woken),
            name=f"task-{self.task.id[:12]}-{action.value}",
            daemon=True,
        )
        thread.start()

    def _call(self, token: int, action: Action, controller: Controller, woken: bool) -> None:
        def progress(line: str) -> None:
            self._tell(_Progress(token, line))

        def notify(error: BaseException | None) -> None:
            self._tell(_Woken(token, error))

        try:
            if action is Action.WAIT and not woken:
                controller.watch(notify)
                return  # the rest comes as _Woken, with no thread meanwhile
            outcome = _perform(action, controller, progress)
        except ExecutorError as exc:
            outcome = Outcome(action, error=exc)
        except Exception as exc:
            self._tell(_OpCrashed(token, exc))
            return
        self._tell(_Done(token, outcome))


def _perform(action: Action, controller: Controller, progress: Progress) -> Outcome:
    if action is Action.INSPECT:
        return Outcome(action, observation=controller.inspect())
    if action is Action.WAIT:
        return Outcome(action, exit=controller.exit_result())
    if action in (Action.SHUTDOWN, Action.TERMINATE):
        (controller.shutdown if action is Action.SHUTDOWN else controller.terminate)()
        return Outcome(action, observation=controller.inspect())  # for the exit code
    if action is Action.PREPARE:
        controller.prepare(progress)
        return Outcome(action)
    calls = {
        Action.START: controller.start,
        Action.REMOVE: controller.remove,
    }
    calls[action]()
    return Outcome(action)
