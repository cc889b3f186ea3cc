"""Restart supervision: what happens to a slot whose task died.

Rules (SwarmKit's ``manager/orchestrator/restart``, level-triggered):
- A task is *runnable* while its desired state is at most RUNNING. A runnable task that is
  dead (terminal observed state; node removed, DOWN or drained) gets desired state
  SHUTDOWN. Its slot (replicated: slot number; global: node id) then has no runnable task.
- Such a slot is refilled by a new task unless the restart policy declines, judged on the
  slot's newest task:
  * a task that was superseded (its spec differs from the service's: an update) or that
    vanished without ending (still RUNNING on a lost node, or shut down by us) is replaced
    at once: vanishing is not a restart attempt, whatever the condition;
  * a task that ended (COMPLETE, FAILED, REJECTED) is restarted if the condition allows it
    (``any``; ``on-failure`` unless it completed; never for ``none``) and fewer than
    ``max_attempts`` restarts (0: unlimited) were made with the current spec inside
    ``window`` (0: ever). A declined slot is *finished*: it still counts as a replica
    and is not refilled until the service's task spec changes.
- Restarts are counted from the store (the slot's tasks with the current spec, minus the
  first) and from ``RestartHistory`` (kept by the shell, seeded from nothing after a
  leader change), whichever is larger: the store alone forgets what the reaper deleted.
- The delay is honoured without blocking, as SwarmKit does: a restart replacement is
  created at once with desired state READY and the message "restart delayed" (the
  scheduler leaves it alone), and raised to RUNNING once ``delay`` seconds have passed
  since it was created. A delay of 0 creates it RUNNING.
- A slot whose previous task is still alive (stopping on a node that is up) is not
  refilled yet: stop-first.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from actors.orchestrator.state import (
    RESTART_DELAYED_MESSAGE,
    CreateTask,
    Plan,
    SetDesiredState,
    is_alive,
    is_dead,
    new_task,
    newest,
)
from api.enums import RestartCondition
from api.ids import RandomBits
from api.objects import Node, Service, Task
from api.objects_copy import copy_object
from api.specs import TaskSpec
from api.task_state import TaskState

__all__ = [
    "RestartHistory",
    "SlotKey",
    "SlotState",
    "SlotVerdict",
    "judge_slot",
    "promote_delayed",
    "refill",
    "replacement",
    "shut_down_dead",
    "slot_order",
]

SlotKey = int | str
_ENDED = (TaskState.COMPLETE, TaskState.FAILED, TaskState.REJECTED)


@dataclass(slots=True)
class RestartHistory:
    """Restarts made by this orchestrator: (service, slot key) → [(time, spec)]."""

    entries: dict[tuple[str, SlotKey], list[tuple[float, TaskSpec]]] = field(default_factory=dict)

    def record(self, service_id: str, key: SlotKey, spec: TaskSpec, at: float) -> None:
        """One restart of the slot at ``at``. Only what `count` can still count is kept,
        as SwarmKit's restart supervisor keeps it: nothing without max attempts, else the
        newest ``max_attempts`` restarts of this spec within the window. (Everything was
        kept: a crash-looping slot under ``--restart-condition any`` grew by one entry per
        restart, for as long as the leader ran.)"""
        policy = spec.restart_policy
        if policy.max_attempts <= 0:
            self.entries.pop((service_id, key), None)
            return
        since = at - policy.window if policy.window > 0 else None
        kept = [
            (t, s)
            for t, s in self.entries.get((service_id, key), ())
            if s == spec and (since is None or t >= since)
        ]
        kept.append((at, spec))
        self.entries[(service_id, key)] = kept[-policy.max_attempts :]

    def count(self, service_id: str, key: SlotKey, spec: TaskSpec, since: float | None) -> int:
        return sum(
            1
            for at, s in self.entries.get((service_id, key), ())
            if s == spec and (since is None or at >= since)
        )

    def forget_service(self, service_id: str) -> None:
        for k in [k for k in self.entries if k[0] == service_id]:
            del self.entries[k]


def slot_order(key: SlotKey) -> tuple[int, int, str]:
    """Sort key for slot keys: slot numbers, then node ids."""
    return (0, key, "") if isinstance(key, int) else (1, 0, key)


class SlotState(enum.StrEnum):
    LIVE = "live"  # has a runnable task
    FINISHED = "finished"  # the restart policy declined: counts, not refilled
    REFILL = "refill"  # needs a new task now
    WAIT = "wait"  # needs a new task once its previous one has stopped


@dataclass(frozen=True, slots=True)
class SlotVerdict:
    state: SlotState
    restart: bool = False  # the refill is a restart (delay applies, attempt counted)
    reason: str = ""


def shut_down_dead(
    tasks: Iterable[Task], nodes: Mapping[str, Node], plan: Plan, reason: str
) -> list[Task]:
    """Desired SHUTDOWN for every runnable task that is dead; returns the tasks as they
    will be once the plan is written."""
    out: list[Task] = []
    for t in tasks:
        if t.desired_state <= TaskState.RUNNING and is_dead(t, nodes):
            plan.add(SetDesiredState(t.id, t.service_id, TaskState.SHUTDOWN, reason))
            t = copy_object(t, t.meta, {"desired_state": TaskState.SHUTDOWN})  # no field walk
        out.append(t)
    return out


def _restarts_used(
    service: Service, key: SlotKey, slot_tasks: list[Task], now: float, history: RestartHistory
) -> int:
    policy = service.spec.task.restart_policy
    since = now - policy.window if policy.window > 0 else None
    same = sorted(
        (t for t in slot_tasks if t.spec == service.spec.task),
        key=lambda t: (t.meta.created_at, t.meta.version, t.id),
    )
    from_store = sum(1 for t in same[1:] if since is None or t.meta.created_at >= since)
    return max(from_store, history.count(service.id, key, service.spec.task, since))


def judge_slot(
    service: Service,
    key: SlotKey,
    slot_tasks: list[Task],
    nodes: Mapping[str, Node],
    now: float,
    history: RestartHistory,
) -> SlotVerdict:
    """The state of one slot from its tasks (desired REMOVE excluded, dead runnable
    tasks already shut down)."""
    if any(t.desired_state <= TaskState.RUNNING for t in slot_tasks):
        return SlotVerdict(SlotState.LIVE)
    blocked = any(is_alive(t, nodes) for t in slot_tasks)
    last = newest(slot_tasks)
    state = SlotState.WAIT if blocked else SlotState.REFILL
    if last is None or last.spec != service.spec.task or last.status.state not in _ENDED:
        return SlotVerdict(state)
    policy = service.spec.task.restart_policy
    ended = last.status.state
    if policy.condition == RestartCondition.NONE:
        return SlotVerdict(SlotState.FINISHED, reason="restart condition none")
    if policy.condition == RestartCondition.ON_FAILURE and ended == TaskState.COMPLETE:
        return SlotVerdict(SlotState.FINISHED, reason="completed; restart condition on-failure")
    if policy.max_attempts > 0:
        used = _restarts_used(service, key, slot_tasks, now, history)
        if used >= policy.max_attempts:
            return SlotVerdict(SlotState.FINISHED, reason=f"{used} restarts: max attempts reached")
    return SlotVerdict(state, restart=True)


def replacement(
    service: Service,
    *,
    slot: int,
    node_id: str,
    now: float,
    rng: RandomBits,
    restart: bool,
) -> Task:
    """The new task for a slot; a restart with a delay starts held at desired READY."""
    if restart and service.spec.task.restart_policy.delay > 0:
        return new_task(
            service,
            slot=slot,
            node_id=node_id,
            now=now,
            rng=rng,
            desired=TaskState.READY,
            message=RESTART_DELAYED_MESSAGE,
        )
    return new_task(service, slot=slot, node_id=node_id, now=now, rng=rng)


def refill(
    service: Service,
    slot: int,
    node_id: str,
    restart: bool,
    now: float,
    rng: RandomBits,
    history: RestartHistory,
    plan: Plan,
) -> None:
    """Create the task that fills a slot (global: ``node_id``), counting a restart."""
    task = replacement(service, slot=slot, node_id=node_id, now=now, rng=rng, restart=restart)
    plan.add(CreateTask(task))
    if restart:
        key: SlotKey = node_id if node_id else slot
        history.record(service.id, key, service.spec.task, now)
        if task.desired_state == TaskState.READY:
            plan.wake(now + service.spec.task.restart_policy.delay)


def promote_delayed(
    tasks: Iterable[Task], now: float, plan: Plan, to: TaskState = TaskState.RUNNING
) -> None:
    """Raise held restarts (desired READY) to ``to`` (RUNNING; a job's: COMPLETE) once
    their delay has passed."""
    for t in tasks:
        if t.desired_state != TaskState.READY:
            continue
        due = t.meta.created_at + t.spec.restart_policy.delay
        if now >= due:
            plan.add(SetDesiredState(t.id, t.service_id, to, "restart delay over"))
        else:
            plan.wake(due)
