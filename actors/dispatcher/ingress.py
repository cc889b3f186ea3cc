"""The routing mesh's table, as the dispatcher sends it to every node: for each ingress
port of the cluster, the addresses its connections are forwarded to.

Rules:
- An entry per ingress port (``PublishMode.INGRESS`` with a published port: the control
  API allocated it) of every service not being removed. Two services claiming one port
  (an automatic rollback to a port since taken) give it to the first by id, never both.
- Its backends: the service's tasks that are RUNNING and meant to run on a node not DOWN
  (its heartbeats stopped: a connection would wait for a timeout), each at its node's
  address (``node.status.addr``: where its session comes from) and the host port the
  engine gave the task's target port (``status.port_status``; a host-mode published
  port of the same target is not a backend).
- Bounded: at most ``MAX_INGRESS_PORTS`` entries and ``MAX_BACKENDS`` backends each (the
  first by address and port), so a peer's frame and the nodes' listeners stay bounded;
  a node refuses a table past them (``parse_table``).
- The whole table travels in a session frame's ``ingress`` field when it changed since
  the session's last (``IngressFeed``), and in full on a session's first frame: a node
  replaces its table with each one it gets.
Pure: the store's objects are passed in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from api.enums import NodeState, PortProtocol, PublishMode
from api.objects import Node, Service, Task
from api.task_state import TaskState

__all__ = [
    "MAX_BACKENDS",
    "MAX_INGRESS_PORTS",
    "IngressBackend",
    "IngressFeed",
    "IngressPort",
    "IngressTracker",
    "encode_table",
    "ingress_table",
    "parse_table",
    "publishes_ingress",
]

MAX_INGRESS_PORTS: Final = 1024
MAX_BACKENDS: Final = 256
_MAX_NAME: Final = 256


@dataclass(frozen=True, slots=True, order=True)
class IngressBackend:
    addr: str  # an IP address
    port: int


@dataclass(frozen=True, slots=True)
class IngressPort:
    port: int  # the published port every node listens on
    protocol: PortProtocol
    service: str  # its service's name (for logs)
    backends: tuple[IngressBackend, ...]


def publishes_ingress(service: Service) -> bool:
    return not service.pending_delete and any(
        p.publish_mode is PublishMode.INGRESS and p.published_port
        for p in service.spec.endpoint.ports
    )


def _backends(
    target: int, protocol: PortProtocol, tasks: Iterable[Task], addr_of: Mapping[str, str]
) -> tuple[IngressBackend, ...]:
    found: set[IngressBackend] = set()
    for task in tasks:
        if task.status.state != TaskState.RUNNING or task.desired_state > TaskState.RUNNING:
            continue
        addr = addr_of.get(task.node_id, "")
        if not addr:
            continue
        host_mode = {
            p.published_port
            for p in task.spec.ports
            if p.publish_mode is PublishMode.HOST and p.target_port == target
        }
        for got in task.status.port_status:
            if (
                got.target_port == target
                and got.protocol == protocol
                and got.published_port
                and got.published_port not in host_mode
            ):
                found.add(IngressBackend(addr, got.published_port))
    return tuple(sorted(found)[:MAX_BACKENDS])


def ingress_table(
    services: Iterable[Service],
    tasks_of: Callable[[str], Sequence[Task]],
    nodes: Iterable[Node],
) -> tuple[IngressPort, ...]:
    """The table for the store's ``services``, their tasks and the ``nodes``, by port."""
    addr_of = {n.id: n.status.addr for n in nodes if n.status.state is not NodeState.DOWN}
    entries: dict[tuple[PortProtocol, int], IngressPort] = {}
    for service in sorted(services, key=lambda s: s.id):
        if not publishes_ingress(service):
            continue
        tasks: Sequence[Task] | None = None
        for port in service.spec.endpoint.ports:
            key = (port.protocol, port.published_port)
            if port.publish_mode is not PublishMode.INGRESS or not port.published_port:
                continue
            if key in entries or len(entries) >= MAX_INGRESS_PORTS:
                continue
            if tasks is None:
                tasks = tasks_of(service.id)
            backends = _backends(port.target_port, port.protocol, tasks, addr_of)
            entries[key] = IngressPort(port.published_port, port.protocol, service.name, backends)
    return tuple(entries[k] for k in sorted(entries))


def encode_table(table: Sequence[IngressPort]) -> list[dict[str, Any]]:
    return [
        {
            "port": e.port,
            "protocol": e.protocol.value,
            "service": e.service,
            "backends": [[b.addr, b.port] for b in e.backends],
        }
        for e in table
    ]


