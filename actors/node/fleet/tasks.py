"""One fleet node's tasks: the worker's step function (actors/worker/controller.py) driven
without a thread or an actor per task, against the simulated executor.

Rules (the worker's and the task runner's, without their threads):
- ``apply(full, tasks, removed, now)`` is ``Worker.apply_assignments``, with the same
  changes (actors/worker/assignments.py): a new task starts from its status, a changed
  desired state is stepped at once unless an action is pending, a removed task is shut
  down, removed and then forgotten.
- The simulated executor answers every call at once, so actions run inline, one after
  the other, until ``step`` waits. What waits: a START (it takes the executor's
  ``start_delay``) and an action with a ``Decision.delay`` (retries, health polls) become
  timers (``take_timers``) that the owner fires with ``fire``; a timer whose token is not
  the task's current one is stale. While one is pending, new inputs update the task but
  launch nothing: the pending action's own step decides next, with the newest inputs.
- WAIT holds no thread: the task waits until the executor reports an exit it did not
  cause (``exited``: exit on demand, an injected failure); exits caused by our own
  shutdown, terminate or remove end the wait instead.
- Every new status goes into ``statuses`` (a ``StatusCoalescer``: later states win), which
  the node's session sends in batches; nothing is kept on disk.
- ``now`` is wall-clock seconds, for status timestamps; timers are delays from the call
  that made them, on the owner's clock.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final, Protocol

from actors.worker.assignments import assignment_changes
from actors.worker.controller import Action, Outcome, step
from actors.worker.executors.base import ExecutorError, ExitResult, Observation
from actors.worker.session import StatusCoalescer
from api.objects import Task, TaskStatus
from api.task_state import TaskState

__all__ = ["NodeTasks", "SimControl", "SimRuntime", "Timer"]


class SimControl(Protocol):
    """The calls of the simulated executor's controller that never block."""

    def inspect(self) -> Observation: ...

    def prepare(self) -> None: ...

    def finish_start(self) -> None: ...

    def shutdown(self) -> None: ...

    def terminate(self) -> None: ...

    def remove(self) -> None: ...


class SimRuntime(Protocol):
    """``actors.worker.executors.sim.SimExecutor``, by shape."""

    start_delay: float
    prepare_refuses_started: ClassVar[bool]

    def controller(self, task: Task) -> SimControl: ...


@dataclass(frozen=True, slots=True)
class Timer:
    delay: float  # seconds from when it was taken
    task_id: str
    token: int


# the outcome of an action that returns nothing: immutable, so one serves every task
_DONE: Final = {action: Outcome(action) for action in Action}


class _Wait(enum.Enum):
    NONE = 0
    EXIT = 1  # WAIT in flight: the next exit we did not cause ends it


@dataclass(slots=True)
class _FleetTask:
    task: Task
    status: TaskStatus
    control: SimControl
    removing: bool = False
    attempt: int = 0
    token: int = 0
    pending: Action | None = None  # the delayed action (a timer runs for it)
    wait: _Wait = _Wait.NONE
    finished: bool = False


