"""What one worker session has been sent, and what it must be sent next.

Rules (SwarmKit's dispatcher ``Assignments``):
- A task is assigned to a node when its ``node_id`` is the node's and its observed state is
  ASSIGNED or later (below ASSIGNED the scheduler has not committed it to the node). Terminal
  tasks stay in the set until they are deleted, so the worker can clean them up.
- A session starts with the full set, read at some store version (``base_version``); after
  that, committed changes are observed in order and coalesced until the next ``take``.
- A change is resent only when something the worker needs changed: a task whose only change
  is its status or meta (the worker's own report, written back) is not echoed, unless it is
  still ASSIGNED (managers own that state and may change anything about it).
- A change at or below the version the session already reflects is stale and ignored, so
  events committed between reading the full set and watching are harmless; so is one
  below a deletion already observed (a replay: changes come in commit order).
- A deleted task, or one no longer on this node, is sent as removed.
- A task of a service being removed (``service rm`` committed ``pending_delete``) is told
  desired state REMOVE at once, as the orchestrator will write it (reaper.py
  ``mark_removed``): that write comes seconds later behind a big service's creation
  (a service of 100,000 replicas removed 5 s after its creation) and the worker started
  the tasks it held meanwhile. The store is not written; the orchestrator's own REMOVE,
  when it comes, is not sent again.
- With the tasks go the secrets and configs they need (dependencies.py): the full set
  carries all of them, a change what became needed and what is no longer.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, fields, replace

from actors.dispatcher.dependencies import DependencyChanges, DependencyTracker
from api.objects import Task
from api.task_state import TaskState

__all__ = ["AssignmentSet", "Delta", "is_assigned", "same_for_worker"]

# what a worker is told of a task: every field but meta and status (its own report)
_FOR_WORKER = tuple(f.name for f in fields(Task) if f.name not in ("meta", "status"))


def is_assigned(task: Task, node_id: str) -> bool:
    return task.node_id == node_id and task.status.state >= TaskState.ASSIGNED


def same_for_worker(a: Task, b: Task) -> bool:
    """Equal but for meta and status (SwarmKit's ``TasksEqualStable``); field by field,
    without building two copies (once per status report of every task)."""
    return all(getattr(a, name) == getattr(b, name) for name in _FOR_WORKER)


@dataclass(frozen=True, slots=True)
class Delta:
    """What to send: the full set (``full``), or changed tasks and removed ids; and the
    secrets and configs to send or drop."""

    full: bool
    tasks: tuple[Task, ...] = ()
    removed: tuple[str, ...] = ()
    dependencies: DependencyChanges = field(default_factory=DependencyChanges)

    @property
    def empty(self) -> bool:
        return not self.full and not self.tasks and not self.removed and self.dependencies.empty


_NOTHING = Delta(False)


class AssignmentSet:
    def __init__(
        self,
        node_id: str,
        base_version: int,
        tasks: Iterable[Task],
        removed_services: Collection[str] = frozenset(),
    ) -> None:
        """``removed_services``: the ids of services being removed, kept current by the
        owner (the core shares its set with every session's)."""
        self.node_id = node_id
        self.base_version = base_version
        self._removed_services = removed_services
        self._known: dict[str, Task] = {
            t.id: self._told(t) for t in tasks if is_assigned(t, node_id)
        }
        self._dependencies = DependencyTracker()
        for task in self._known.values():
            self._dependencies.hold(task)
        # the newest deletion observed: changes come in commit order, so one below it is
        # a replay (a deleted task is not brought back). One number, not the deleted ids:
        # those grew by every task the node ever ran, for the session's life.
        self._deleted_at = 0
        self._changed: dict[str, Task] = {}
        self._removed: set[str] = set()
        # something observed since the last take or full: the dispatcher takes only
        # these sets each tick (taking 1,000 empty ones ten times a second cost more than
        # the changes)
        self.touched = False

    def __len__(self) -> int:
        return len(self._known)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._known

    def tasks(self) -> list[Task]:
        """The tasks the session's node holds now."""
        return list(self._known.values())

    def full(self) -> Delta:
        """The whole set, sorted by id; forgets pending changes (the full set has them)."""
        self._changed.clear()
        self._removed.clear()
        self.touched = False
        tasks = tuple(self._known[i] for i in sorted(self._known))
        return Delta(True, tasks, dependencies=self._dependencies.full())

    def _told(self, task: Task) -> Task:
        """The task as the worker is told it: desired REMOVE if its service is being
        removed."""
        if task.desired_state < TaskState.REMOVE and task.service_id in self._removed_services:
            return replace(task, desired_state=TaskState.REMOVE)
        return task

    def services_removed(self, service_ids: Collection[str]) -> None:
        """Services whose removal was committed (also in ``removed_services`` now): their
        tasks here are sent again with desired REMOVE."""
        for task in self._known.values():
            if task.service_id in service_ids and task.desired_state < TaskState.REMOVE:
                told = replace(task, desired_state=TaskState.REMOVE)
                self._known[task.id] = told
                self._changed[task.id] = told
                self._removed.discard(task.id)
                self.touched = True

    def _stale(self, task_id: str, version: int) -> bool:
        known = self._known.get(task_id)
        if known is not None:
            return version <= known.meta.version
        return version <= self.base_version or version < self._deleted_at

    def observe_update(self, task: Task, version: int) -> None:
        """A task was created or updated at ``version``."""
        if self._stale(task.id, version):
            return
        known = self._known.get(task.id)
        if not is_assigned(task, self.node_id):
            if known is not None:  # moved away (tasks never should): the worker drops it
                self._drop(task.id, version)
            return
        task = self._told(task)
        self._known[task.id] = task
        if self._dependencies.hold(task):
            self.touched = True
        if (
            known is not None
            and same_for_worker(known, task)
            and task.status.state > TaskState.ASSIGNED
        ):
            if task.id in self._changed:
                self._changed[task.id] = task
            return
        self._changed[task.id] = task
        self._removed.discard(task.id)
        self.touched = True

    def observe_delete(self, task_id: str, version: int) -> None:
        """A task was deleted at ``version``."""
        if task_id in self._known and version > self._known[task_id].meta.version:
            self._drop(task_id, version)
        elif task_id not in self._known:
            self._deleted_at = max(version, self._deleted_at)

    def _drop(self, task_id: str, version: int) -> None:
        del self._known[task_id]
        self._dependencies.release(task_id)
        self._deleted_at = max(version, self._deleted_at)
        self._changed.pop(task_id, None)
        self._removed.add(task_id)
        self.touched = True

    def take(self) -> Delta:
        """The changes observed since the last ``take`` (or ``full``)."""
        if not self.touched:
            return _NOTHING
        self.touched = False
        delta = Delta(
            False,
            tuple(self._changed[i] for i in sorted(self._changed)),
            tuple(sorted(self._removed)),
            self._dependencies.take(),
        )
        self._changed.clear()
        self._removed.clear()
        return delta
