"""What the web view shows, kept from the store's changes (pure).

`Board` holds the store's current nodes, services and shown tasks and the latest cluster
events. ``load`` fills it from one consistent read of the store; ``apply`` takes the
committed changes that followed (watch events, in order) and returns the `Patch` the page
applies: for each table the rows to put and the ids to drop, and the new events.

- Rows are what the control API shows (actors/control/views.py): ``node_row``,
  ``service_summary``, ``task_row``; so the page and ``swarmctl --format json`` never
  disagree. Events are ``swarmctl events``' (actors/events/model.py), so nothing secret
  reaches the page: no spec beyond a service's image, no key, token or certificate.
- A task is shown while it is meant to run or still runs (desired state up to RUNNING, or
  observed state up to RUNNING); finished tasks are history and leave the page.
- A service's row depends on its tasks (replicas running), a task's row on its node's
  hostname and its service's spec (up to date): a change to one marks the others dirty.
- A change is applied once: events at or below the board's version are skipped, so a
  watcher resumed from an older position repeats nothing.
- A manager's row shows its live status, as ``swarmctl node ls`` does: who leads and who
  is reachable as this manager's Raft member sees it now (``set_raft_view``), over what
  the leader last recorded in the store. Without a view the record stands.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from actors.control.raft_members import RaftView, live_manager_status
from actors.control.views import node_row, service_summary, task_row
from actors.events.model import describe
from actors.store.entry import Action
from actors.store.watch import Event
from api.objects import Node, Service, Task
from api.task_state import TaskState

__all__ = ["MAX_EVENTS", "TABLES", "Board", "Patch", "shown"]

MAX_EVENTS: Final = 100  # the latest cluster events the page holds
TABLES: Final = ("nodes", "services", "tasks")


def shown(task: Task) -> bool:
    """Meant to run, or still running: the page's tasks (the rest are history)."""
    return task.desired_state <= TaskState.RUNNING or task.status.state <= TaskState.RUNNING


def _tables() -> dict[str, list[Any]]:
    return {name: [] for name in TABLES}


@dataclass(frozen=True, slots=True)
class Patch:
    """``put``: rows by table (whole rows, replacing any with the same id); ``drop``: ids
    by table; ``events``: the new cluster events, oldest first; ``version``: the store
    version the board has reached."""

    version: int
    put: dict[str, list[dict[str, Any]]] = field(default_factory=_tables)
    drop: dict[str, list[str]] = field(default_factory=_tables)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.events and not any(self.put.values()) and not any(self.drop.values())

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "put": self.put, "drop": self.drop, "events": self.events}


