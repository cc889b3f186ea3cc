"""Rollback planning: what a service becomes when it goes back to an earlier spec.

Rules (SwarmKit's ``controlapi.UpdateService`` with ``rollback`` and the updater's
``rollbackUpdate``; ``--to-version`` is ours):
- A rollback makes the target spec the service's spec: its previous spec (the default),
  or any version its history keeps (``service rollback --to-version V``). The spec left
  becomes ``previous_spec``, ``spec_version`` is bumped (tasks of the spec left are then
  stale), the history gets the target as a new revision, and ``update_status`` becomes
  ROLLBACK_STARTED with the reason as its message.
- The orchestrator then replaces the stale tasks as an update, paced and monitored by a
  rollback config: the one of the spec left (``previous_spec`` during the rollback), so
  ``service update --rollback-parallelism 5 --update-failure-action rollback ...`` paces
  its own rollback. A rollback that fails is paused, never rolled back.
- Refused (``rollback_refusal`` says why): a service without a previous spec, a version
  that is the current one or that the history no longer keeps. A manual rollback also
  checks the spec gone back to as an update would (``prepare``: a secret, config or
  network since removed, a dependency cycle), so it fails at once, not in its tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from actors.orchestrator.history import find_revision, history_of, record
from api.enums import UpdateState
from api.objects import Service, UpdateStatus
from api.specs import ServiceSpec, UpdateConfig

__all__ = [
    "MANUAL_ROLLBACK",
    "ROLLBACK_STATES",
    "rollback_config",
    "rollback_refusal",
    "rolled_back",
]

MANUAL_ROLLBACK = "manually requested rollback"
ROLLBACK_STATES = (UpdateState.ROLLBACK_STARTED, UpdateState.ROLLBACK_PAUSED)


def rollback_refusal(service: Service, to_version: int | None) -> str | None:
    """Why ``service`` cannot roll back (to ``to_version``; None: its previous spec)."""
    name = service.spec.name
    if to_version is None:
        if service.previous_spec is None:
            return f"service {name} has no previous spec to roll back to"
        return None
    if to_version == service.spec_version:
        return f"service {name} is at version {to_version} already"
    if find_revision(service, to_version) is None:
        kept = ", ".join(str(r.version) for r in history_of(service))
        return f"version {to_version} of service {name} is not kept (kept: {kept})"
    return None


def _target(service: Service, to_version: int | None) -> ServiceSpec:
    if to_version is None:
        assert service.previous_spec is not None, "check rollback_refusal first"
        return service.previous_spec
    rev = find_revision(service, to_version)
    assert rev is not None, "check rollback_refusal first"
    return rev.spec


def rolled_back(
    service: Service,
    now: float,
    *,
    to_version: int | None = None,
    message: str = MANUAL_ROLLBACK,
    limit: int | None = None,
    origin: str = "",
    prepare: Callable[[ServiceSpec], ServiceSpec] | None = None,
) -> Service:
    """``service`` rolled back (see the module rules; ``rollback_refusal`` must be None).
    ``limit``: revisions its history keeps (None: one more than now; the caller trims);
    ``origin``: how, for its history (default: "rollback" or "rollback to version V");
    ``prepare``: the control API's checks of the spec gone back to against the store as it
    is now (its secrets, configs, networks and dependencies), which may refuse it."""
    if not origin:
        origin = "rollback" if to_version is None else f"rollback to version {to_version}"
    target = _target(service, to_version)
    new = replace(
        service,
        spec=prepare(target) if prepare is not None else target,
        previous_spec=service.spec,
        spec_version=service.spec_version + 1,
        update_status=UpdateStatus(
            state=UpdateState.ROLLBACK_STARTED, started_at=now, message=message
        ),
    )
    keep = limit if limit is not None else len(history_of(service)) + 1
    return record(service, new, now, origin, keep)


def rollback_config(service: Service) -> UpdateConfig:
    """The config pacing ``service``'s rollback: its spec left's, else its own."""
    left = service.previous_spec if service.previous_spec is not None else service.spec
    return left.rollback_config
