"""The managers' side of the routing mesh's ports: which published ports a service may
take, and the port an ingress port left at 0 gets.

Rules (Docker swarm's):
- An ingress port is published on every node: no two services may publish the same
  ingress port, and no service may publish in host mode a port another service (or the
  same one) publishes through the mesh; a refusal names the service that holds it.
  Host-mode ports of different services may share a number (the scheduler keeps them on
  different nodes: actors/scheduler/demand.py).
- An ingress port published as 0 gets the lowest free port of ``INGRESS_RANGE``
  (30000-32767), kept across updates: a spec asking 0 again for the same target and
  protocol keeps the port its service has. The port is written into the stored spec,
  so tasks, rollbacks and ``inspect`` all see it.
- A service being removed (``pending_delete``) holds nothing: its port may be taken at
  once.

Pure: the holders of the other services' ports are passed in (actors/control/ingress.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from api.enums import PortProtocol, PublishMode
from api.spec_limits import InvalidSpec
from api.specs import PortConfig, ServiceSpec

__all__ = ["INGRESS_RANGE", "PortClaims", "allocate_ports", "claims_of"]

INGRESS_RANGE: Final = (30000, 32767)  # Docker's dynamic range for ingress ports

_Key = tuple[PortProtocol, int]


@dataclass(frozen=True, slots=True)
class PortClaims:
    """The published ports of the other live services: ``(protocol, port)`` → the name of
    the service that holds it."""

    ingress: Mapping[_Key, str] = field(default_factory=dict)
    host: Mapping[_Key, str] = field(default_factory=dict)


def claims_of(specs: Iterable[ServiceSpec]) -> PortClaims:
    """The claims of ``specs`` (the other live services' specs)."""
    ingress: dict[_Key, str] = {}
    host: dict[_Key, str] = {}
    for spec in specs:
        for port in spec.endpoint.ports:
            if not port.published_port:
                continue
            table = ingress if port.publish_mode is PublishMode.INGRESS else host
            table.setdefault((port.protocol, port.published_port), spec.name)
    return PortClaims(ingress, host)


def _field(i: int) -> str:
    return f"endpoint.ports[{i}].published_port"


def allocate_ports(
    spec: ServiceSpec, previous: ServiceSpec | None, claims: PortClaims
) -> ServiceSpec:
    """``spec`` with each ingress port at 0 given one, after checking every published
    port against ``claims``; InvalidSpec names the port and its holder."""
    ports = list(spec.endpoint.ports)
    for i, port in enumerate(ports):
        key = (port.protocol, port.published_port)
        if not port.published_port:
            continue
        holder = claims.ingress.get(key)
        if holder is not None:
            raise InvalidSpec(
                _field(i),
                f"port {port.published_port}/{port.protocol} is already published through "
                f"the routing mesh by service {holder}",
            )
        if port.publish_mode is PublishMode.INGRESS and key in claims.host:
            raise InvalidSpec(
                _field(i),
                f"port {port.published_port}/{port.protocol} is already published in host "
                f"mode by service {claims.host[key]}: the routing mesh needs it on every node",
            )
    used = {(p.protocol, p.published_port) for p in ports if p.published_port}
    kept = _previous_allocations(previous)
    for i, port in enumerate(ports):
        if port.publish_mode is not PublishMode.INGRESS or port.published_port:
            continue
        number = _pick(port, kept, used, claims)
        if number is None:
            low, high = INGRESS_RANGE
            raise InvalidSpec(
                _field(i), f"no free port for the routing mesh in {low}-{high} ({port.protocol})"
            )
        ports[i] = replace(port, published_port=number)
        used.add((port.protocol, number))
    if ports == list(spec.endpoint.ports):
        return spec
    return replace(spec, endpoint=replace(spec.endpoint, ports=tuple(ports)))


def _previous_allocations(previous: ServiceSpec | None) -> dict[tuple[PortProtocol, int], int]:
    """(protocol, target) → the port the service's ingress port of that target got from
    the range (a port the user chose is not kept for a later 0)."""
    if previous is None:
        return {}
    low, high = INGRESS_RANGE
    return {
        (p.protocol, p.target_port): p.published_port
        for p in previous.endpoint.ports
        if p.publish_mode is PublishMode.INGRESS and low <= p.published_port <= high
    }


def _pick(
    port: PortConfig,
    kept: Mapping[tuple[PortProtocol, int], int],
    used: set[_Key],
    claims: PortClaims,
) -> int | None:
    def free(number: int) -> bool:
        key = (port.protocol, number)
        return key not in used and key not in claims.ingress and key not in claims.host

    previous = kept.get((port.protocol, port.target_port))
    if previous is not None and free(previous):
        return previous
    low, high = INGRESS_RANGE
    return next((n for n in range(low, high + 1) if free(n)), None)
