"""What the orchestrator's pure cores read and what they return.

- ``Snapshot``: the objects one reconcile pass looks at, copied out of a store view (or
  built directly by tests). Cores never touch the store.
- Effects: the writes a pass wants. Each is an *intent* the shell re-checks inside its own
  sub-transaction (``SetDesiredState`` only ever raises a desired state: desired states
  move forward like observed ones), so a write racing with a worker's status report
  does not clobber it.
- ``Plan``: effects plus the earliest time the pass wants to run again (restart delays,
  update delays), so the shell can arm a timer instead of polling.
- Helpers every core shares: what makes a task *dead* (it will never run again where it
  is), *alive* (it may still be running on its node) and a node *usable*.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from api.enums import NodeAvailability, NodeState
from api.ids import RandomBits, new_id
from api.objects import (
    JobStatus,
    Node,
    RebalanceStatus,
    Service,
    Task,
    TaskStatus,
    UpdateStatus,
)
from api.task_state import TaskState

__all__ = [
    "CREATED_MESSAGE",
    "RESTART_DELAYED_MESSAGE",
    "CreateTask",
    "DeleteService",
    "DeleteTask",
    "Effect",
    "Plan",
    "SetDesiredState",
    "SetServiceSpec",
    "SetServiceStatus",
    "SetUpdateStatus",
    "Snapshot",
    "is_alive",
    "is_dead",
    "new_task",
    "newest",
]

CREATED_MESSAGE = "created"
RESTART_DELAYED_MESSAGE = "restart delayed"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Services (by id), their tasks (by service id, every task the store holds for
    it), every node (by id) and the cluster's task history retention limit."""

    services: Mapping[str, Service] = field(default_factory=dict)
    tasks: Mapping[str, tuple[Task, ...]] = field(default_factory=dict)
    nodes: Mapping[str, Node] = field(default_factory=dict)
    retention: int = 5

    @staticmethod
    def build(
        services: Iterable[Service] = (),
        tasks: Iterable[Task] = (),
        nodes: Iterable[Node] = (),
        retention: int = 5,
    ) -> Snapshot:
        by_service: dict[str, list[Task]] = {}
        for t in tasks:
            by_service.setdefault(t.service_id, []).append(t)
        return Snapshot(
            services={s.id: s for s in services},
            tasks={k: tuple(v) for k, v in by_service.items()},
            nodes={n.id: n for n in nodes},
            retention=retention,
        )

    def tasks_of(self, service_id: str) -> tuple[Task, ...]:
        return self.tasks.get(service_id, ())


# --- effects ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateTask:
    task: Task


@dataclass(frozen=True, slots=True)
class SetDesiredState:
    """Raise ``task_id``'s desired state to ``state`` (no-op if it is already there)."""

    task_id: str
    service_id: str
    state: TaskState
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DeleteTask:
    task: Task  # as read: deleted only if still at that version


@dataclass(frozen=True, slots=True)
class SetUpdateStatus:
    """Set the service's ``update_status`` if its ``spec_version`` is still the one the
    plan was made from."""

    service_id: str
    spec_version: int
    status: UpdateStatus


@dataclass(frozen=True, slots=True)
class SetServiceSpec:
    """Rollback: the service (still at ``spec_version``) gets ``service``'s spec,
    previous spec, spec version and update status."""

    service_id: str
    spec_version: int
    service: Service


@dataclass(frozen=True, slots=True)
class DeleteService:
    service: Service  # as read


@dataclass(frozen=True, slots=True)
class SetServiceStatus:
    """Set the service's ``job_status`` and/or ``rebalance_status`` (those not None) if
    its ``spec_version`` is still the one the plan was made from."""

    service_id: str
    spec_version: int
    job_status: JobStatus | None = None
    rebalance_status: RebalanceStatus | None = None


Effect = (
    CreateTask
    | SetDesiredState
    | DeleteTask
    | SetUpdateStatus
    | SetServiceSpec
    | DeleteService
    | SetServiceStatus
)


@dataclass(slots=True)
class Plan:
    effects: list[Effect] = field(default_factory=list)
    wake_at: float | None = None  # run again at this time even without events

    def add(self, effect: Effect) -> None:
        self.effects.append(effect)

    def wake(self, at: float) -> None:
        if self.wake_at is None or at < self.wake_at:
            self.wake_at = at

    def extend(self, other: Plan) -> None:
        self.effects.extend(other.effects)
        if other.wake_at is not None:
            self.wake(other.wake_at)


# --- shared rules -------------------------------------------------------------------------


def node_usable(node: Node | None) -> bool:
    """A node whose tasks may keep running: it exists, is not DOWN and not drained."""
    return (
        node is not None
        and node.status.state != NodeState.DOWN
        and node.spec.availability != NodeAvailability.DRAIN
    )


def is_dead(task: Task, nodes: Mapping[str, Node]) -> bool:
    """A task that will not run (again) where it is: it reached a terminal state, or its
    node was removed, is DOWN or drained."""
    if task.status.state.is_terminal:
        return True
    if task.node_id:
        return not node_usable(nodes.get(task.node_id))
    return False


def is_alive(task: Task, nodes: Mapping[str, Node]) -> bool:
    """A task that may still be running (or about to) on a node that is up: the thing a
    stop-first replacement waits for. A task on a DOWN, drained or removed node, or one
    never handed to a node, does not hold anything up."""
    if task.status.state.is_terminal or task.status.state < TaskState.ASSIGNED:
        return False
    return bool(task.node_id) and node_usable(nodes.get(task.node_id))


def newest(tasks: Iterable[Task]) -> Task | None:
    """The most recently created task (creation time, then store version, then id)."""
    return max(tasks, key=lambda t: (t.meta.created_at, t.meta.version, t.id), default=None)


def new_task(
    service: Service,
    *,
    slot: int,
    node_id: str,
    now: float,
    rng: RandomBits,
    desired: TaskState = TaskState.RUNNING,
    message: str = CREATED_MESSAGE,
) -> Task:
    """A fresh task of ``service``: PENDING, with the service's current task spec."""
    return Task(
        id=new_id(rng),
        spec=service.spec.task,
        service_id=service.id,
        service_name=service.spec.name,
        service_labels=service.spec.labels,
        slot=slot,
        node_id=node_id,
        desired_state=desired,
        status=TaskStatus(timestamp=now, state=TaskState.PENDING, message=message),
        spec_version=service.spec_version,
    )
