"""The task reaper: deletes tasks nobody needs any more, and removed services.

Rules (SwarmKit's ``manager/orchestrator/taskreaper``):
- ``service rm`` sets ``Service.pending_delete``; the orchestrator then gives every task
  of the service desired state REMOVE (``mark_removed``). Tasks of a service that no
  longer exists get the same.
- A task with desired state REMOVE is deleted once it is *finished*: its observed state
  is terminal, it never reached a node (below ASSIGNED), or its node was removed or is
  DOWN (nothing will report on it). This also deletes the slots removed by scale-down.
- A service with ``pending_delete`` is deleted once none of its tasks remain.
- History: per slot (replicated: service and slot; global: service and node), tasks with
  desired state past RUNNING that are finished are *history*. A slot holds at most
  ``task_history_retention_limit`` tasks, its runnable and still-stopping ones included
  (as SwarmKit counts them: ``docker service ps`` shows 5 per slot by default, the
  running one among them); the oldest history goes first, the others are never deleted
  (a negative limit keeps all) — except that a slot with no runnable task keeps its
  newest task, the record of why it is empty (a finished or restart-delayed slot).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from actors.orchestrator.state import (
    DeleteService,
    DeleteTask,
    Plan,
    SetDesiredState,
    Snapshot,
)
from api.enums import NodeState
from api.objects import Node, Service, Task
from api.task_state import TaskState

__all__ = ["is_finished", "mark_removed", "reap"]


def is_finished(task: Task, nodes: Mapping[str, Node]) -> bool:
    """Nothing more will happen to ``task`` on a node."""
    if task.status.state.is_terminal or task.status.state < TaskState.ASSIGNED:
        return True
    node = nodes.get(task.node_id) if task.node_id else None
    return node is None or node.status.state == NodeState.DOWN


def mark_removed(tasks: Iterable[Task], plan: Plan, reason: str) -> None:
    """Desired REMOVE for every task not there yet."""
    for t in tasks:
        if t.desired_state < TaskState.REMOVE:
            plan.add(SetDesiredState(t.id, t.service_id, TaskState.REMOVE, reason))


def _by_age(tasks: Iterable[Task]) -> list[Task]:
    return sorted(tasks, key=lambda t: (t.meta.created_at, t.meta.version, t.id))


def _slot_of(task: Task) -> tuple[int, str]:
    return (task.slot, task.node_id if task.slot == 0 else "")


def _reap_history(tasks: Sequence[Task], nodes: Mapping[str, Node], limit: int, plan: Plan) -> None:
    # only a slot holding a task past RUNNING can have history: a new leader's first pass
    # over 100,000 running tasks grouped every one of them into a slot of its own first
    past = {_slot_of(t) for t in tasks if TaskState.RUNNING < t.desired_state < TaskState.REMOVE}
    if not past:
        return
    slots: dict[tuple[int, str], list[Task]] = {}
    for t in tasks:
        if t.desired_state >= TaskState.REMOVE:
            continue
        key = _slot_of(t)
        if key in past:
            slots.setdefault(key, []).append(t)
    for slot_tasks in slots.values():
        history = _by_age(
            t for t in slot_tasks if t.desired_state > TaskState.RUNNING and is_finished(t, nodes)
        )
        keep = max(0, limit - (len(slot_tasks) - len(history)))
        if not any(t.desired_state <= TaskState.RUNNING for t in slot_tasks):
            keep = max(keep, 1)
        for t in history[: max(0, len(history) - keep)]:
            plan.add(DeleteTask(t))


def reap(snapshot: Snapshot, service_ids: Iterable[str]) -> Plan:
    """The deletions (and REMOVE marks for orphaned tasks) for the given service ids
    (tasks are found by their ``service_id``, so ids of deleted services work too)."""
    plan = Plan()
    nodes = snapshot.nodes
    for sid in sorted(set(service_ids)):
        service: Service | None = snapshot.services.get(sid)
        tasks = snapshot.tasks_of(sid)
        removing = service is None or service.pending_delete
        remaining = 0
        for t in tasks:
            if (removing or t.desired_state >= TaskState.REMOVE) and is_finished(t, nodes):
                plan.add(DeleteTask(t))
                continue
            if service is None and t.desired_state < TaskState.REMOVE:
                plan.add(SetDesiredState(t.id, sid, TaskState.REMOVE, "service deleted"))
            remaining += 1
        if service is not None and service.pending_delete:
            if remaining == 0:
                plan.add(DeleteService(service))
            continue
        if service is not None and snapshot.retention >= 0:
            _reap_history(tasks, nodes, snapshot.retention, plan)
    return plan
