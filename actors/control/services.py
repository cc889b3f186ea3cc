"""Control API: services (create, ls, inspect, ps, update, scale, rollback, history, rm).

The control API owns a service's ``spec``, ``previous_spec``, ``spec_version``,
``spec_history`` and ``pending_delete``; the orchestrator owns the rest (``update_status``,
which a new spec resets and a rollback starts) and removes a service's tasks, then the
service, once ``pending_delete`` is set. A service being removed is gone for the user at
once, as Docker deletes it: its name is free (the store's name index holds live services
only), it no longer holds its secrets and configs, and it is found by id only. Every spec
change is a revision of the service's history (actors/orchestrator/history.py); a
rollback goes back to the previous spec or to a kept version
(actors/orchestrator/rollback.py). Every spec is validated (api/validation.py) before
anything is written; names are unique (the store's index says so, atomically). Each
function takes a request body and returns the reply body; errors are raised
(actors/control/errors.py maps them to codes).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from actors.control.dependencies import check_dependencies
from actors.control.errors import Body, ControlCode, ControlError
from actors.control.networks import network_names
from actors.control.service_resources import created_spec, registry_auth_of, updated_spec
from actors.control.views import public_service, service_summary, task_order, task_row
from actors.control.writes import check_version, modify
from actors.orchestrator.history import history_rows, record
from actors.orchestrator.rollback import MANUAL_ROLLBACK, rollback_refusal, rolled_back
from actors.store import MemoryStore, ReadTx, WriteTx, clusters, nodes, services, tasks
from api.codec_objects import decode, encode_object
from api.ids import RandomBits, new_id
from api.objects import RegistryAuth, Service, SpecRevision
from api.specs import ReplicatedJob, ReplicatedService, ServiceSpec
from api.task_state import parse_task_state
from api.validation import validate_service_spec

__all__ = ["ServiceControl"]


def _summary(tx: ReadTx, service: Service) -> dict[str, Any]:
    return service_summary(service, tasks.by_service(tx, service.id))


def _live(tx: ReadTx, ref: str) -> Service:
    service = services.lookup(tx, ref)
    if service.pending_delete:
        raise ControlError(
            ControlCode.NOT_FOUND, f"service {service.spec.name} ({service.id}) is being removed"
        )
    return service


class ServiceControl:
    def __init__(
        self,
        store: MemoryStore,
        *,
        rng: RandomBits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._rng = rng
        self._clock = clock  # wall clock: when a spec became a service's
        # held from the read to the commit of a write that publishes ports: two creates
        # on the handler threads must not both find a port free (ingress.py)
        self._ports = threading.Lock()

    def _ports_held(self, publishes: bool) -> contextlib.AbstractContextManager[object]:
        return self._ports if publishes else contextlib.nullcontext()

    def _new_id(self) -> str:
        return new_id(self._rng) if self._rng is not None else new_id()

    # -- writes ------------------------------------------------------------------------

    def create(self, body: Body) -> Body:
        spec = decode(ServiceSpec, body["spec"], "spec", strict=True)
        validate_service_spec(spec)
        auth = registry_auth_of(body)
        service = Service(id=self._new_id(), spec=spec, spec_version=1, registry_auth=auth)
        now = self._clock()

        def write(tx: WriteTx) -> None:
            holder = services.by_name(tx, spec.name)  # a live one: a removed one lets go
            if holder is not None:
                raise ControlError(
                    ControlCode.NAME_CONFLICT,
                    f"service name {spec.name!r} is already in use by service {holder.id}",
                )
            check_dependencies(tx, spec)
            stored = created_spec(tx, spec)  # no service of this id yet: nothing to keep
            first = SpecRevision(1, stored, now, "create")  # its history begins
            tx.create(replace(service, spec=stored, spec_history=(first,)))

        with self._ports_held(bool(spec.endpoint.ports)):
            committed = self._store.update(write)
        stored = committed.objects[0] if committed.objects else service
        assert isinstance(stored, Service)
        return {"id": stored.id, "changed": True, "service": service_summary(stored, ())}

    def update(self, body: Body) -> Body:
        ref = str(body["service"])
        pinned = body.get("version")
        auth = registry_auth_of(body)
        if (body.get("spec") is None) == (body.get("changes") is None):
            raise ControlError(
                ControlCode.INVALID_ARGUMENT, "a service update takes changes or a spec, not both"
            )
        if body.get("spec") is not None:  # the whole spec, as Docker's ServiceUpdate
            whole = decode(ServiceSpec, body["spec"], "spec", strict=True)
            validate_service_spec(whole)
            return self._edit(ref, {}, pinned, origin="update", whole=whole, auth=auth)
        return self._edit(ref, dict(body["changes"]), pinned, origin="update", auth=auth)

    def scale(self, body: Body) -> Body:
        replicas = body["replicas"]
        if replicas < 0:
            raise ControlError(
                ControlCode.INVALID_ARGUMENT, f"replicas must be >= 0, got {replicas}"
            )

        def check(service: Service) -> None:
            # a replicated job's count is its total completions (docker service scale)
            if not isinstance(service.spec.mode, ReplicatedService | ReplicatedJob):
                raise ControlError(
                    ControlCode.INVALID_ARGUMENT,
                    f"service {service.spec.name} is {service.spec.mode.TAG}: "
                    "scale can only be used with replicated or replicated-job mode",
                )

        return self._edit(str(body["service"]), {"replicas": replicas}, None, check, "scale")

    def _edit(
        self,
        ref: str,
        changes: dict[str, Any],
        pinned: int | None,
        check: Any = None,
        origin: str = "update",
        *,
        whole: ServiceSpec | None = None,
        auth: RegistryAuth | None = None,
    ) -> Body:
        result: dict[str, Any] = {}
        if whole is not None:  # checked as the changes it makes: a name, a mode
            changes = {"name": whole.name, "mode": whole.mode.TAG}

        def write(tx: WriteTx) -> None:
            service = _live(tx, ref)
            check_version("service", service.id, pinned, service.meta.version)
            if check is not None:
                check(service)
            spec = service.spec
            if "name" in changes and changes["name"] != spec.name:
                raise ControlError(
                    ControlCode.INVALID_ARGUMENT, "renaming services is not supported"
                )
            if "mode" in changes and str(changes["mode"]).lower() != spec.mode.TAG:
                raise ControlError(
                    ControlCode.INVALID_ARGUMENT,
                    f"service mode cannot be changed (service {spec.name} is {spec.mode.TAG})",
                )
            if whole is not None:
                new_spec = created_spec(tx, whole, service.id)
            else:
                new_spec = updated_spec(tx, spec, changes, service.id)
            result.clear()
            if new_spec == spec:
                if auth is not None and auth != service.registry_auth:
                    tx.update(replace(service, registry_auth=auth))  # no new tasks needed
                result.update(id=service.id, changed=False, service=_summary(tx, service))
                return
            if new_spec.depends_on != spec.depends_on:
                check_dependencies(tx, new_spec)
            updated = replace(
                service,
                spec=new_spec,
                previous_spec=spec,
                spec_version=service.spec_version + 1,
                update_status=None,
                registry_auth=auth if auth is not None else service.registry_auth,
            )
            limit = clusters.orchestration(tx).service_history_limit
            tx.update(record(service, updated, self._clock(), origin, limit))
            result.update(id=service.id, changed=True)

        publishes = any(key.startswith("publish") for key in changes) or (
            whole is not None and bool(whole.endpoint.ports)
        )
        with self._ports_held(publishes):
            modify(self._store, write)
        return self._stored(result)

    def _stored(self, result: dict[str, Any]) -> Body:
        if result["changed"]:  # the summary as stored (its version is the commit's)
            result["service"] = self._store.view(
                lambda tx: _summary(tx, services.lookup(tx, result["id"]))
            )
        return result

    def rollback(self, body: Body) -> Body:
        """Back to the previous spec, or to ``to_version`` of the history; the
        orchestrator replaces the tasks, paced by the rollback config."""
        ref = str(body["service"])
        to_version = body.get("to_version")
        if to_version is not None and to_version < 1:
            raise ControlError(ControlCode.INVALID_ARGUMENT, f"a version is >= 1, got {to_version}")
        pinned = body.get("version")
        result: dict[str, Any] = {}

        def write(tx: WriteTx) -> None:
            service = _live(tx, ref)
            check_version("service", service.id, pinned, service.meta.version)
            refusal = rollback_refusal(service, to_version)
            if refusal is not None:
                raise ControlError(ControlCode.INVALID_ARGUMENT, refusal)
            message = MANUAL_ROLLBACK if to_version is None else f"rollback to version {to_version}"
            limit = clusters.orchestration(tx).service_history_limit
            back = rolled_back(
                service,
                self._clock(),
                to_version=to_version,
                message=message,
                limit=limit,
                prepare=lambda target: checked_target(tx, service, target),
            )
            tx.update(back)
            result.clear()
            result.update(id=service.id, changed=True)

        with self._ports_held(True):  # the spec it goes back to may publish a port
            modify(self._store, write)
        return self._stored(result)

    def rm(self, body: Body) -> Body:
        refs = [str(r) for r in body["services"]]
        if not refs:
            raise ControlError(ControlCode.INVALID_ARGUMENT, "no service named")

        def write(tx: WriteTx) -> list[str]:
            found = [services.lookup(tx, ref) for ref in refs]  # all, before any write
            removed: list[str] = []
            for service in found:
                if service.id in removed:
                    continue
                if not service.pending_delete:
                    tx.update(replace(service, pending_delete=True))
                removed.append(service.id)
            return removed

        return {"removed": modify(self._store, write).value}

    # -- reads -------------------------------------------------------------------------

    def ls(self, body: Body) -> Body:
        show_all = bool(body.get("all", False))
        full = bool(body.get("full", False))

        def row(tx: ReadTx, service: Service) -> dict[str, Any]:
            summary = _summary(tx, service)
            if full:
                summary["object"] = encode_object(public_service(service))  # no credentials
            return summary

        def read(tx: ReadTx) -> list[dict[str, Any]]:
            return [
                row(tx, s)
                for s in sorted(services.list_all(tx), key=lambda s: s.spec.name)
                if show_all or not s.pending_delete
            ]

        return {"services": self._store.view(read)}

    def inspect(self, body: Body) -> Body:
        def read(tx: ReadTx) -> Body:
            service = services.lookup(tx, str(body["service"]))
            return {
                "service": encode_object(public_service(service)),
                "summary": _summary(tx, service) | {"networks": network_names(tx, service)},
            }

        return self._store.view(read)

    def history(self, body: Body) -> Body:
        """The kept specs of a service, oldest first, with what changed."""

        def read(tx: ReadTx) -> Body:
            service = services.lookup(tx, str(body["service"]))
            summary = service_summary(service, tasks.by_service(tx, service.id))
            return {"service": summary, "history": history_rows(service)}

        return self._store.view(read)

    def ps(self, body: Body) -> Body:
        wanted = body.get("desired_state")
        try:
            state = parse_task_state(wanted) if wanted else None
        except ValueError as exc:
            raise ControlError(ControlCode.INVALID_ARGUMENT, str(exc)) from None

        def read(tx: ReadTx) -> Body:
            service = services.lookup(tx, str(body["service"]))
            own = tasks.by_service(tx, service.id)
            hostnames = {n.id: n.hostname for n in nodes.list_all(tx)}
            rows = [
                task_row(t, hostnames, service)
                for t in sorted(own, key=task_order)
                if state is None or t.desired_state == state
            ]
            return {"service": service_summary(service, own), "tasks": rows}

        return self._store.view(read)


def checked_target(tx: ReadTx, service: Service, target: ServiceSpec) -> ServiceSpec:
    """The spec a rollback goes back to, checked and resolved as an update's would be,
    against the store as it is now (a secret or network since removed refuses it)."""
    spec = created_spec(tx, target, service.id)
    if spec.depends_on != service.spec.depends_on:
        check_dependencies(tx, spec)
    return spec
