"""Replicated services: one task per slot 1..N.

Rules (SwarmKit's ``manager/orchestrator/replicated``):
- A slot exists while it holds a task whose desired state is below REMOVE. Every
  existing slot counts as a replica: live ones, ones waiting for a replacement and ones
  whose restart policy declined (``restart.judge_slot``).
- Scale up: new slots take the lowest free numbers; their tasks are created PENDING
  without a node (the scheduler places them), desired RUNNING.
- Scale down: slots without a runnable task go first (highest number first); then the
  live ones SwarmKit would drop: tasks not yet on a node, then those that are the
  k-th copy on their node for the largest k (nodes holding the most tasks of the service
  lose one first), not-running before running, highest slot first. Every task of a
  removed slot gets desired state REMOVE; the reaper deletes them once they stopped.
- Dead tasks are shut down and their slots refilled per ``restart``; stale tasks are
  replaced per ``update``; once none are stale, tasks move per ``rebalance``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from actors.orchestrator.rebalance import plan_rebalance, start_first_moves
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
from actors.orchestrator.state import Plan, SetDesiredState
from actors.orchestrator.update import plan_update
from api.ids import RandomBits
from api.objects import Node, Service, Task
from api.specs import ReplicatedService
from api.task_state import TaskState

__all__ = ["reconcile_replicated", "reconcile_slots", "removal_order"]


def removal_order(live: Mapping[int, list[Task]]) -> list[int]:
    """Live slots in the order scale-down removes them (first = removed first)."""

    def running(slot: int) -> bool:
        return any(t.status.state == TaskState.RUNNING for t in live[slot])

    def node_of(slot: int) -> str:
        runnable = [t for t in live[slot] if t.desired_state <= TaskState.RUNNING]
        return runnable[0].node_id if runnable else ""

    order = sorted(live, key=lambda s: (not running(s), s))
    per_node: Counter[str] = Counter()
    index: dict[int, int] = {}
    for slot in order:
        node = node_of(slot)
        if node:
            per_node[node] += 1
            index[slot] = per_node[node]
    keep_first = sorted(order, key=lambda s: (s not in index, index.get(s, 0), not running(s), s))
    return list(reversed(keep_first))


def reconcile_replicated(
    service: Service,
    tasks: Sequence[Task],
    nodes: Mapping[str, Node],
    now: float,
    rng: RandomBits,
    history: RestartHistory,
) -> Plan:
    """The writes that bring ``service`` (replicated mode) to its desired state."""
    assert isinstance(service.spec.mode, ReplicatedService)
    replicas = max(0, service.spec.mode.replicas)
    plan = Plan()
    active = [t for t in tasks if t.desired_state < TaskState.REMOVE]
    active = shut_down_dead(active, nodes, plan, "task died or its node left")

    slots: dict[SlotKey, list[Task]] = {}
    for t in active:
        slots.setdefault(t.slot, []).append(t)
    verdicts: dict[SlotKey, SlotVerdict] = {
        k: judge_slot(service, k, ts, nodes, now, history) for k, ts in slots.items()
    }

    # scale down first, so that no removed slot is updated or refilled
    excess = len(verdicts) - replicas
    if excess > 0:
        idle = sorted(
            (k for k, v in verdicts.items() if v.state != SlotState.LIVE),
            key=lambda k: -int(k),
        )
        live = {int(k): slots[k] for k, v in verdicts.items() if v.state == SlotState.LIVE}
        for k in [*idle, *removal_order(live)][:excess]:
            for t in slots.pop(k):
                plan.add(SetDesiredState(t.id, t.service_id, TaskState.REMOVE, "scaled down"))
            del verdicts[k]

    def make(k: SlotKey) -> Task:
        return replacement(service, slot=int(k), node_id="", now=now, rng=rng, restart=False)

    moves = start_first_moves(slots)  # rebalance's, left to rebalance
    outcome = plan_update(
        service,
        {k: ts for k, ts in slots.items() if k not in moves},
        {k: v for k, v in verdicts.items() if k not in moves},
        nodes,
        now,
        plan,
        make=make,
        updatable=lambda _k: True,
    )
    verdicts.update(outcome.emptied)
    stale = any(
        t.spec != service.spec.task
        for ts in slots.values()
        for t in ts
        if t.desired_state <= TaskState.RUNNING
    )
    if not stale and not outcome.emptied:
        moved = plan_rebalance(service, slots, verdicts, moves, nodes, now, plan, make=make)
        verdicts.update(moved)

    for k, v in sorted(verdicts.items(), key=lambda kv: int(kv[0])):
        if v.state == SlotState.REFILL:
            refill(service, int(k), "", v.restart, now, rng, history, plan)

    free = (n for n in range(1, replicas + len(verdicts) + 1) if n not in verdicts)
    for _ in range(replicas - len(verdicts)):
        refill(service, next(free), "", False, now, rng, history, plan)

    promote_delayed((t for ts in slots.values() for t in ts), now, plan)
    return plan


def reconcile_slots(
    service: Service,
    slots: Mapping[int, Sequence[Task]],
    nodes: Mapping[str, Node],
    now: float,
    rng: RandomBits,
    history: RestartHistory,
) -> Plan:
    """What ``reconcile_replicated`` writes for these slots (each with every task the
    store holds in it) when ``service`` is settled (settled.py): with every other slot
    live and current, no scaling, update or rebalance can be due, so each slot is judged
    on its own: its dead tasks shut down, and it is refilled per its restart policy (a
    slot left without a task gets a new one, as a free slot would)."""
    assert isinstance(service.spec.mode, ReplicatedService)
    replicas = max(0, service.spec.mode.replicas)
    plan = Plan()
    for slot in sorted(slots):
        if not 1 <= slot <= replicas:
            continue  # a removed slot's tasks are the reaper's
        active = [t for t in slots[slot] if t.desired_state < TaskState.REMOVE]
        active = shut_down_dead(active, nodes, plan, "task died or its node left")
        if not active:
            refill(service, slot, "", False, now, rng, history, plan)
            continue
        verdict = judge_slot(service, slot, active, nodes, now, history)
        if verdict.state == SlotState.REFILL:
            refill(service, slot, "", verdict.restart, now, rng, history, plan)
        promote_delayed(active, now, plan)
    return plan
