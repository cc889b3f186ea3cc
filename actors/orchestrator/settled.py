"""When a task's report cannot give the orchestrator work: settled services and progress.

Rules:
- A replicated service is *settled* when it is not being removed, no update or rollback
  of it is in progress, its rebalance is manual with no round asked or open, and its
  slots 1..replicas each hold exactly one runnable task, desired RUNNING (no restart held
  back) and of the service's current task spec, and no other task is runnable. The shell
  also asks that the pass over it wrote nothing.
- A task change is *progress* when the task existed, its desired state is unchanged, its
  observed state moved forward without ending, and its node is unchanged or it was just
  placed (no node before) on a usable node.
- Progress of a settled service's task cannot change that service's plan: every slot
  stays live with its one current task (nothing to refill, scale or update), no task
  died (its node is usable, it did not end), and nothing reads how far a task got but
  updates, rebalances, held restarts and scale-downs, none of which a settled service
  has. So it makes no pass over the service: at 100,000 tasks each is placed and reports
  RUNNING once, and each such report was a pass over all of its service's tasks.
- A whole pass over a settled service whose runnable tasks all sit on usable nodes (or
  on none yet) writes nothing, by the same argument: no task died, so no slot is refilled.
  ``reconcile_services`` skips it (``is_settled(..., nodes)``): a new leader's first pass
  is over every service, and at 100,000 tasks that pass (1.4 s of CPU) held up the
  first write a user made after the failover.
- A job or a global service is never settled (jobs count running tasks; a global
  service's tasks are placed by the orchestrator itself).
- So is a stopped task's report: its desired state was past RUNNING and is unchanged,
  and its node too (``is_stopped_report``). A settled service's slots each hold a
  runnable task besides it, so its stopping refills nothing and nothing waits for it
  (the reaper, which keeps history, still looks). A drain of 100 nodes at 100,000
  tasks makes 10,000 such reports, and each was a pass over its slot.
- Any other change of a settled service's task, or of a node it runs on, concerns its
  slot only (replicated.reconcile_slots); the service stays settled while each slot
  passed over keeps exactly one runnable task, desired RUNNING and current, once the
  pass's plan is written (``still_settled``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from actors.orchestrator.state import CreateTask, Plan, SetDesiredState, node_usable
from api.enums import RebalanceMode, RebalanceState, UpdateState
from api.objects import Node, Service, Task
from api.specs import ReplicatedService
from api.task_state import TaskState

__all__ = ["is_progress", "is_settled", "is_stopped_report", "still_settled"]

_IN_PROGRESS = (UpdateState.UPDATING, UpdateState.ROLLBACK_STARTED)


def is_settled(
    service: Service, tasks: Iterable[Task], nodes: Mapping[str, Node] | None = None
) -> bool:
    """Whether ``service`` (with every task the store holds for it) is settled; with
    ``nodes``, also whether a whole pass would write nothing: every runnable task's node
    (if it has one) is usable and no stopped task not yet removed is past the replicas."""
    mode = service.spec.mode
    if not isinstance(mode, ReplicatedService) or service.pending_delete:
        return False
    update = service.update_status
    if update is not None and update.state in _IN_PROGRESS:
        return False
    spec = service.spec
    rebalance = service.rebalance_status
    if spec.rebalance != RebalanceMode.MANUAL:
        return False
    answered = rebalance.round if rebalance is not None else 0
    if spec.rebalance_requests > answered or (
        rebalance is not None and rebalance.state == RebalanceState.IN_PROGRESS
    ):
        return False
    current = spec.task
    slots: set[int] = set()
    for t in tasks:
        if t.desired_state > TaskState.RUNNING:
            # a stopped task past the replicas: a whole pass marks it removed
            stopped_stray = t.desired_state < TaskState.REMOVE and not 1 <= t.slot <= mode.replicas
            if nodes is not None and stopped_stray:
                return False
            continue
        if (
            t.desired_state != TaskState.RUNNING
            or t.slot in slots
            or t.spec != current
            or t.status.state.is_terminal
        ):
            return False
        if nodes is not None and t.node_id and not node_usable(nodes.get(t.node_id)):
            return False
        slots.add(t.slot)
    return len(slots) == mode.replicas and all(1 <= s <= mode.replicas for s in slots)


def is_progress(task: Task, old: object, usable_nodes: Collection[str]) -> bool:
    """Whether ``task``'s change from ``old`` is progress (module rules)."""
    if not isinstance(old, Task) or task.desired_state != old.desired_state:
        return False
    state = task.status.state
    if state.is_terminal or state < old.status.state:
        return False
    if task.node_id == old.node_id:
        return True
    return not old.node_id and task.node_id in usable_nodes


def is_stopped_report(task: Task, old: object) -> bool:
    """Whether ``task``'s change from ``old`` is a stopped task's report (module rules)."""
    return (
        isinstance(old, Task)
        and old.desired_state > TaskState.RUNNING
        and task.desired_state == old.desired_state
        and task.node_id == old.node_id
    )


def still_settled(service: Service, slots: Mapping[int, Sequence[Task]], plan: Plan) -> bool:
    """Whether settled ``service`` stays settled once ``plan``, a pass over ``slots``
    (each with every task in it), is written."""
    mode = service.spec.mode
    if not isinstance(mode, ReplicatedService) or plan.wake_at is not None:
        return False
    stopped = {
        e.task_id
        for e in plan.effects
        if isinstance(e, SetDesiredState) and e.state > TaskState.RUNNING
    }
    # by slot: a pass over a drain's 10,000 slots creates as many tasks, and a look
    # through every created task for each slot was a hundred million comparisons
    created: dict[int, list[Task]] = {}
    for e in plan.effects:
        if isinstance(e, CreateTask):
            created.setdefault(e.task.slot, []).append(e.task)
    for slot, slot_tasks in slots.items():
        if not 1 <= slot <= mode.replicas:
            continue
        runnable = [
            t for t in slot_tasks if t.desired_state <= TaskState.RUNNING and t.id not in stopped
        ]
        runnable.extend(created.get(slot, ()))
        if len(runnable) != 1:
            return False
        (task,) = runnable
        if task.desired_state != TaskState.RUNNING or task.spec != service.spec.task:
            return False
    return True
