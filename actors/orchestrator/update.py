"""Rolling updates: replace a service's out-of-date tasks slot by slot, and watch them.

Rules (SwarmKit's ``manager/orchestrator/update``, level-triggered):
- A runnable task is *stale* when its task spec differs from the service's. Only the task
  spec counts: a scale-only change (or ``service update`` with no change) bumps
  ``spec_version`` but restarts nothing.
- Slots are updated in order (replicated: slot number; global: node id), at most
  ``parallelism`` at a time (0: all at once). A slot is *in flight* from the moment its
  stale task is stopped or its new task created until the new task has been RUNNING for
  ``delay`` seconds (from ``status.started_at``); a slot waiting for a task (a stop-first
  refill, a restart) is in flight too. But once the slot's first new task has run or
  ended by itself, the update is done with the slot ``delay`` seconds later whatever
  follows, as SwarmKit's updater is once the task it made reaches RUNNING or fails: a
  slot whose new task keeps failing is the restart policy's, and does not hold back the
  other slots (``continue``) nor keep the update UPDATING for ever.
- ``stop-first``: the stale task gets desired SHUTDOWN; the slot is refilled with the new
  spec once the old task has stopped. ``start-first``: a new task is created next to the
  stale one, which is shut down once the new one is RUNNING; a new task that ended by
  itself is followed by another as the restart policy allows (delay, max attempts,
  condition), the stale one serving meanwhile.
- Monitoring: a *new* task (current spec, created since the update started) is watched
  from its creation until it has been RUNNING for ``monitor`` seconds. One that ends
  (FAILED, REJECTED: unhealthy or refused included; COMPLETE: it should still run) before
  it ran, or within ``monitor`` of running, is a failure of the update; once all slots are
  updated, the update stays UPDATING until every new task is past its window.
- More failed slots (slots with a failed new task: a slot's restarts failing again are
  one, as SwarmKit counts only the tasks its updater made) than ``max_failure_ratio``
  times the slots trigger the ``failure_action``:
  ``pause`` (update_status PAUSED; nothing more is replaced until the service is updated
  again: the control API resets ``update_status`` with a new spec), ``continue``, or
  ``rollback`` (``rollback.rolled_back``: the previous spec, paced and monitored by a
  rollback config; a failing rollback pauses, there is no rollback of a rollback). The
  status message names the failing task and its error (exit code or health output).
- ``update_status``: UPDATING (``started_at``) when stale slots are found; COMPLETED
  (``completed_at``) once none are stale, in flight or monitored; ROLLBACK_* likewise, and
  a completed rollback's message keeps why it began ("rollback completed: update rolled
  back due to ...").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from actors.orchestrator.restart import SlotKey, SlotState, SlotVerdict, slot_order
from actors.orchestrator.rollback import rollback_config, rolled_back
from actors.orchestrator.state import (
    CreateTask,
    Plan,
    SetDesiredState,
    SetServiceSpec,
    SetUpdateStatus,
    is_alive,
    newest,
)
from api.enums import FailureAction, RestartCondition, UpdateOrder, UpdateState
from api.objects import Node, Service, Task, UpdateStatus
from api.specs import TaskSpec, UpdateConfig
from api.task_state import TaskState

__all__ = ["UpdateOutcome", "failed_in_window", "failure_detail", "plan_update"]

_RUNNING_UPDATE = (UpdateState.UPDATING, UpdateState.ROLLBACK_STARTED)
_PAUSED = (UpdateState.PAUSED, UpdateState.ROLLBACK_PAUSED)
_ROLLBACK = (UpdateState.ROLLBACK_STARTED, UpdateState.ROLLBACK_PAUSED)
_ROLLING_BACK = "rollback in progress"  # a rollback that began without saying why
# how a task ends when it stops by itself (SHUTDOWN is ours); COMPLETE: an early exit
_ENDED = (TaskState.FAILED, TaskState.REJECTED, TaskState.COMPLETE)
_DETAIL_CHARS = 512  # of a task's error quoted in an update status message


@dataclass(frozen=True, slots=True)
class UpdateOutcome:
    """Slots the planner emptied (stop-first), with the verdict the caller should now
    use for each: WAIT while the stopped task is alive, else REFILL."""

    emptied: Mapping[SlotKey, SlotVerdict]


def _config(service: Service) -> UpdateConfig:
    status = service.update_status
    if status is not None and status.state in _ROLLBACK:
        return rollback_config(service)
    return service.spec.update_config


def _running_since(task: Task) -> float:
    return task.status.started_at or task.status.timestamp


def _past(task: Task, seconds: float, now: float, plan: Plan) -> bool:
    """True once ``task`` has been RUNNING for ``seconds``; else wake up then."""
    if task.status.state != TaskState.RUNNING:
        return False
    return _reached(_running_since(task) + seconds, now, plan)


def _reached(at: float, now: float, plan: Plan) -> bool:
    """True once ``now`` is past ``at``; else the plan wakes up then."""
    if now >= at:
        return True
    plan.wake(at)
    return False


def _slot_attempted(
    tasks: list[Task], current: TaskSpec, started_at: float, delay: float, now: float, plan: Plan
) -> bool:
    """True once ``delay`` has passed since the slot's first new task (current spec,
    created since the update started) ran or ended by itself; else wake up then."""
    reached = [
        _running_since(t)
        for t in tasks
        if (t.status.started_at or t.status.state in _ENDED)
        and t.meta.created_at >= started_at
        and t.spec == current
    ]
    return bool(reached) and _reached(min(reached) + delay, now, plan)


def _retry_due(
    tasks: list[Task], current: TaskSpec, since: float, now: float, plan: Plan
) -> bool | None:
    """For a start-first slot (its old task still live): None while no task of the
    current spec ended there by itself since ``since`` (when the update started; 0 once
    it is over), so a first new task is the update's to make; else whether another is
    due, as the restart policy allows: ``delay`` after the last ended (wake up then),
    within ``max_attempts``, never for condition none. Without this the updater made a
    new task every pass, without pause."""
    ended = [
        t
        for t in tasks
        if t.status.state in _ENDED and t.meta.created_at >= since and t.spec == current
    ]
    last = newest(ended)
    if last is None:
        return None
    policy = current.restart_policy
    if policy.condition == RestartCondition.NONE or 0 < policy.max_attempts < len(ended):
        return False
    return _reached(last.status.timestamp + policy.delay, now, plan)


def failed_in_window(task: Task, monitor: float) -> bool:
    """``task`` ended by itself before it ran or within ``monitor`` seconds of running."""
    status = task.status
    if status.state not in _ENDED:
        return False
    return not status.started_at or status.timestamp - status.started_at <= monitor


def failure_detail(task: Task) -> str:
    """Why ``task`` ended, for a status message: its error, else its exit."""
    status = task.status
    detail = status.err
    if not detail:
        code = status.container_status.exit_code if status.container_status else 0
        detail = f"exited ({code})" if status.state == TaskState.COMPLETE else status.state.label
    if len(detail) > _DETAIL_CHARS:
        detail = detail[: _DETAIL_CHARS - 3] + "..."
    return detail


def plan_update(
    service: Service,
    slots: Mapping[SlotKey, list[Task]],
    verdicts: Mapping[SlotKey, SlotVerdict],
    nodes: Mapping[str, Node],
    now: float,
    plan: Plan,
    *,
    make: Callable[[SlotKey], Task],
    updatable: Callable[[SlotKey], bool],
) -> UpdateOutcome:
    """Add this pass's update steps for ``service`` to ``plan``. ``slots``: the tasks of
    each slot (desired REMOVE excluded, dead ones already shut down); ``make`` builds a
    new task for a slot; ``updatable`` says whether a slot may be updated now (global:
    not on a paused node)."""
    current = service.spec.task
    config = _config(service)
    status = service.update_status
    state = status.state if status is not None else UpdateState.UNKNOWN
    started_at = status.started_at if status is not None and state in _RUNNING_UPDATE else None
    if started_at is None and status is not None and state in _PAUSED:
        started_at = status.started_at

    stale_slots: list[tuple[SlotKey, list[Task]]] = []
    retries: list[SlotKey] = []  # start-first slots whose new task ended: another one
    in_flight = 0
    monitored = 0  # new tasks inside their monitor window
    for key in sorted(slots, key=slot_order):
        tasks = slots[key]
        verdict = verdicts.get(key)
        if verdict is None:
            continue
        if verdict.state in (SlotState.WAIT, SlotState.REFILL):
            last = newest(tasks)
            if last is None:
                continue
            if last.spec != current:
                in_flight += 1  # waiting for its new task (stop-first)
            elif started_at is not None and not _slot_attempted(
                tasks, current, started_at, config.delay, now, plan
            ):
                in_flight += 1  # waiting for its new task (a restart)
            continue
        if verdict.state != SlotState.LIVE:
            continue
        live = [t for t in tasks if t.desired_state <= TaskState.RUNNING]
        fresh: list[Task] = []
        stale: list[Task] = []
        for t in live:  # one comparison of specs a task: each is deep (100,000 a pass)
            (fresh if t.spec == current else stale).append(t)
        if fresh and stale:
            if any(t.status.state == TaskState.RUNNING for t in fresh):
                for t in stale:
                    plan.add(SetDesiredState(t.id, t.service_id, TaskState.SHUTDOWN, "updated"))
            if started_at is None or not _slot_attempted(
                tasks, current, started_at, config.delay, now, plan
            ):
                in_flight += 1
            continue
        if stale:
            if not updatable(key):
                continue
            retry = _retry_due(tasks, current, started_at or 0.0, now, plan)
            if retry is None:
                stale_slots.append((key, stale))
            elif retry:
                retries.append(key)  # within no batch: the slot had its turn
            continue
        if len(fresh) > 1:  # duplicates (a lost write, a leader change): keep the best
            keep = max(fresh, key=lambda t: (t.status.state, t.meta.created_at, t.id))
            for t in fresh:
                if t is not keep:
                    plan.add(SetDesiredState(t.id, t.service_id, TaskState.SHUTDOWN, "duplicate"))
            fresh = [keep]
        if started_at is not None and fresh[0].meta.created_at >= started_at:
            t = fresh[0]
            if t.status.state != TaskState.RUNNING:
                if not _slot_attempted(tasks, current, started_at, config.delay, now, plan):
                    in_flight += 1  # its first new task, or a restart after one failed
            elif not _past(t, config.delay, now, plan):
                in_flight += 1
            elif not _past(t, config.monitor, now, plan):
                monitored += 1

    emptied: dict[SlotKey, SlotVerdict] = {}
    if state in _PAUSED:
        return UpdateOutcome(emptied)

    if started_at is not None:
        failed = sorted(
            (
                (t.status.timestamp, t.id, key, t)
                for key, tasks in slots.items()
                for t in tasks
                if failed_in_window(t, config.monitor)
                and t.meta.created_at >= started_at
                and t.spec == current
            ),
            key=lambda f: f[:2],
        )
        failed_slots = len({f[2] for f in failed})
        total = max(1, len(slots))
        if (
            failed
            and config.failure_action != FailureAction.CONTINUE
            and failed_slots > config.max_failure_ratio * total
        ):
            _fail(service, failed[0][3], config, now, plan)
            return UpdateOutcome(emptied)

    for key in retries:
        plan.add(CreateTask(make(key)))
    if stale_slots:
        if started_at is None:
            started_at = now
            rolling_back = state in _ROLLBACK
            new_state = UpdateState.ROLLBACK_STARTED if rolling_back else UpdateState.UPDATING
            plan.add(
                SetUpdateStatus(
                    service.id,
                    service.spec_version,
                    UpdateStatus(
                        state=new_state,
                        started_at=now,
                        message=_ROLLING_BACK if rolling_back else "update in progress",
                    ),
                )
            )
        budget = len(stale_slots) if config.parallelism <= 0 else config.parallelism - in_flight
        for key, stale in stale_slots[: max(0, budget)]:
            if config.order == UpdateOrder.START_FIRST:
                plan.add(CreateTask(make(key)))
                continue
            for t in stale:
                plan.add(SetDesiredState(t.id, t.service_id, TaskState.SHUTDOWN, "updated"))
            blocked = any(is_alive(t, nodes) for t in stale)
            emptied[key] = SlotVerdict(SlotState.WAIT if blocked else SlotState.REFILL)
        return UpdateOutcome(emptied)

    if in_flight == 0 and monitored == 0 and status is not None and state in _RUNNING_UPDATE:
        done = UpdateState.ROLLBACK_COMPLETED if state in _ROLLBACK else UpdateState.COMPLETED
        message = _completed(status) if state in _ROLLBACK else "update completed"
        plan.add(
            SetUpdateStatus(
                service.id,
                service.spec_version,
                replace(status, state=done, completed_at=now, message=message),
            )
        )
    return UpdateOutcome(emptied)


def _completed(status: UpdateStatus) -> str:
    """A finished rollback's message keeps why it was rolled back."""
    why = status.message
    return f"rollback completed: {why}" if why and why != _ROLLING_BACK else "rollback completed"


def _fail(service: Service, task: Task, config: UpdateConfig, now: float, plan: Plan) -> None:
    status = service.update_status
    assert status is not None
    rolling_back = status.state in _ROLLBACK
    cause = f"failure or early termination of task {task.id}: {failure_detail(task)}"
    if (
        config.failure_action == FailureAction.ROLLBACK
        and not rolling_back
        and service.previous_spec is not None
    ):
        rolled = rolled_back(
            service, now, message=f"update rolled back due to {cause}", origin="update failed"
        )
        plan.add(SetServiceSpec(service.id, service.spec_version, rolled))
        return
    paused = UpdateState.ROLLBACK_PAUSED if rolling_back else UpdateState.PAUSED
    what = "rollback" if rolling_back else "update"
    new_status = replace(status, state=paused, message=f"{what} paused due to {cause}")
    plan.add(SetUpdateStatus(service.id, service.spec_version, new_status))
