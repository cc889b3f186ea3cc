"""The service table: unique indices of the names of live services (case-insensitive) and
of the ingress ports they publish through the routing mesh (api/ingress_ports.py). A
service being removed (``pending_delete``) holds neither, as Docker deletes a service at
once: its name and ports may be taken while its tasks shut down; it stays reachable by id."""

from __future__ import annotations

from typing import cast

from actors.store.table import Index, TableSchema
from actors.store.tx import ReadTx
from api.enums import PublishMode
from api.objects import ObjectKind, Service

__all__ = ["SCHEMA", "by_name", "get", "ingress_ports", "list_all", "live_name", "lookup"]

KIND = ObjectKind.SERVICE


def ingress_ports(service: Service) -> frozenset[str] | None:
    """The ports ("8080/tcp") a live service holds on every node; a service being removed
    holds none (its port may be taken at once)."""
    if service.pending_delete:
        return None
    held = frozenset(
        f"{p.published_port}/{p.protocol.value}"
        for p in service.spec.endpoint.ports
        if p.publish_mode is PublishMode.INGRESS and p.published_port
    )
    return held or None


def live_name(service: Service) -> str | None:
    """The name a live service holds (lower case); one being removed holds none."""
    if service.pending_delete:
        return None
    return service.spec.name.lower() or None


SCHEMA = TableSchema(
    kind=KIND,
    cls=Service,
    indexes=(
        Index("name", live_name, unique=True),
        Index("ingress_port", ingress_ports, unique=True, multi=True, what="ingress port"),
    ),
    name_index="name",
)


def get(tx: ReadTx, id: str) -> Service | None:
    return cast(Service | None, tx.get(KIND, id))


def list_all(tx: ReadTx) -> list[Service]:
    return cast(list[Service], tx.list_objects(KIND))


def by_name(tx: ReadTx, name: str) -> Service | None:
    found = tx.find(KIND, "name", name.lower())
    return cast(Service, found[0]) if found else None


def lookup(tx: ReadTx, ref: str) -> Service:
    """An id, a name or a unique id prefix."""
    return cast(Service, tx.lookup(KIND, ref))
