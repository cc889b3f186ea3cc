"""Control API: ``control.service.plan`` (``service create|update --dry-run``): what the
change would do, computed by actors/orchestrator/plan.py on a copy of the store's state.
Nothing is written. The body is the create's (``spec``) or the update's (``service``,
``changes``), or a rollback's (``service``, ``rollback``, ``to_version``: refused as the
rollback itself would be); the spec is validated as a real create or update would be.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from actors.control.dependencies import check_dependencies
from actors.control.errors import Body, ControlCode, ControlError
from actors.control.service_resources import created_spec, updated_spec
from actors.control.services import checked_target
from actors.orchestrator.plan import plan_service
from actors.orchestrator.rollback import rollback_refusal, rolled_back
from actors.orchestrator.state import Snapshot
from actors.store import MemoryStore, ReadTx, nodes, services, tasks
from api.codec_objects import decode
from api.objects import Meta, Service
from api.specs import ServiceSpec
from api.validation import validate_service_spec

__all__ = ["ServicePlans"]

NEW_SERVICE_ID = "(new)"


class ServicePlans:
    def __init__(self, store: MemoryStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def plan(self, body: Body) -> Body:
        now = self._clock()

        def read(tx: ReadTx) -> tuple[Snapshot, Service]:
            proposed = self._proposed(tx, body, now)
            snapshot = Snapshot.build(
                [s for s in services.list_all(tx) if s.id != proposed.id],
                tasks.list_all(tx),
                nodes.list_all(tx),
            )
            return snapshot, proposed

        snapshot, proposed = self._store.view(read)
        result = plan_service(snapshot, proposed, now)
        steps: list[dict[str, Any]] = [
            {"action": s.action, "slot": s.slot, "task_id": s.task_id, "node": s.node, "why": s.why}
            for s in result.steps
        ]
        return {"service": proposed.spec.name, "steps": steps, "notes": list(result.notes)}

    def _proposed(self, tx: ReadTx, body: Body, now: float) -> Service:
        if "spec" in body:
            spec = decode(ServiceSpec, body["spec"], "spec", strict=True)
            validate_service_spec(spec)
            if services.by_name(tx, spec.name) is not None:
                raise ControlError(
                    ControlCode.NAME_CONFLICT, f"service name {spec.name!r} is already in use"
                )
            check_dependencies(tx, spec)
            spec = created_spec(tx, spec)
            return Service(id=NEW_SERVICE_ID, meta=Meta(0, now, now), spec=spec, spec_version=1)
        if "service" not in body:
            raise ControlError(ControlCode.INVALID_ARGUMENT, "a plan needs a spec or a service")
        service = services.lookup(tx, str(body["service"]))
        if body.get("rollback"):
            return _rolled_back(tx, service, body.get("to_version"), now)
        changes = dict(body.get("changes") or {})
        if "mode" in changes and str(changes["mode"]).lower() != service.spec.mode.TAG:
            raise ControlError(ControlCode.INVALID_ARGUMENT, "service mode cannot be changed")
        new_spec = updated_spec(tx, service.spec, changes, service.id)
        if new_spec.depends_on != service.spec.depends_on:
            check_dependencies(tx, new_spec)
        return replace(
            service,
            spec=new_spec,
            previous_spec=service.spec,
            spec_version=service.spec_version + (new_spec != service.spec),
            update_status=None,
        )


def _rolled_back(tx: ReadTx, service: Service, to_version: int | None, now: float) -> Service:
    """The service as ``service rollback [--to-version V]`` would leave it."""
    refusal = rollback_refusal(service, to_version)
    if refusal is not None:
        raise ControlError(ControlCode.INVALID_ARGUMENT, refusal)
    return rolled_back(
        service,
        now,
        to_version=to_version,
        prepare=lambda target: checked_target(tx, service, target),
    )
