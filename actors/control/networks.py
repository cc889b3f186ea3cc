"""Control API: networks (create, ls, inspect, rm) and the service specs that name them.

A network is a name (unique, case-insensitive) and a few immutable settings; the control
API owns it whole. Services name networks with ``--network NAME``: ``resolve_networks``
turns each attachment's name (or id, or unique id prefix) into the network's id before a
spec is written, so a spec always names networks by id. A network that a service (or a
task not yet finished) uses cannot be removed: the error names the services.

What a network is on the nodes (one bridge per node, created with the first task that
needs it) is the Docker executor's business (actors/worker/executors/docker_networks.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from actors.control.errors import Body, ControlCode, ControlError
from actors.store import MemoryStore, NotFound, ReadTx, WriteTx, networks, services, tasks
from api.codec_objects import decode, encode_object
from api.host_resources import validate_network_spec
from api.ids import RandomBits, new_id
from api.objects import Network, Service
from api.specs import NetworkSpec, ServiceSpec

__all__ = [
    "NetworkControl",
    "network_names",
    "network_row",
    "resolve_network_refs",
    "resolve_networks",
]


def network_row(network: Network, services_using: int = 0) -> dict[str, Any]:
    """``{id, name, driver, internal, labels, services, created_at}``."""
    return {
        "id": network.id,
        "name": network.spec.name,
        "driver": network.spec.driver,
        "internal": network.spec.internal,
        "labels": dict(network.spec.labels),
        "scope": "node",
        "services": services_using,
        "created_at": network.meta.created_at,
        "version": network.meta.version,
    }


def _find(tx: ReadTx, ref: str) -> Network:
    try:
        return networks.lookup(tx, ref)
    except NotFound:
        raise ControlError(
            ControlCode.NOT_FOUND,
            # Docker's words; the hint fits swarmctl and the docker CLI alike
            f"network {ref} not found (create it first: network create {ref})",
        ) from None


def resolve_network_refs(tx: ReadTx, refs: list[str]) -> list[str]:
    """Network ids for names, ids or id prefixes; NOT_FOUND names the first unknown."""
    return [_find(tx, ref).id for ref in refs]


def resolve_networks(tx: ReadTx, spec: ServiceSpec) -> ServiceSpec:
    """``spec`` with each network attachment naming its network by id."""
    attached = spec.task.networks
    if not attached:
        return spec
    resolved = tuple(replace(a, target=_find(tx, a.target).id) for a in attached)
    seen: set[str] = set()
    for attachment in resolved:
        if attachment.target in seen:
            name = _find(tx, attachment.target).spec.name
            raise ControlError(ControlCode.INVALID_ARGUMENT, f"network {name} is attached twice")
        seen.add(attachment.target)
    return replace(spec, task=replace(spec.task, networks=resolved))


def network_names(tx: ReadTx, service: Service) -> list[str]:
    """The names of the networks a service is attached to (its id if one is gone)."""
    out = []
    for attachment in service.spec.task.networks:
        network = networks.get(tx, attachment.target)
        out.append(network.spec.name if network is not None else attachment.target)
    return out


def _users(tx: ReadTx, network_id: str) -> tuple[list[str], list[str]]:
    """Names of the services that use the network, and of removed services whose
    unfinished tasks still do (`service rm` answered, their tasks are stopping)."""
    live: set[str] = set()
    removed: set[str] = set()
    for s in services.list_all(tx):
        if any(a.target == network_id for a in s.spec.task.networks):
            (removed if s.pending_delete else live).add(s.spec.name)
    for task in tasks.list_all(tx):
        name = task.service_name or task.id
        if task.status.state.is_terminal or name in live or name in removed:
            continue
        if any(a.target == network_id for a in task.spec.networks):
            removed.add(name)
    return sorted(live), sorted(removed)


def _in_use(network: str, live: list[str], removed: list[str]) -> str:
    """Why ``network rm`` refuses: the services using it, and the removed ones whose
    tasks have not stopped yet (Docker: "network X is in use by task Y")."""
    parts = []
    if live:
        parts.append(f"service{'s' if len(live) > 1 else ''} {', '.join(live)}")
    if removed:
        parts.append(
            f"the tasks of removed service{'s' if len(removed) > 1 else ''} "
            f"{', '.join(removed)} (still stopping)"
        )
    return f"network {network} is in use by {' and '.join(parts)}"


class NetworkControl:
    def __init__(self, store: MemoryStore, *, rng: RandomBits | None = None) -> None:
        self._store = store
        self._rng = rng

    def create(self, body: Body) -> Body:
        spec = decode(NetworkSpec, body["spec"], "spec", strict=True)
        validate_network_spec(spec)
        network = Network(id=new_id(self._rng) if self._rng is not None else new_id(), spec=spec)

        def write(tx: WriteTx) -> None:
            holder = networks.by_name(tx, spec.name)
            if holder is not None:
                raise ControlError(
                    ControlCode.NAME_CONFLICT,
                    f"network name {spec.name!r} is already in use by network {holder.id}",
                )
            tx.create(network)

        committed = self._store.update(write)
        stored = committed.objects[0] if committed.objects else network
        assert isinstance(stored, Network)
        return {"id": stored.id, "network": network_row(stored)}

    def ls(self, body: Body) -> Body:
        def read(tx: ReadTx) -> list[dict[str, Any]]:
            found = sorted(networks.list_all(tx), key=lambda n: n.spec.name)
            counts = {n.id: 0 for n in found}
            for service in services.list_all(tx):
                for attachment in service.spec.task.networks:
                    if attachment.target in counts:
                        counts[attachment.target] += 1
            return [network_row(n, counts[n.id]) for n in found]

        return {"networks": self._store.view(read)}

    def inspect(self, body: Body) -> Body:
        def read(tx: ReadTx) -> Body:
            network = _find(tx, str(body["network"]))
            live, removed = _users(tx, network.id)
            users = sorted({*live, *removed})
            return {
                "network": encode_object(network),
                "summary": network_row(network, len(users)) | {"used_by": users},
            }

        return self._store.view(read)

    def rm(self, body: Body) -> Body:
        refs = [str(r) for r in body["networks"]]
        if not refs:
            raise ControlError(ControlCode.INVALID_ARGUMENT, "no network named")

        def write(tx: WriteTx) -> list[str]:
            found = [_find(tx, ref) for ref in refs]  # all, before any write
            removed: list[str] = []
            for network in found:
                if network.id in removed:
                    continue
                live, stopping = _users(tx, network.id)
                if live or stopping:
                    raise ControlError(
                        ControlCode.IN_USE, _in_use(network.spec.name, live, stopping)
                    )
                tx.delete(network)
                removed.append(network.id)
            return removed

        return {"removed": self._store.update(write).value}
