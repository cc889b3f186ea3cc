"""The published ports a service may take, read from the store (api/ingress_ports.py
decides): the control API calls ``allocate_published`` for every spec it stores."""

from __future__ import annotations

from actors.store import ReadTx, services
from api.ingress_ports import allocate_ports, claims_of
from api.specs import ServiceSpec

__all__ = ["allocate_published"]


def allocate_published(tx: ReadTx, spec: ServiceSpec, service_id: str = "") -> ServiceSpec:
    """``spec`` with its ingress ports allocated, checked against the other live services
    (``service_id``: the service the spec is for; "" for a new one). A port another service
    holds is refused (InvalidSpec naming it and its holder: invalid_spec to the client)."""
    if not spec.endpoint.ports:
        return spec
    own = services.get(tx, service_id) if service_id else None
    others = (
        s.spec
        for s in services.list_all(tx)
        if s.id != service_id and not s.pending_delete and s.spec.endpoint.ports
    )
    return allocate_ports(spec, own.spec if own is not None else None, claims_of(others))
