"""One orchestrator pass over a set of services: the entry point the shell calls.

Rules:
- Each service is reconciled on its own, from the snapshot only; the result is one
  ``Plan`` (effects in service order, the earliest wake-up time).
- A service with ``pending_delete`` only has its tasks marked REMOVE (the reaper deletes
  them, then the service). A missing service is the reaper's business too.
- Replicated and global services are reconciled by ``replicated`` and ``global_``, job
  modes (replicated-job, global-job) by ``jobs``; a replicated service that is settled,
  its tasks on usable nodes, is not passed over (it would write nothing: settled.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.orchestrator.global_ import reconcile_global
from actors.orchestrator.jobs import is_job, reconcile_job
from actors.orchestrator.reaper import mark_removed
from actors.orchestrator.replicated import reconcile_replicated
from actors.orchestrator.restart import RestartHistory
from actors.orchestrator.settled import is_settled
from actors.orchestrator.state import Plan, Snapshot
from api.ids import RandomBits
from api.specs import GlobalService, ReplicatedService

__all__ = ["reconcile_services"]


def reconcile_services(
    snapshot: Snapshot,
    service_ids: Iterable[str],
    now: float,
    rng: RandomBits,
    history: RestartHistory,
    settled: set[str] | None = None,
) -> Plan:
    """The writes that bring these services to their desired state. A settled replicated
    service on usable nodes is skipped (it would write nothing: settled.py) and its id
    added to ``settled``."""
    plan = Plan()
    for sid in sorted(set(service_ids)):
        service = snapshot.services.get(sid)
        if service is None:
            history.forget_service(sid)
            continue
        tasks = snapshot.tasks_of(sid)
        if service.pending_delete:
            history.forget_service(sid)
            mark_removed(tasks, plan, "service removed")
        elif isinstance(service.spec.mode, ReplicatedService):
            if is_settled(service, tasks, snapshot.nodes):
                if settled is not None:
                    settled.add(sid)
                continue
            plan.extend(reconcile_replicated(service, tasks, snapshot.nodes, now, rng, history))
        elif isinstance(service.spec.mode, GlobalService):
            plan.extend(reconcile_global(service, tasks, snapshot.nodes, now, rng, history))
        elif is_job(service):
            plan.extend(reconcile_job(service, tasks, snapshot.nodes, now, rng, history))
    return plan
