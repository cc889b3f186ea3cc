"""The secrets and configs one node's tasks need: what its worker must hold, and when.

Rules (SwarmKit's dispatcher ``assignmentSet``, its task dependencies):
- A task holds the secrets and configs its container spec references while it is assigned
  to the node and its observed state is at most RUNNING; past RUNNING (complete, failed,
  shut down, rejected...) it needs them no more, and a task that leaves the node's set
  releases them too.
- An object is needed while at least one task holds it. A worker is sent an object when it
  becomes needed and told to drop it when it no longer is: ``take`` diffs what is needed
  against what the worker was sent, so an object needed and released between two takes is
  never sent at all. A worker never gets an object none of its tasks references.
- Objects are named by id here; the shell reads them from the store when it sends.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Final

from api.objects import Task
from api.task_state import TaskState

__all__ = ["CONFIG", "SECRET", "DependencyChanges", "DependencyTracker", "task_dependencies"]

SECRET: Final = "secret"
CONFIG: Final = "config"

Dependency = tuple[str, str]  # (SECRET | CONFIG, object id)


def task_dependencies(task: Task) -> frozenset[Dependency]:
    """What ``task`` holds now (module rules): nothing once it is past RUNNING."""
    if task.status.state > TaskState.RUNNING:
        return frozenset()
    c = task.spec.container
    if not c.secrets and not c.configs:
        return frozenset()
    held = {(SECRET, r.secret_id) for r in c.secrets if r.secret_id}
    held.update((CONFIG, r.config_id) for r in c.configs if r.config_id)
    return frozenset(held)


@dataclass(frozen=True, slots=True)
class DependencyChanges:
    """Ids to send and ids to drop, per kind, sorted."""

    secrets: tuple[str, ...] = ()
    secrets_removed: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    configs_removed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.secrets or self.secrets_removed or self.configs or self.configs_removed)


_NO_CHANGES: Final = DependencyChanges()


def _changes(added: set[Dependency], removed: set[Dependency]) -> DependencyChanges:
    def ids(items: set[Dependency], kind: str) -> tuple[str, ...]:
        return tuple(sorted(i for k, i in items if k == kind))

    return DependencyChanges(
        ids(added, SECRET), ids(removed, SECRET), ids(added, CONFIG), ids(removed, CONFIG)
    )


class DependencyTracker:
    def __init__(self) -> None:
        self._held: dict[str, frozenset[Dependency]] = {}  # task id -> what it holds
        self._counts: Counter[Dependency] = Counter()
        self._sent: set[Dependency] = set()

    def hold(self, task: Task) -> bool:
        """``task`` as it is now (assigned to the node): holds what it references, or
        nothing once past RUNNING. Whether what it holds changed."""
        now = task_dependencies(task)
        before = self._held.get(task.id, frozenset())
        if now == before:
            return False
        if now:
            self._held[task.id] = now
        else:
            self._held.pop(task.id, None)
        self._counts.update(now - before)
        self._counts.subtract(before - now)
        for dep in before - now:
            if self._counts[dep] <= 0:
                del self._counts[dep]
        return True

    def release(self, task_id: str) -> None:
        """The task left the node's set."""
        for dep in self._held.pop(task_id, frozenset()):
            self._counts[dep] -= 1
            if self._counts[dep] <= 0:
                del self._counts[dep]

    def needed(self) -> set[Dependency]:
        return set(self._counts)

    def full(self) -> DependencyChanges:
        """Everything needed (a full assignment set replaces what the worker holds)."""
        self._sent = self.needed()
        return _changes(self._sent, set())

    def take(self) -> DependencyChanges:
        """What to send and what to drop since the last ``take`` or ``full``."""
        if not self._counts and not self._sent:
            # a node whose tasks reference no secret or config (most take in a ramp: one
            # per frame sent, each building four empty sorted tuples)
            return _NO_CHANGES
        needed = self.needed()
        changes = _changes(needed - self._sent, self._sent - needed)
        self._sent = needed
        return changes