def _port(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ValueError(f"{where}: not a port: {value!r}")
    return value


def _ip(value: Any, where: str) -> str:
    try:
        return str(ipaddress.ip_address(value if isinstance(value, str) else ""))
    except ValueError:
        raise ValueError(f"{where}: not an IP address: {str(value)[:64]!r}") from None


def parse_table(raw: Any) -> tuple[IngressPort, ...]:
    """A frame's ``ingress`` (already a list of maps by its declaration), checked: bounds,
    ports, addresses; ValueError names what is wrong."""
    if not isinstance(raw, list) or len(raw) > MAX_INGRESS_PORTS:
        raise ValueError(f"ingress: a list of at most {MAX_INGRESS_PORTS} entries")
    out: list[IngressPort] = []
    seen: set[tuple[PortProtocol, int]] = set()
    for i, item in enumerate(raw):
        where = f"ingress[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: not a map")
        port = _port(item.get("port"), f"{where}.port")
        try:
            protocol = PortProtocol(str(item.get("protocol")))
        except ValueError:
            raise ValueError(f"{where}.protocol: unknown {item.get('protocol')!r}") from None
        if (protocol, port) in seen:
            raise ValueError(f"{where}: port {port}/{protocol} twice")
        seen.add((protocol, port))
        service = item.get("service")
        if not isinstance(service, str) or len(service) > _MAX_NAME:
            raise ValueError(f"{where}.service: a name of at most {_MAX_NAME} characters")
        backends = item.get("backends")
        if not isinstance(backends, list) or len(backends) > MAX_BACKENDS:
            raise ValueError(f"{where}.backends: a list of at most {MAX_BACKENDS}")
        parsed = []
        for j, b in enumerate(backends):
            if not isinstance(b, list) or len(b) != 2:
                raise ValueError(f"{where}.backends[{j}]: [address, port]")
            parsed.append(IngressBackend(_ip(b[0], f"{where}.backends[{j}]"), _port(b[1], where)))
        out.append(IngressPort(port, protocol, service, tuple(parsed)))
    return tuple(out)


class IngressFeed:
    """The table as last computed, and which sessions have been sent it (by session id,
    compared by identity as ``SessionStreams.managers_to_send`` does)."""

    def __init__(self) -> None:
        self.table: tuple[IngressPort, ...] = ()
        self._sent: dict[str, tuple[IngressPort, ...]] = {}

    def set_table(self, table: tuple[IngressPort, ...]) -> bool:
        """Keep ``table``; whether it differs from the one held."""
        if table == self.table:
            return False
        self.table = table
        return True

    def to_send(self, session_id: str) -> tuple[IngressPort, ...] | None:
        """The table for the session's next frame, or None when it has it already."""
        table = self.table
        if self._sent.get(session_id) is table:
            return None
        self._sent[session_id] = table
        return table

    def held(self) -> int:
        """How many sessions it remembers (ended ones too, until ``stale`` forgets them)."""
        return len(self._sent)

    def stale(self, session_ids: Iterable[str]) -> list[str]:
        """Of ``session_ids`` (the live sessions), those not sent the current table; the
        others are forgotten."""
        live = set(session_ids)
        for gone in set(self._sent) - live:
            del self._sent[gone]
        return sorted(i for i in live if self._sent.get(i) is not self.table)


class IngressTracker:
    """When the table must be computed again: a change of a service that publishes (or
    published) an ingress port, of one of its tasks, or of a node while any does; at most
    once per ``interval`` seconds, so a deploy of many tasks is one table per interval."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.dirty = True  # the first tick computes it
        self._services: frozenset[str] = frozenset()
        self._at: float | None = None

    def observe(self, obj: object) -> None:
        """A committed change of ``obj`` (created, updated or deleted)."""
        if isinstance(obj, Service):
            if obj.id in self._services or publishes_ingress(obj):
                self.dirty = True
        elif isinstance(obj, Task):
            if obj.service_id in self._services:
                self.dirty = True
        elif isinstance(obj, Node) and self._services:
            self.dirty = True

    def due(self, now: float) -> bool:
        return self.dirty and (self._at is None or now - self._at >= self.interval)

    def computed(self, now: float, services: Iterable[Service]) -> None:
        """The table was computed at ``now`` from ``services``."""
        self.dirty = False
        self._at = now
        self._services = frozenset(s.id for s in services if publishes_ingress(s))
