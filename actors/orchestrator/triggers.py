"""Which committed changes give the orchestrator's actors work (a pass over a service, or
over everything): pure predicates over an object and its previous version.

The orchestrator also skips the progress of a settled service's task (settled.py); the
reaper and the constraint enforcer use only these.
"""

from __future__ import annotations

from api.enums import NodeState
from api.objects import Cluster, Node, Task
from api.task_state import TaskState

__all__ = [
    "node_matters",
    "node_matters_to_enforcer",
    "node_or_cluster_matters",
    "task_matters",
    "task_matters_to_reaper",
]


def task_matters(task: Task, old: object) -> bool:
    """Whether a task's change can change a plan: a new task, a new node or desired
    state, or an observed state reaching RUNNING or an end. The steps below RUNNING
    (ASSIGNED ... STARTING) cannot: nothing waits for them, so they make no pass over
    the service (each would re-read all of its tasks: 100,000 tasks make about four
    such reports each)."""
    if not isinstance(old, Task):
        return True
    return (
        task.desired_state != old.desired_state
        or task.node_id != old.node_id
        or (task.status.state != old.status.state and task.status.state >= TaskState.RUNNING)
    )


def task_matters_to_reaper(task: Task, old: object) -> bool:
    """Whether a task's change can change what the reaper deletes: a new desired state,
    an observed state reaching an end (history is made of finished tasks), or a new node
    of a task past desired RUNNING (whether it is finished reads its node). RUNNING is
    not one: nothing running is reaped. Nor is a new task: a replacement comes with its
    predecessor's new desired state (the same plan), which is one; a task of a new slot
    has no history to trim (100,000 new tasks made 100,000 passes' worth). Nor is the
    placement of a runnable task: it is neither history nor removed, wherever it runs
    (each of 100,000 placements made a pass over its service's tasks)."""
    if not isinstance(old, Task):
        return False
    return (
        task.desired_state != old.desired_state
        or (task.node_id != old.node_id and task.desired_state > TaskState.RUNNING)
        or (task.status.state != old.status.state and task.status.state.is_terminal)
    )


def node_matters(node: Node, old: object) -> bool:
    if not isinstance(old, Node):
        return True
    return (
        node.status.state != old.status.state
        or node.spec != old.spec
        or node.role != old.role
        or node.description != old.description
        or node.status.addr != old.status.addr
    )


def node_matters_to_enforcer(node: Node, old: object) -> bool:
    """What a node's constraints are checked against, or its going DOWN or back (a DOWN
    node is not the enforcer's business). UNKNOWN -> READY is not: after a leader change
    1,000 nodes make that step, and each step was a pass over every task."""
    if not isinstance(old, Node):
        return True
    return (
        _down_changed(node, old)
        or node.spec != old.spec
        or node.role != old.role
        or node.description != old.description
    )


def node_or_cluster_matters(obj: Node | Cluster, old: object) -> bool:
    """For the reaper: a node's going DOWN or back (what ``is_finished`` reads)."""
    if isinstance(obj, Cluster):
        return not isinstance(old, Cluster) or (obj.spec.orchestration != old.spec.orchestration)
    return not isinstance(old, Node) or _down_changed(obj, old)


def _down_changed(node: Node, old: Node) -> bool:
    return (node.status.state == NodeState.DOWN) != (old.status.state == NodeState.DOWN)