class Board:
    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self.version = 0
        self._nodes: dict[str, Node] = {}
        self._services: dict[str, Service] = {}
        self._tasks: dict[str, Task] = {}
        self._of_service: dict[str, set[str]] = {}  # service id -> shown task ids
        self._of_node: dict[str, set[str]] = {}  # node id -> shown task ids
        self._events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self._raft: RaftView | None = None

    # -- reading the store ----------------------------------------------------------------
    def load(
        self,
        version: int,
        nodes: Iterable[Node],
        services: Iterable[Service],
        tasks: Iterable[Task],
        recent: Sequence[Event] = (),
    ) -> None:
        """Start over from a read of the store at ``version``; ``recent``: the store's
        retained changes up to it, for the events panel."""
        self.version = version
        self._nodes = {n.id: n for n in nodes}
        self._services = {s.id: s for s in services}
        self._tasks, self._of_service, self._of_node = {}, {}, {}
        for task in tasks:
            if shown(task):
                self._index(task)
        self._events.clear()
        held = [e for e in recent if e.version <= version]
        self._events.extend(describe(e).to_wire() for e in held[-(self._events.maxlen or 0) :])

    def apply(self, events: Sequence[Event]) -> Patch:
        """The committed changes after the board's version, in order (whole entries)."""
        dirty: dict[str, set[str]] = {name: set() for name in TABLES}
        described: list[dict[str, Any]] = []
        for event in events:
            if event.version <= self.version:
                continue
            obj = event.object
            deleted = event.action is Action.DELETE
            if isinstance(obj, Node):
                self._node(obj, deleted, dirty)
            elif isinstance(obj, Service):
                self._service(obj, deleted, dirty)
            elif isinstance(obj, Task):
                self._task(obj, deleted, dirty)
            described.append(describe(event).to_wire())
        self._events.extend(described)
        if events:
            self.version = max(self.version, events[-1].version)
        return self._rows(Patch(self.version, events=described), dirty)

    def _node(self, node: Node, deleted: bool, dirty: dict[str, set[str]]) -> None:
        old = self._nodes.pop(node.id, None)
        if not deleted:
            self._nodes[node.id] = node
        dirty["nodes"].add(node.id)
        if old is None or deleted or old.hostname != node.hostname:
            dirty["tasks"].update(self._of_node.get(node.id, ()))

    def _service(self, service: Service, deleted: bool, dirty: dict[str, set[str]]) -> None:
        old = self._services.pop(service.id, None)
        if not deleted:
            self._services[service.id] = service
        dirty["services"].add(service.id)
        if old is None or deleted or old.spec.task != service.spec.task:
            dirty["tasks"].update(self._of_service.get(service.id, ()))

    def _task(self, task: Task, deleted: bool, dirty: dict[str, set[str]]) -> None:
        old = self._tasks.get(task.id)
        now = not deleted and shown(task)
        if old is None and not now:
            return  # history the page never showed
        if old is not None:
            self._unindex(old)
            self._dirty_service(old.service_id, dirty)
        if now:
            self._index(task)
            self._dirty_service(task.service_id, dirty)
        dirty["tasks"].add(task.id)

    def _dirty_service(self, service_id: str, dirty: dict[str, set[str]]) -> None:
        if service_id in self._services:
            dirty["services"].add(service_id)

    def _index(self, task: Task) -> None:
        self._tasks[task.id] = task
        self._of_service.setdefault(task.service_id, set()).add(task.id)
        self._of_node.setdefault(task.node_id, set()).add(task.id)

    def _unindex(self, task: Task) -> None:
        del self._tasks[task.id]
        for index, key in ((self._of_service, task.service_id), (self._of_node, task.node_id)):
            ids = index.get(key)
            if ids is not None:
                ids.discard(task.id)
                if not ids:
                    del index[key]

    def set_raft_view(self, view: RaftView | None) -> Patch:
        """Show the managers as ``view`` sees them now: the rows that changed."""
        managers = [n for n in self._nodes.values() if n.manager_status is not None]
        before = {n.id: self._node_row(n) for n in managers}
        self._raft = view
        patch = Patch(self.version)
        for node_id, row in sorted(before.items()):
            now = self._node_row(self._nodes[node_id])
            if now != row:
                patch.put["nodes"].append(now)
        return patch

    # -- rows -----------------------------------------------------------------------------
    def _node_row(self, node: Node) -> dict[str, Any]:
        view = self._raft
        if view is not None and node.manager_status is not None:
            node = replace(node, manager_status=live_manager_status(node, view))
        return node_row(node)

    def _rows(self, patch: Patch, dirty: dict[str, set[str]]) -> Patch:
        for name, ids in dirty.items():
            for id_ in sorted(ids):
                row = self._row(name, id_)
                if row is None:
                    patch.drop[name].append(id_)
                else:
                    patch.put[name].append(row)
        return patch

    def _row(self, table: str, id_: str) -> dict[str, Any] | None:
        if table == "nodes":
            node = self._nodes.get(id_)
            return self._node_row(node) if node is not None else None
        if table == "services":
            service = self._services.get(id_)
            if service is None:
                return None
            own = (self._tasks[t] for t in self._of_service.get(id_, ()))
            return service_summary(service, own)
        task = self._tasks.get(id_)
        if task is None:
            return None
        hostnames = {task.node_id: n.hostname} if (n := self._nodes.get(task.node_id)) else {}
        return task_row(task, hostnames, self._services.get(task.service_id))

    def document(self) -> dict[str, Any]:
        """Everything the page shows: what a new page (or one that fell behind) starts
        from. Rows in a stable order (by id); the page sorts them for people."""
        return {
            "version": self.version,
            **{
                name: [r for id_ in sorted(ids) if (r := self._row(name, id_)) is not None]
                for name, ids in (
                    ("nodes", self._nodes),
                    ("services", self._services),
                    ("tasks", self._tasks),
                )
            },
            "events": list(self._events),
        }
