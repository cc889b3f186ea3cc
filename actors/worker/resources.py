"""What a worker's tasks need besides their spec, as the manager sends it with the
assignments: the networks they attach to and their services' registry credentials.

Rules:
- The agent applies each session frame here before handing its tasks to the worker, so a
  task's runner finds what it needs. The book follows the assignment set: a full frame
  replaces the tasks it knows, a change frame adds and removes them.
- Only what a known, unfinished task needs is kept: a network or a service's credentials
  are forgotten as soon as no such task needs them. A finished task needs nothing.
- Memory only: credentials never reach the state dir (nor a log line: nothing here logs).
  After a restart the book is empty until the first session frame, and a runner that
  needs a network meanwhile retries (the Docker executor's ``WaitingForManager``).
- Thread-safe: the agent writes from its session thread, runners read from theirs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from actors.dispatcher.networks_and_auth import ServiceAuth, needs_resources
from api.objects import Network, RegistryAuth, Task

__all__ = ["TaskResources"]


@dataclass(frozen=True, slots=True)
class _Needs:
    service_id: str
    networks: tuple[str, ...]


def _needs(task: Task) -> _Needs | None:
    if not needs_resources(task):
        return None
    return _Needs(task.service_id, tuple(a.target for a in task.spec.networks))


class TaskResources:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, _Needs] = {}
        self._networks: dict[str, Network] = {}
        self._auths: dict[str, RegistryAuth] = {}

    def apply(
        self,
        *,
        full: bool,
        tasks: Sequence[Task],
        removed: Iterable[str],
        networks: Iterable[Network] = (),
        auths: Iterable[ServiceAuth] = (),
    ) -> None:
        """One session frame: its tasks, removed ids, and the networks and credentials
        the manager sent with them."""
        with self._lock:
            if full:
                self._tasks.clear()
            for task_id in removed:
                self._tasks.pop(task_id, None)
            for task in tasks:
                needs = _needs(task)
                if needs is None:
                    self._tasks.pop(task.id, None)
                else:
                    self._tasks[task.id] = needs
            self._networks.update((n.id, n) for n in networks)
            self._auths.update((a.service_id, a.auth) for a in auths)
            self._prune()

    def _prune(self) -> None:
        services = {n.service_id for n in self._tasks.values()}
        attached = {net for n in self._tasks.values() for net in n.networks}
        for service_id in [s for s in self._auths if s not in services]:
            del self._auths[service_id]
        for network_id in [n for n in self._networks if n not in attached]:
            del self._networks[network_id]

    def network(self, network_id: str) -> Network | None:
        with self._lock:
            return self._networks.get(network_id)

    def registry_auth(self, service_id: str) -> RegistryAuth | None:
        with self._lock:
            return self._auths.get(service_id)

    def held(self) -> tuple[frozenset[str], frozenset[str]]:
        """(network ids, service ids with credentials) held now: for tests and the
        worker's diagnostics."""
        with self._lock:
            return frozenset(self._networks), frozenset(self._auths)
