"""One copy of what many tasks repeat: their spec and the ids and names they point at.

A service's tasks all carry its task spec (a tree of a dozen objects, most of a task's
memory) and its id and name, and each task names its node. The leader's tasks share
these with their service already (the orchestrator builds each from the service's
objects), but a follower decodes every task of every entry, and a restore every task of a
snapshot, into copies of their own: 100,000 tasks then hold 100,000 equal specs. Before a
task is stored, ``share_task_parts`` points it at the objects the store already holds when
they are equal: the stored version's spec, or the service's current or previous one; the
service's id, name and labels; the node's id; an empty label map (most tasks have no labels: an
empty dict each was 64 bytes of every task); and its status message is interned. Values
never change, only which copy holds them.

It writes the fields of a task nobody else holds yet (one the store has just built or
decoded, before it is stored or published): cheaper than building another copy.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable, Mapping
from types import MappingProxyType

from api.objects import Node, Object, Service, Task
from api.specs import TaskSpec

__all__ = [
    "NO_LABELS",
    "RestoredTasks",
    "SharedStrings",
    "SpecSharing",
    "share_patched_parts",
    "share_task_parts",
    "share_written_parts",
]

_set = object.__setattr__
_INTERNED_MESSAGE = 40  # longer status messages name their task's own circumstances
NO_LABELS: Mapping[str, str] = MappingProxyType({})  # read-only: shared by many tasks


def share_task_parts(
    task: Task,
    current: Object | None,
    services: Mapping[str, Object],
    nodes: Mapping[str, Object],
) -> None:
    """Point the fresh ``task`` at equal objects the store holds (see the module doc)."""
    spec = task.spec
    service = services.get(task.service_id)
    if isinstance(current, Task) and current.spec is not spec and current.spec == spec:
        _set(task, "spec", current.spec)
    elif isinstance(service, Service):
        _share_service_spec(task, service)
    if isinstance(service, Service):
        if task.service_id is not service.id:
            _set(task, "service_id", service.id)
        name = service.spec.name
        if task.service_name is not name and task.service_name == name:
            _set(task, "service_name", name)
        labels = service.spec.labels
        if task.service_labels is not labels and labels and task.service_labels == labels:
            _set(task, "service_labels", labels)
    _share_node_id(task, nodes)
    if not task.labels and task.labels is not NO_LABELS:
        _set(task, "labels", NO_LABELS)
    if not task.service_labels and task.service_labels is not NO_LABELS:
        _set(task, "service_labels", NO_LABELS)
    _intern_message(task)


# the fields whose values share_task_parts points at the service's, or at one empty map
_SERVICE_PARTS = frozenset({"spec", "service_id", "service_name", "service_labels", "labels"})


def share_patched_parts(
    task: Task,
    changed: Collection[str],
    current: Task,
    services: Mapping[str, Object],
    nodes: Mapping[str, Object],
) -> None:
    """``share_task_parts`` for a fresh ``task`` a patch made from ``current`` (stored, so
    sharing already): only the parts of the ``changed`` fields (most patches change a
    task's node or status, not what it shares with its service)."""
    if not _SERVICE_PARTS.isdisjoint(changed):
        share_task_parts(task, current, services, nodes)
        return
    if "node_id" in changed:
        _share_node_id(task, nodes)
    if "status" in changed:
        _intern_message(task)


def share_written_parts(
    task: Task, base: Task, services: Mapping[str, Object], nodes: Mapping[str, Object]
) -> None:
    """``share_task_parts`` for a fresh ``task`` its writer built from ``base``, the task
    the store holds (so sharing already): a field still holding the base's value shares
    it already (the scheduler's and the dispatcher's writes change a task's node or
    status, not what it shares with its service: two of a task's three writes)."""
    if (
        task.spec is not base.spec
        or task.service_id is not base.service_id
        or task.service_name is not base.service_name
        or task.service_labels is not base.service_labels
        or task.labels is not base.labels
    ):
        share_task_parts(task, base, services, nodes)
        return
    if task.node_id is not base.node_id:
        _share_node_id(task, nodes)
    if task.status is not base.status:
        _intern_message(task)


def _share_node_id(task: Task, nodes: Mapping[str, Object]) -> None:
    node_id = task.node_id
    if node_id:
        node = nodes.get(node_id)
        if isinstance(node, Node) and node_id is not node.id:
            _set(task, "node_id", node.id)


def _intern_message(task: Task) -> None:
    message = task.status.message
    if message and len(message) <= _INTERNED_MESSAGE:
        # the same few words on every task ("started"); the value is unchanged, so the
        # status may be one another task holds too
        _set(task.status, "message", sys.intern(message))


def _share_service_spec(task: Task, service: Service) -> None:
    spec = task.spec
    candidates = [service.spec.task]
    if service.previous_spec is not None:
        candidates.append(service.previous_spec.task)
    for candidate in candidates:
        if candidate is spec:
            return
        if candidate == spec:
            _set(task, "spec", candidate)
            return


class SpecSharing:
    """``share_task_parts`` for many fresh tasks whose specs are already shared among
    themselves (a restored snapshot's, a decoded entry's): each distinct spec is compared
    with the stored ones once, not once per task."""

    def __init__(self, services: Mapping[str, Object], nodes: Mapping[str, Object]) -> None:
        self._services = services
        self._nodes = nodes
        self._seen: dict[int, TaskSpec] = {}  # id(a spec as decoded) -> the one to hold
        self._held: list[TaskSpec] = []  # keeps the decoded specs (their ids) alive

    def share(self, task: Task, current: Object | None = None) -> None:
        decoded = task.spec
        known = self._seen.get(id(decoded))
        if known is not None:
            _set(task, "spec", known)
        share_task_parts(task, current, self._services, self._nodes)
        if known is None:
            self._seen[id(decoded)] = task.spec
            self._held.append(decoded)


class SharedStrings(dict[str, str]):
    """A string -> the copy to hold: the one put in for it (a node's or a service's id, a
    service's name), else a short string's interned copy (a status message), else itself
    (api/codec_rows.py's ``decode_shared`` reads a task's strings through it)."""

    def __missing__(self, value: str) -> str:
        if len(value) > _INTERNED_MESSAGE:
            return value
        held = self[value] = sys.intern(value)
        return held


class RestoredTasks:
    """``share_task_parts`` for a snapshot's tasks, with the snapshot's own services and
    nodes, as the tasks are decoded (snapshot_codec.py): the decoder reads their ids,
    names and messages through ``strings`` and gives an empty label map as NO_LABELS, and
    ``choose_spec`` picks a decoded spec's copy to hold once for each spec and service (a
    task is built holding it: no field of 100,000 tasks written twice)."""

    def __init__(self, services: Iterable[Object], nodes: Iterable[Object]) -> None:
        self.strings = SharedStrings()
        self._services = {s.id: s for s in services if isinstance(s, Service)}
        self._nodes = {n.id: n for n in nodes if isinstance(n, Node)}
        for node_id in self._nodes:
            self.strings[node_id] = node_id
        for service in self._services.values():
            self.strings[service.id] = service.id
            self.strings.setdefault(service.spec.name, service.spec.name)
        # a spec's number -> (the service id of the tasks holding it, as ``strings``
        # gives it; the copy they hold): task_rows.decode_restored_rows reads it
        self.chosen: dict[int, tuple[str, TaskSpec]] = {}

    def choose_spec(self, task: Task, ref: int, decoded: TaskSpec) -> None:
        """Point the fresh ``task`` (holding spec ``ref``, ``decoded``) at its service's
        equal spec, if it has one, and hold that choice for the next tasks."""
        _set(task, "spec", decoded)
        service = self._services.get(task.service_id)
        if isinstance(service, Service):
            _share_service_spec(task, service)
        self.chosen[ref] = (task.service_id, task.spec)

    def share_labels(self, task: Task) -> None:
        """Point the fresh ``task``'s service labels (a map of its own, not empty) at its
        service's equal map (the decoder gave an empty one as NO_LABELS already)."""
        service = self._services.get(task.service_id)
        if isinstance(service, Service) and task.service_labels == service.spec.labels:
            _set(task, "service_labels", service.spec.labels)

    def share(self, task: Task) -> None:
        """A task decoded whole (another writer's layout, format 1): the slow way."""
        share_task_parts(task, None, self._services, self._nodes)
