"""Rebalancing a replicated service (swarmnode extension): ``swarmctl service rebalance``
and ``--rebalance auto`` move tasks so that a node that joined or came back gets its
share, paced like an update.

Rules:
- A round is asked for when the spec's ``rebalance_requests`` is above the round the
  service's ``rebalance_status`` answered; with ``--rebalance auto`` one is always open.
  Nothing moves while the service is being updated or rolled back (the update moves
  tasks anyway) or while a slot of it is empty.
- *Eligible* nodes: ready, active, not drained, satisfying the service's constraints and
  below its max replicas per node. A task *counts* on its node while it is runnable and
  placed there.
- While the most loaded eligible node holds two tasks more than the least loaded one,
  one of its tasks moves: its highest slot. Tasks on other nodes stay (a paused node
  keeps its tasks; the constraint enforcer handles nodes that no longer fit). The
  scheduler's spread places the replacement on the least loaded node that can take it.
- Pace: at most ``update_config.parallelism`` moves in flight (0: no limit); a move is in
  flight until the slot's new task has been RUNNING for ``update_config.delay``.
  ``stop-first`` shuts the task down and the slot is refilled once it stopped;
  ``start-first`` creates the replacement first (labelled with the task it replaces)
  and shuts the old task down once the new one runs: the slot never has fewer than one
  running task.
- The round is COMPLETED once the service is balanced and nothing is in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from actors.orchestrator.restart import SlotKey, SlotState, SlotVerdict
from actors.orchestrator.state import CreateTask, Plan, SetDesiredState, SetServiceStatus
from actors.scheduler.constraints import match_constraint, parse_constraints
from api.enums import (
    NodeAvailability,
    NodeState,
    RebalanceMode,
    RebalanceState,
    UpdateOrder,
    UpdateState,
)
from api.objects import Node, RebalanceStatus, Service, Task
from api.task_state import TaskState
from api.validation import InvalidSpec

__all__ = ["REPLACES_LABEL", "plan_rebalance", "start_first_moves"]

REPLACES_LABEL = "swarmnode.rebalance.replaces"
_UPDATING = (UpdateState.UPDATING, UpdateState.ROLLBACK_STARTED)


@dataclass(frozen=True, slots=True)
class _Move:
    new: Task
    old: Task


def start_first_moves(slots: Mapping[SlotKey, list[Task]]) -> dict[SlotKey, _Move]:
    """Slots in the middle of a start-first move: a runnable task labelled as replacing
    another runnable task of its slot (the update planner must leave them alone)."""
    moves: dict[SlotKey, _Move] = {}
    for key, tasks in slots.items():
        runnable = {t.id: t for t in tasks if t.desired_state <= TaskState.RUNNING}
        for t in runnable.values():
            old = runnable.get(t.labels.get(REPLACES_LABEL, ""))
            if old is not None:
                moves[key] = _Move(t, old)
    return moves


def _eligible(service: Service, nodes: Mapping[str, Node]) -> dict[str, Node]:
    try:
        constraints = parse_constraints(service.spec.task.placement.constraints)
    except InvalidSpec:
        return {}
    return {
        n.id: n
        for n in nodes.values()
        if n.status.state == NodeState.READY
        and n.spec.availability == NodeAvailability.ACTIVE
        and all(match_constraint(c, n) for c in constraints)
    }


def _settled(task: Task, delay: float, now: float, plan: Plan) -> bool:
    if task.status.state != TaskState.RUNNING:
        return False
    if now >= task.status.timestamp + delay:
        return True
    plan.wake(task.status.timestamp + delay)
    return False


def plan_rebalance(
    service: Service,
    slots: Mapping[SlotKey, list[Task]],
    verdicts: Mapping[SlotKey, SlotVerdict],
    moves: Mapping[SlotKey, _Move],
    nodes: Mapping[str, Node],
    now: float,
    plan: Plan,
    *,
    make: Callable[[SlotKey], Task],
) -> dict[SlotKey, SlotVerdict]:
    """Add this pass's rebalance steps; returns the slots it emptied (stop-first), with
    their new verdicts, as ``update.plan_update`` does."""
    spec = service.spec
    status = service.rebalance_status or RebalanceStatus()
    asked = spec.rebalance == RebalanceMode.AUTO or spec.rebalance_requests > status.round
    open_round = status.state == RebalanceState.IN_PROGRESS
    emptied: dict[SlotKey, SlotVerdict] = {}
    uc = spec.update_config
    # start-first moves first: the old task goes once its replacement runs
    for move in moves.values():
        if move.new.status.state == TaskState.RUNNING:
            plan.add(SetDesiredState(move.old.id, service.id, TaskState.SHUTDOWN, "rebalanced"))
    if not (asked or open_round):
        return emptied
    update = service.update_status
    if update is not None and update.state in _UPDATING:
        return emptied
    in_flight = len(moves)
    placed: dict[str, list[tuple[int, Task]]] = {}
    for key, verdict in verdicts.items():
        if key in moves:
            continue
        if verdict.state in (SlotState.WAIT, SlotState.REFILL):
            in_flight += 1
            continue
        live = [t for t in slots.get(key, []) if t.desired_state <= TaskState.RUNNING]
        if verdict.state != SlotState.LIVE or not live:
            continue
        task = live[0]
        if not task.node_id or not _settled(task, uc.delay, now, plan):
            in_flight += 1
            continue
        placed.setdefault(task.node_id, []).append((int(key), task))
    eligible = _eligible(service, nodes)
    counts = {n: len(placed.get(n, [])) for n in eligible}
    chosen: list[Task] = []
    if counts:
        limit = spec.task.placement.max_replicas
        budget = (1 << 30) if uc.parallelism <= 0 else uc.parallelism - in_flight
        while len(chosen) < budget:
            source = max(counts, key=lambda n: (counts[n], n))
            target = min(counts, key=lambda n: (counts[n], n))
            if counts[source] - counts[target] < 2 or counts[target] >= (limit or 1 << 30):
                break
            _, task = max(placed[source], key=lambda st: st[0])
            placed[source] = [st for st in placed[source] if st[1].id != task.id]
            counts[source] -= 1
            counts[target] += 1
            chosen.append(task)
    for task in chosen:
        if uc.order == UpdateOrder.START_FIRST:
            new = make(task.slot)
            plan.add(CreateTask(replace(new, labels={**new.labels, REPLACES_LABEL: task.id})))
        else:
            plan.add(SetDesiredState(task.id, service.id, TaskState.SHUTDOWN, "rebalanced"))
            emptied[task.slot] = SlotVerdict(SlotState.WAIT)
    _status(service, status, asked, in_flight + len(chosen), len(chosen), now, plan)
    return emptied


def _status(
    service: Service,
    status: RebalanceStatus,
    asked: bool,
    busy: int,
    moved: int,
    now: float,
    plan: Plan,
) -> None:
    requests = service.spec.rebalance_requests
    going = status.state == RebalanceState.IN_PROGRESS
    if moved:
        new = RebalanceStatus(
            round=max(status.round, requests),
            state=RebalanceState.IN_PROGRESS,
            started_at=status.started_at if going else now,
            moved=(status.moved if going else 0) + moved,
            message="rebalance in progress",
        )
    elif busy:
        return  # a round goes on (or waits for the service to settle before it starts)
    elif going or status.round < requests:
        new = replace(
            status,
            round=max(status.round, requests),
            state=RebalanceState.COMPLETED,
            completed_at=now,
            moved=status.moved if going else 0,
            message=f"rebalance completed: {status.moved if going else 0} task(s) moved",
        )
    else:
        return
    plan.add(SetServiceStatus(service.id, service.spec_version, rebalance_status=new))
