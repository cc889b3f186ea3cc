"""What a worker gets with its assignments besides the tasks: the networks they attach to
and their services' registry credentials (SwarmKit sends secrets and configs this way).

Rules:
- Only a task that may still run needs anything: one whose observed state is not
  terminal and whose desired state is not SHUTDOWN or later.
- A frame carrying tasks carries what those tasks need, read from the store when it is
  sent; credentials go only to a node with such a task of their service, through its
  session (bound to the certificate that opened it).
- Credentials that change (``service update --with-registry-auth``) are sent again to the
  sessions holding a task of the service (``needing_auth``).
Pure: lookups are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from api.objects import Network, RegistryAuth, Service, Task
from api.task_state import TaskState

__all__ = ["Dependencies", "ServiceAuth", "dependencies_of", "needs_resources"]


@dataclass(frozen=True, slots=True)
class ServiceAuth:
    """A service's registry credentials, as a session frame carries them."""

    service_id: str
    auth: RegistryAuth


@dataclass(frozen=True, slots=True)
class Dependencies:
    networks: tuple[Network, ...] = ()
    registry_auths: tuple[ServiceAuth, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.networks or self.registry_auths)


def needs_resources(task: Task) -> bool:
    return not task.status.state.is_terminal and task.desired_state < TaskState.SHUTDOWN


def dependencies_of(
    tasks: Iterable[Task],
    network: Callable[[str], Network | None],
    service: Callable[[str], Service | None],
    *,
    auth_only: bool = False,
) -> Dependencies:
    """The networks and credentials ``tasks`` need (each once, in a stable order); a
    network the store no longer holds is left out (the worker's runner waits for it)."""
    network_ids: set[str] = set()
    service_ids: set[str] = set()
    for task in tasks:
        if not needs_resources(task):
            continue
        service_ids.add(task.service_id)
        if not auth_only:
            network_ids.update(a.target for a in task.spec.networks)
    networks = [n for n in (network(i) for i in sorted(network_ids)) if n is not None]
    auths = []
    for service_id in sorted(service_ids):
        found = service(service_id) if service_id else None
        if found is not None and found.registry_auth is not None:
            auths.append(ServiceAuth(service_id, found.registry_auth))
    return Dependencies(tuple(networks), tuple(auths))
