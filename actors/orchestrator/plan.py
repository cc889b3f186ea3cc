"""What ``service create|update --dry-run`` would do (Nomad's ``job plan``): the real
orchestrator and scheduler run on a copy of the state, nothing is written.

Rules:
- The proposed service (a new one, or the current one with the new spec and the next
  spec version) replaces the stored one in a copy of the snapshot. Its update config is
  taken with parallelism 0 and no delay, so the plan shows every task the whole rolling
  update replaces (the real one is paced: the notes say how). A rollback (the service as
  ``rollback.rolled_back`` leaves it) is simulated the same way; its pacing note is the
  rollback config's.
- Rounds of ``reconcile_services`` on the copy: each round's desired-state changes are
  *stops* (the task is then taken as stopped, so a stop-first slot is refilled in the
  next round) and its new tasks *starts*; at most a few rounds, until a round changes
  nothing. A stop and a start of the same slot (replicated) or node (global) make a
  *replace*.
- The new tasks are then placed by a ``SchedulerCore`` fed with the copy: each gets its
  node, or stays *pending* with the scheduler's reason (resources, constraints, a
  dependency not met).
- Pure: the caller passes the snapshot, a clock value and a seeded random source.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, replace

from actors.orchestrator.reconcile import reconcile_services
from actors.orchestrator.restart import RestartHistory
from actors.orchestrator.rollback import rollback_config
from actors.orchestrator.state import CreateTask, Effect, SetDesiredState, Snapshot
from actors.scheduler.scheduler import SchedulerCore
from api.enums import UpdateState
from api.objects import Meta, Service, Task, TaskStatus
from api.task_state import TaskState

__all__ = ["PlanStep", "ServicePlan", "plan_service"]

_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class PlanStep:
    action: str  # start | stop | replace | pending
    slot: str  # "3" (replicated) or a node id (global)
    task_id: str  # the task stopped or replaced ("" for a start)
    node: str  # where the new task goes (start, replace) or the stopped one ran (stop)
    why: str


@dataclass(frozen=True, slots=True)
class ServicePlan:
    steps: tuple[PlanStep, ...]
    notes: tuple[str, ...]


def _slot(task: Task) -> str:
    return str(task.slot) if task.slot else task.node_id


def plan_service(snapshot: Snapshot, proposed: Service, now: float, seed: int = 0) -> ServicePlan:
    """The steps ``proposed`` (stored as is, or new) would take from ``snapshot``."""
    uc = replace(proposed.spec.update_config, parallelism=0, delay=0.0)
    # no update status: a rollback is simulated as an update, all at once too
    service = replace(proposed, spec=replace(proposed.spec, update_config=uc), update_status=None)
    services = {**snapshot.services, service.id: service}
    tasks = {t.id: t for ts in snapshot.tasks.values() for t in ts}
    rng = random.Random(seed)
    history = RestartHistory()
    stops: dict[str, str] = {}  # task id -> why
    starts: list[Task] = []
    for _ in range(_ROUNDS):
        view = Snapshot.build(services.values(), tasks.values(), snapshot.nodes.values())
        effects = reconcile_services(view, [service.id], now, rng, history).effects
        if not _apply(effects, tasks, stops, starts, now):
            break
    steps, notes = _place(snapshot, services, tasks, stops, starts, now, rng)
    notes.extend(_pacing(proposed, stops, starts))
    return ServicePlan(tuple(steps), tuple(notes))


def _apply(
    effects: Iterable[Effect],
    tasks: dict[str, Task],
    stops: dict[str, str],
    starts: list[Task],
    now: float,
) -> bool:
    changed = False
    for e in effects:
        if isinstance(e, SetDesiredState):
            t = tasks.get(e.task_id)
            if t is None or t.desired_state >= e.state:
                continue
            stopped = TaskStatus(timestamp=now, state=TaskState.SHUTDOWN, message="stopped")
            done = t.status if t.status.state.is_terminal else stopped
            tasks[t.id] = replace(t, desired_state=e.state, status=done)
            if not t.status.state.is_terminal and t.id not in stops:
                stops[t.id] = e.reason
            changed = True
        elif isinstance(e, CreateTask):
            task = replace(e.task, meta=Meta(len(tasks) + 1, now, now))
            tasks[task.id] = task
            starts.append(task)
            changed = True
    return changed


def _place(
    snapshot: Snapshot,
    services: dict[str, Service],
    tasks: dict[str, Task],
    stops: dict[str, str],
    starts: list[Task],
    now: float,
    rng: random.Random,
) -> tuple[list[PlanStep], list[str]]:
    core = SchedulerCore(clock=lambda: now, rng=rng)
    core.reset(snapshot.nodes.values(), tasks.values(), services.values())
    decisions = core.schedule()
    placed = {a.task.id: a.node_id for a in decisions.assignments}
    pending = {u.task.id: u.message for u in decisions.unschedulable}
    hostnames = {n.id: n.hostname or n.id for n in snapshot.nodes.values()}
    original = {t.id: t for ts in snapshot.tasks.values() for t in ts}
    stopped_by_slot = {_slot(original[i]): i for i in stops if i in original}
    steps: list[PlanStep] = []
    for t in starts:
        if t.id not in tasks or tasks[t.id].desired_state > TaskState.COMPLETE:
            continue
        node_id = placed.get(t.id) or t.node_id
        old_id = stopped_by_slot.pop(_slot(t), "")
        if t.id in pending or not node_id:
            why = pending.get(t.id, "not placed")
            steps.append(PlanStep("pending", _slot(t), old_id, "", why))
            continue
        if old_id:
            why = f"replaces {old_id[:12]} ({stops[old_id]})"
            steps.append(
                PlanStep("replace", _slot(t), old_id, hostnames.get(node_id, node_id), why)
            )
        else:
            steps.append(
                PlanStep("start", _slot(t), "", hostnames.get(node_id, node_id), "new task")
            )
    for slot, old_id in sorted(stopped_by_slot.items()):
        node = hostnames.get(original[old_id].node_id, original[old_id].node_id)
        steps.append(PlanStep("stop", slot, old_id, node, stops[old_id]))
    notes: list[str] = []
    if not steps:
        notes.append("nothing to do: the service's tasks already match")
    return steps, notes


def _pacing(service: Service, stops: dict[str, str], starts: list[Task]) -> list[str]:
    status = service.update_status
    rolling_back = status is not None and status.state == UpdateState.ROLLBACK_STARTED
    uc = rollback_config(service) if rolling_back else service.spec.update_config
    replaced = sum(1 for why in stops.values() if why == "updated")
    if not replaced:
        return []
    at_once = "all at once" if uc.parallelism <= 0 else f"{uc.parallelism} at a time"
    return [
        f"the {'rollback' if rolling_back else 'update'} replaces {replaced} task(s) "
        f"{at_once}, {uc.order.value}, "
        f"{uc.delay:g}s apart, failure action {uc.failure_action.value}"
    ]
