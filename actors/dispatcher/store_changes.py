"""What the store's committed changes mean for the dispatcher, read from the events its
watch drained (watch_intake.py carries them out).

Rules:
- A task change goes to the session of the task's node; a task that moved off a node is
  also a delete for the node it left; a task on no node (a service's new tasks, before
  the scheduler assigns them) concerns no session.
- A node deleted ends its session; a node whose committed role differs from the one held
  is told its role (notices.py), and heartbeats answer with it at once (front.py).
- A service whose removal was committed (``pending_delete``) has its tasks told REMOVE;
  one deleted is forgotten; one whose registry credentials changed has them resent to
  the sessions holding its tasks.
- The default cluster's heartbeat period, when it differs from the one in use, is used
  from the next heartbeat on.
- The core's changes (``StoreChanges.core``) are carried out in commit order, before the
  tasks' changes of the same drain: a service's removal is known before its tasks' next
  frames are built.
Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from actors.dispatcher.core import TaskChange
from actors.dispatcher.ingress import IngressTracker
from actors.store.clusters import DEFAULT_NAME
from actors.store.entry import Action
from actors.store.watch import Event
from api.objects import Cluster, Node, Service, Task

__all__ = [
    "CoreChange",
    "NodeRemoved",
    "PeriodChanged",
    "ServiceDeleted",
    "ServiceRemoving",
    "StoreChanges",
    "chunks",
    "period_of",
    "read_changes",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NodeRemoved:
    """The node was deleted from the store: its session ends."""

    node_id: str


@dataclass(frozen=True, slots=True)
class ServiceRemoving:
    """The service's removal was committed: its tasks are told REMOVE."""

    service_id: str


@dataclass(frozen=True, slots=True)
class ServiceDeleted:
    """The service is gone from the store."""

    service_id: str


@dataclass(frozen=True, slots=True)
class PeriodChanged:
    """The cluster's heartbeat period changed to ``period``."""

    period: float


CoreChange = NodeRemoved | ServiceRemoving | ServiceDeleted | PeriodChanged


@dataclass(slots=True)
class StoreChanges:
    tasks: list[TaskChange] = field(default_factory=list)
    core: list[CoreChange] = field(default_factory=list)  # in commit order
    roles_changed: set[str] = field(default_factory=set)  # nodes to tell their role
    auth_changed: set[str] = field(default_factory=set)  # services to resend credentials of


def read_changes(
    events: Iterable[Event],
    roles: dict[str, str],
    period: float,
    ingress: IngressTracker,
) -> StoreChanges:
    """What ``events`` (in commit order) mean, with the heartbeat ``period`` in use.
    ``roles`` (node id -> role as committed) is brought up to date in place, one item at
    a time (the front's, which heartbeats read from other threads); ``ingress`` is shown
    every object changed."""
    out = StoreChanges()
    tasks = out.tasks
    for event in events:
        obj = event.object
        ingress.observe(obj)
        if isinstance(obj, Task):
            old = event.old
            if isinstance(old, Task) and old.node_id and old.node_id != obj.node_id:
                tasks.append(TaskChange(old, event.version, deleted=True))
            if obj.node_id:
                tasks.append(TaskChange(obj, event.version, event.action is Action.DELETE))
        elif isinstance(obj, Node):
            if event.action is Action.DELETE:
                roles.pop(obj.id, None)
                out.core.append(NodeRemoved(obj.id))
            else:
                role = obj.role.value
                if roles.get(obj.id) != role:
                    roles[obj.id] = role
                    out.roles_changed.add(obj.id)
        elif isinstance(obj, Service):
            if event.action is Action.DELETE:
                out.core.append(ServiceDeleted(obj.id))
            elif obj.pending_delete:
                out.core.append(ServiceRemoving(obj.id))
            old_auth = event.old.registry_auth if isinstance(event.old, Service) else None
            if event.action is Action.UPDATE and obj.registry_auth != old_auth:
                out.auth_changed.add(obj.id)
        elif event.action is not Action.DELETE:
            changed = period_of(obj)
            if changed is not None and changed != period:
                period = changed
                out.core.append(PeriodChanged(changed))
    return out


def period_of(obj: object) -> float | None:
    """The heartbeat period ``obj`` sets: the default cluster's, else None."""
    if isinstance(obj, Cluster) and obj.spec.name == DEFAULT_NAME:
        return obj.spec.dispatcher.heartbeat_period
    return None


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
