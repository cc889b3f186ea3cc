"""Cluster events from the store's committed changes (pure).

One store change (actors/store/watch.py ``Event``: kind, action, the object after and
before, the Raft index, the entry's time) becomes one `ClusterEvent`:

- ``type`` is the object's kind, ``action`` create | update | remove (a store delete);
- ``attributes`` follow ``docker events``: ``name`` and, for an update, ``X.old`` /
  ``X.new`` of what changed (nodes: role, state, availability, leader, reachability;
  services: replicas, image, updatestate; tasks: state, desired_state, node);
- ``changes`` names the change in the words a discovery watcher reacts to. Nodes: join,
  remove, promote, demote, the new status (ready, down, unknown, disconnected), the new
  availability (active, pause, drain), leader (it became the Raft leader), follower (it
  stopped being the leader). Services: removing (``service rm`` ran). Clusters: the
  fields that changed, by name only.

Nothing secret leaves here: the cluster's keys, tokens and certificates are never an
attribute (only the name of a field that changed), nor is any secret's or config's data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from actors.store.entry import Action
from actors.store.watch import Event
from api.objects import Cluster, Node, Service, Task
from api.specs import ReplicatedService

__all__ = ["ACTIONS", "ClusterEvent", "describe"]

ACTIONS: Mapping[Action, str] = {
    Action.CREATE: "create",
    Action.UPDATE: "update",
    Action.DELETE: "remove",
}


def _no_attributes() -> Mapping[str, str]:
    return {}


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    position: int  # the Raft index of the change
    time: float  # the change's commit time (the proposing manager's clock)
    type: str  # node | service | task | cluster | secret | config
    action: str  # create | update | remove
    id: str
    name: str = ""
    changes: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=_no_attributes)
    # what filters match on besides type, action, id and name
    service_id: str = ""
    service_name: str = ""
    node_id: str = ""  # a node's own id; a task's node

    def to_wire(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "time": self.time,
            "type": self.type,
            "action": self.action,
            "id": self.id,
            "name": self.name,
            "changes": list(self.changes),
            "attributes": dict(self.attributes),
        }


def describe(event: Event) -> ClusterEvent:
    """The cluster event of one store change."""
    obj, old = event.object, event.old
    action = ACTIONS[event.action]
    base = ClusterEvent(event.version, event.time, event.kind.value, action, obj.id)
    if isinstance(obj, Node):
        return _node(base, obj, old if isinstance(old, Node) else None)
    if isinstance(obj, Service):
        return _service(base, obj, old if isinstance(old, Service) else None)
    if isinstance(obj, Task):
        return _task(base, obj, old if isinstance(old, Task) else None)
    if isinstance(obj, Cluster):
        return _cluster(base, obj, old if isinstance(old, Cluster) else None)
    name = getattr(getattr(obj, "spec", None), "name", "")
    return _with(base, str(name), {"name": str(name)})


def _with(
    base: ClusterEvent,
    name: str,
    attributes: dict[str, str],
    changes: tuple[str, ...] = (),
    **extra: str,
) -> ClusterEvent:
    return ClusterEvent(
        base.position,
        base.time,
        base.type,
        base.action,
        base.id,
        name,
        changes,
        attributes,
        **extra,
    )


def _diff(attributes: dict[str, str], key: str, old: object, new: object) -> bool:
    if old == new:
        return False
    attributes[f"{key}.old"] = _word(old)
    attributes[f"{key}.new"] = _word(new)
    return True


def _word(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(getattr(value, "value", value))


# --- nodes -------------------------------------------------------------------------------


def _leader(node: Node) -> bool:
    return node.manager_status is not None and node.manager_status.leader


def _node(base: ClusterEvent, node: Node, old: Node | None) -> ClusterEvent:
    name = node.hostname or (old.hostname if old is not None else "")
    attributes = {"name": name}
    if base.action == "create" or old is None:
        attributes.update(
            role=node.role.value,
            state=node.status.state.value,
            availability=node.spec.availability.value,
        )
        first = ("join",) if base.action == "create" else ("remove",)
        return _with(base, name, attributes, first, node_id=node.id)
    if base.action == "remove":
        attributes["role"] = node.role.value
        return _with(base, name, attributes, ("remove",), node_id=node.id)
    changes: list[str] = []
    if _diff(attributes, "role", old.role, node.role):
        changes.append("promote" if node.role.value == "manager" else "demote")
    _diff(attributes, "desired_role", old.spec.desired_role, node.spec.desired_role)
    if _diff(attributes, "state", old.status.state, node.status.state):
        changes.append(node.status.state.value)
    if _diff(attributes, "availability", old.spec.availability, node.spec.availability):
        changes.append(node.spec.availability.value)
    if _diff(attributes, "leader", _leader(old), _leader(node)):
        changes.append("leader" if _leader(node) else "follower")
    if old.manager_status is not None and node.manager_status is not None:
        _diff(
            attributes,
            "reachability",
            old.manager_status.reachability,
            node.manager_status.reachability,
        )
    return _with(base, name, attributes, tuple(changes), node_id=node.id)


# --- services ----------------------------------------------------------------------------


def _replicas(service: Service) -> str:
    mode = service.spec.mode
    return str(mode.replicas) if isinstance(mode, ReplicatedService) else ""


def _update_state(service: Service) -> str:
    status = service.update_status
    return status.state.value if status is not None else ""


def _service(base: ClusterEvent, service: Service, old: Service | None) -> ClusterEvent:
    name = service.spec.name
    attributes = {"name": name}
    changes: tuple[str, ...] = ()
    if base.action == "update" and old is not None:
        _diff(attributes, "replicas", _replicas(old), _replicas(service))
        _diff(attributes, "image", old.spec.task.container.image, service.spec.task.container.image)
        _diff(attributes, "updatestate", _update_state(old), _update_state(service))
        if service.pending_delete and not old.pending_delete:
            changes = ("removing",)
    return _with(
        base, name, attributes, changes, service_id=service.id, service_name=service.spec.name
    )


# --- tasks -------------------------------------------------------------------------------


def _task_name(task: Task) -> str:
    return f"{task.service_name}.{task.slot if task.slot else task.node_id}"


def _task(base: ClusterEvent, task: Task, old: Task | None) -> ClusterEvent:
    name = _task_name(task)
    attributes = {"name": name, "service": task.service_name}
    if task.node_id:
        attributes["node"] = task.node_id
    if base.action == "create" or old is None:
        attributes["state"] = task.status.state.label
    elif base.action == "update":
        _diff(attributes, "state", old.status.state.label, task.status.state.label)
        _diff(attributes, "desired_state", old.desired_state.label, task.desired_state.label)
        _diff(attributes, "node", old.node_id, task.node_id)
        if task.status.err and task.status.err != old.status.err:
            attributes["error"] = task.status.err[:200]
    return _with(
        base,
        name,
        attributes,
        service_id=task.service_id,
        service_name=task.service_name,
        node_id=task.node_id,
    )


# --- clusters ----------------------------------------------------------------------------


def _cluster(base: ClusterEvent, cluster: Cluster, old: Cluster | None) -> ClusterEvent:
    name = cluster.spec.name
    changed: tuple[str, ...] = ()
    if base.action == "update" and old is not None:
        # names only: the values hold keys, tokens and certificates
        changed = tuple(
            f.name
            for f in fields(Cluster)
            if f.name not in ("id", "meta") and getattr(old, f.name) != getattr(cluster, f.name)
        )
    return _with(base, name, {"name": name}, changed)
