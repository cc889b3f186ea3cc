"""Dependencies between services, checked by the control API before a spec is written
(``--depends-on``): every service named exists (and is a job when its condition is
``completed``), and no cycle forms through the service's new dependencies (a cycle would
hold each of its services back forever). Runs inside the write transaction, so two
concurrent updates cannot close a cycle between them.
"""

from __future__ import annotations

from actors.control.errors import ControlCode, ControlError
from actors.store import ReadTx, services
from api.dependencies import find_cycle
from api.enums import DependencyCondition
from api.specs import GlobalJob, ReplicatedJob, ServiceSpec

__all__ = ["check_dependencies"]


def check_dependencies(tx: ReadTx, spec: ServiceSpec) -> None:
    """ControlError (invalid_argument) naming the dependency that cannot be."""
    if not spec.depends_on:
        return
    live = [s for s in services.list_all(tx) if not s.pending_delete]
    by_name = {s.spec.name: s for s in live}
    for dep in spec.depends_on:
        target = by_name.get(dep.service)
        if target is None:
            raise ControlError(
                ControlCode.INVALID_ARGUMENT,
                f"service {spec.name} cannot depend on {dep.service}: no such service",
            )
        job = isinstance(target.spec.mode, ReplicatedJob | GlobalJob)
        if dep.condition == DependencyCondition.COMPLETED and not job:
            raise ControlError(
                ControlCode.INVALID_ARGUMENT,
                f"service {spec.name} cannot wait for {dep.service} to complete: "
                f"{dep.service} is {target.spec.mode.TAG}, not a job (use running or healthy)",
            )
    graph = {name: [d.service for d in s.spec.depends_on] for name, s in by_name.items()}
    graph[spec.name] = [d.service for d in spec.depends_on]
    cycle = find_cycle(graph)
    if cycle is not None:
        raise ControlError(
            ControlCode.INVALID_ARGUMENT,
            f"dependency cycle: {' -> '.join(cycle)} (a service in a cycle would never start)",
        )
