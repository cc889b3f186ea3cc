"""Global services: one task per eligible node.

Rules (SwarmKit's ``manager/orchestrator/global``):
- A node is eligible when it exists, is not DOWN, is not drained and satisfies the
  service's placement constraints (re-evaluated on every pass, so label and role changes
  count). A malformed constraint makes no node eligible.
- A runnable task on a node that is no longer eligible gets desired SHUTDOWN and is not
  replaced (drain, DOWN, removed, constraints no longer met).
- An eligible *active* node without a runnable task gets one: created with ``node_id``
  set (the scheduler only checks it), slot 0, PENDING, desired RUNNING. A *paused* node
  keeps the tasks it has but gets no new ones, and a task that dies there is not
  restarted.
- Dead tasks and stale tasks are handled per ``restart`` and ``update``, keyed by node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from actors.orchestrator.restart import (
    RestartHistory,
    SlotKey,
    SlotState,
    SlotVerdict,
    judge_slot,
    promote_delayed,
    refill,
    replacement,
    shut_down_dead,
)
from actors.orchestrator.state import Plan, SetDesiredState, node_usable
from actors.orchestrator.update import plan_update
from actors.scheduler.constraints import match_constraint, parse_constraints
from api.enums import NodeAvailability
from api.ids import RandomBits
from api.objects import Node, Service, Task
from api.task_state import TaskState
from api.validation import Constraint, InvalidSpec

__all__ = ["eligible_nodes", "reconcile_global"]


def eligible_nodes(service: Service, nodes: Mapping[str, Node]) -> dict[str, Node]:
    """The nodes that should run a task of ``service`` (paused ones included)."""
    try:
        constraints: tuple[Constraint, ...] = parse_constraints(
            service.spec.task.placement.constraints
        )
    except InvalidSpec:
        return {}
    return {
        id: n
        for id, n in nodes.items()
        if node_usable(n) and all(match_constraint(c, n) for c in constraints)
    }


def reconcile_global(
    service: Service,
    tasks: Sequence[Task],
    nodes: Mapping[str, Node],
    now: float,
    rng: RandomBits,
    history: RestartHistory,
) -> Plan:
    """The writes that bring ``service`` (global mode) to its desired state."""
    plan = Plan()
    eligible = eligible_nodes(service, nodes)
    active: list[Task] = []
    for t in tasks:
        if t.desired_state >= TaskState.REMOVE:
            continue
        if t.desired_state <= TaskState.RUNNING and t.node_id not in eligible:
            plan.add(SetDesiredState(t.id, t.service_id, TaskState.SHUTDOWN, "node not eligible"))
            continue  # its slot is gone: nothing to judge
        active.append(t)
    active = shut_down_dead(active, nodes, plan, "task died")

    slots: dict[SlotKey, list[Task]] = {}
    for t in active:
        if t.node_id in eligible:
            slots.setdefault(t.node_id, []).append(t)
    verdicts: dict[SlotKey, SlotVerdict] = {
        k: judge_slot(service, k, ts, nodes, now, history) for k, ts in slots.items()
    }

    def is_active(key: SlotKey) -> bool:
        node = eligible.get(str(key))
        return node is not None and node.spec.availability == NodeAvailability.ACTIVE

    outcome = plan_update(
        service,
        slots,
        verdicts,
        nodes,
        now,
        plan,
        make=lambda k: replacement(
            service, slot=0, node_id=str(k), now=now, rng=rng, restart=False
        ),
        updatable=is_active,
    )
    verdicts.update(outcome.emptied)

    for node_id in sorted(eligible):
        if not is_active(node_id):
            continue
        verdict = verdicts.get(node_id, SlotVerdict(SlotState.REFILL))
        if verdict.state == SlotState.REFILL:
            refill(service, 0, node_id, verdict.restart, now, rng, history, plan)

    promote_delayed((t for ts in slots.values() for t in ts), now, plan)
    return plan