@dataclass(slots=True)
class NodeTasks:
    runtime: SimRuntime
    statuses: StatusCoalescer = field(default_factory=StatusCoalescer)
    _tasks: dict[str, _FleetTask] = field(default_factory=dict)
    _timers: list[Timer] = field(default_factory=list)
    _exits: deque[tuple[str, int]] = field(default_factory=deque)
    _stepping: bool = False
    # held tasks by last status, kept as statuses change: the bench asks for the counts
    # four times a second, and counting 100,000 tasks each time cost more than running them
    _counts: dict[TaskState, int] = field(default_factory=dict)

    # -- inputs ----------------------------------------------------------------------------
    def apply(self, full: bool, tasks: Sequence[Task], removed: Iterable[str], now: float) -> None:
        changes = assignment_changes(self._tasks, full, tasks, removed)
        for task in changes.upserts:
            self._upsert(task, now)
        for task_id in changes.removals:
            self._remove(task_id, now)
        self._drain_exits(now)

    def exited(self, task_id: str, code: int) -> None:
        """The executor's ``on_exit``: handled after the current call (``drain``)."""
        self._exits.append((task_id, code))

    def drain(self, now: float) -> None:
        """Handle exits reported outside ``apply``/``fire`` (exit on demand)."""
        self._drain_exits(now)

    def fire(self, timer: Timer, now: float) -> None:
        held = self._tasks.get(timer.task_id)
        if held is None or held.token != timer.token or held.pending is None:
            return
        action, held.pending = held.pending, None
        self._run(held, self._perform(held, action), now)
        self._drain_exits(now)

    # -- outputs ---------------------------------------------------------------------------
    def take_timers(self) -> list[Timer]:
        timers, self._timers = self._timers, []
        return timers

    def current_statuses(self) -> list[tuple[str, TaskStatus]]:
        """Every held task's status: resent on a new session."""
        return [(k, t.status) for k, t in self._tasks.items() if not t.removing]

    def __len__(self) -> int:
        return len(self._tasks)

    def running(self) -> list[Task]:
        """The tasks whose last status is RUNNING."""
        return [t.task for t in self._tasks.values() if t.status.state is TaskState.RUNNING]

    def counts(self) -> dict[TaskState, int]:
        """Held tasks by their last status."""
        return {state: n for state, n in self._counts.items() if n}

    def _count(self, state: TaskState, delta: int) -> None:
        self._counts[state] = self._counts.get(state, 0) + delta

    # -- reconciliation --------------------------------------------------------------------
    def _upsert(self, task: Task, now: float) -> None:
        held = self._tasks.get(task.id)
        if held is None:
            held = _FleetTask(task, task.status, self.runtime.controller(task))
            self._tasks[task.id] = held
            self._count(task.status.state, 1)
            self._run(held, None, now)
            return
        if held.removing:
            return  # a task never comes back once unassigned
        changed = task.desired_state != held.task.desired_state
        held.task = task
        if changed and held.pending is None:
            self._run(held, None, now)

    def _remove(self, task_id: str, now: float) -> None:
        held = self._tasks.get(task_id)
        if held is None or held.removing:
            return
        held.removing = True
        if held.pending is None:
            self._run(held, None, now)

    # -- stepping --------------------------------------------------------------------------
    def _run(self, held: _FleetTask, outcome: Outcome | None, now: float) -> None:
        """Step and act until the task waits (a timer, an exit, or a new input). The
        counts by state change once per run, not at each of the four or five steps."""
        counted = held.status.state
        refuses = self.runtime.prepare_refuses_started
        while not held.finished:
            decision = step(
                desired=held.task.desired_state,
                status=held.status,
                outcome=outcome,
                removing=held.removing,
                now=now,
                attempt=held.attempt,
                prepare_refuses_started=refuses,
            )
            if decision.retry:
                held.attempt += 1
            elif held.attempt:
                held.attempt = 0
            status = decision.status
            if status is not held.status:
                held.status = status
                self.statuses.put(held.task.id, status)
            if decision.finished:
                held.finished = True
                del self._tasks[held.task.id]
                break
            action = decision.action
            if action is None:
                break
            if action is Action.WAIT:
                held.wait = _Wait.EXIT
                break
            delay = decision.delay
            if action is Action.START:
                delay = max(delay, self.runtime.start_delay)
            if delay > 0:
                held.token += 1
                held.pending = action
                self._timers.append(Timer(delay, held.task.id, held.token))
                break
            outcome = self._perform(held, action)
        if held.finished:
            self._count(counted, -1)
        elif held.status.state is not counted:
            self._count(counted, -1)
            self._count(held.status.state, 1)

    def _perform(self, held: _FleetTask, action: Action) -> Outcome:
        control = held.control
        try:
            if action is Action.INSPECT:
                return Outcome(action, observation=control.inspect())
            if action is Action.PREPARE:
                control.prepare()
            elif action is Action.START:
                control.finish_start()
            else:
                held.wait = _Wait.NONE  # our own stop ends the wait; its exit is not news
                if action is Action.SHUTDOWN:
                    control.shutdown()
                    return Outcome(action, observation=control.inspect())
                if action is Action.TERMINATE:
                    control.terminate()
                    return Outcome(action, observation=control.inspect())
                if action is Action.REMOVE:
                    control.remove()
                else:  # pragma: no cover - WAIT never reaches here (see _run)
                    raise ValueError(f"action {action} cannot run inline")
        except ExecutorError as exc:
            return Outcome(action, error=exc)
        return _DONE[action]

    def _drain_exits(self, now: float) -> None:
        if self._stepping:
            return
        self._stepping = True
        try:
            while self._exits:
                task_id, code = self._exits.popleft()
                held = self._tasks.get(task_id)
                if held is None or held.wait is not _Wait.EXIT:
                    continue
                held.wait = _Wait.NONE
                self._run(held, Outcome(Action.WAIT, exit=ExitResult(exit_code=code)), now)
        finally:
            self._stepping = False
