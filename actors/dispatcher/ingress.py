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
- Bounded: at most ``MAX_INGRESS_PORTS`` entries, ``MAX_BACKENDS`` backends each and
  ``MAX_TABLE_BACKENDS`` in all (the first by address and port; ports in order), so a
  peer's frame and the nodes' listeners stay bounded; a node refuses a table past them.
  A port's bound is past the 100,000 tasks of the largest cluster this project aims at,
  so every task of a service is reached through any node; the whole table's keeps a
  full table within one session frame (16 MiB): at worst ~44 bytes a backend (an IPv6
  address in full), 262,144 backends are 11 MiB, beside the frame's tasks.
- It travels to the nodes as versioned changes (ingress_changes.py); to a node of an
  earlier version, that reads only the whole table in a frame's ``ingress`` field
  (``encode_table``), whole, with at most ``LEGACY_MAX_BACKENDS`` backends a port (the
  bound it checks).
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
    "LEGACY_MAX_BACKENDS",
    "MAX_BACKENDS",
    "MAX_INGRESS_PORTS",
    "MAX_SERVICE_NAME",
    "MAX_TABLE_BACKENDS",
    "PER_SESSION_INTERVAL",
    "IngressBackend",
    "IngressPort",
    "IngressTracker",
    "PortKey",
    "encode_backends",
    "encode_table",
    "ingress_table",
    "parse_backends",
    "parse_ip",
    "parse_port",
    "parse_port_head",
    "parse_protocol",
    "parse_table",
    "publishes_ingress",
]

MAX_INGRESS_PORTS: Final = 1024
MAX_BACKENDS: Final = 131_072
MAX_TABLE_BACKENDS: Final = 262_144
LEGACY_MAX_BACKENDS: Final = 256  # what a node of the earlier version accepts a port
MAX_SERVICE_NAME: Final = 256
PER_SESSION_INTERVAL: Final = 0.001  # seconds between table changes, per session (IngressTracker)


PortKey = tuple[PortProtocol, int]  # an ingress port: (protocol, number)


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
    target: int,
    protocol: PortProtocol,
    tasks: Iterable[Task],
    addr_of: Mapping[str, str],
    limit: int,
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
    return tuple(sorted(found)[:limit])


def ingress_table(
    services: Iterable[Service],
    tasks_of: Callable[[str], Sequence[Task]],
    nodes: Iterable[Node],
) -> tuple[IngressPort, ...]:
    """The table for the store's ``services``, their tasks and the ``nodes``, by port."""
    addr_of = {n.id: n.status.addr for n in nodes if n.status.state is not NodeState.DOWN}
    entries: dict[PortKey, IngressPort] = {}
    room = MAX_TABLE_BACKENDS
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
            limit = min(MAX_BACKENDS, room)
            backends = _backends(port.target_port, port.protocol, tasks, addr_of, limit)
            room -= len(backends)
            entries[key] = IngressPort(port.published_port, port.protocol, service.name, backends)
    return tuple(entries[k] for k in sorted(entries))


def encode_table(table: Sequence[IngressPort]) -> list[dict[str, Any]]:
    """The whole table as a node of the earlier version reads it (``LEGACY_MAX_BACKENDS``
    a port: it refuses more)."""
    return [
        {
            "port": e.port,
            "protocol": e.protocol.value,
            "service": e.service,
            "backends": encode_backends(e.backends[:LEGACY_MAX_BACKENDS]),
        }
        for e in table
    ]


def encode_backends(backends: Iterable[IngressBackend]) -> list[list[Any]]:
    return [[b.addr, b.port] for b in backends]


def parse_port(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ValueError(f"{where}: not a port: {value!r}")
    return value


def parse_protocol(value: Any, where: str) -> PortProtocol:
    try:
        return PortProtocol(str(value))
    except ValueError:
        raise ValueError(f"{where}: unknown {str(value)[:64]!r}") from None


def parse_ip(value: Any, where: str) -> str:
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
    seen: set[PortKey] = set()
    room = MAX_TABLE_BACKENDS
    for i, item in enumerate(raw):
        where = f"ingress[{i}]"
        port, protocol, service = parse_port_head(item, where, seen)
        backends = item.get("backends")
        if not isinstance(backends, list) or len(backends) > min(MAX_BACKENDS, room):
            raise ValueError(
                f"{where}.backends: a list of at most {MAX_BACKENDS}, "
                f"{MAX_TABLE_BACKENDS} in all the table"
            )
        room -= len(backends)
        out.append(
            IngressPort(port, protocol, service, parse_backends(backends, f"{where}.backends"))
        )
    return tuple(out)


def parse_port_head(item: Any, where: str, seen: set[PortKey]) -> tuple[int, PortProtocol, str]:
    """A table entry's port, protocol and service, checked (a port twice in one table or
    change is refused: ``seen`` holds those read so far, and gets this one)."""
    if not isinstance(item, dict):
        raise ValueError(f"{where}: not a map")
    port = parse_port(item.get("port"), f"{where}.port")
    protocol = parse_protocol(item.get("protocol"), f"{where}.protocol")
    if (protocol, port) in seen:
        raise ValueError(f"{where}: port {port}/{protocol} twice")
    seen.add((protocol, port))
    service = item.get("service")
    if not isinstance(service, str) or len(service) > MAX_SERVICE_NAME:
        raise ValueError(f"{where}.service: a name of at most {MAX_SERVICE_NAME} characters")
    return port, protocol, service


def parse_backends(raw: list[Any], where: str) -> tuple[IngressBackend, ...]:
    """``[[address, port], ...]`` checked (its length is the caller's to bound)."""
    parsed = []
    checked: dict[str, str] = {}  # the tasks of a node share its address: checked once
    for j, b in enumerate(raw):
        if not isinstance(b, list) or len(b) != 2:
            raise ValueError(f"{where}[{j}]: [address, port]")
        addr = checked.get(b[0]) if isinstance(b[0], str) else None
        if addr is None:
            addr = checked[b[0]] = parse_ip(b[0], f"{where}[{j}]")
        parsed.append(IngressBackend(addr, parse_port(b[1], f"{where}[{j}]")))
    return tuple(parsed)


class IngressTracker:
    """When the table must be computed again: a change of a service that publishes (or
    published) an ingress port, of one of its tasks, or of a node while any does; at most
    once per ``interval`` seconds, so a deploy of many tasks is one table per interval, and
    at most once per ``PER_SESSION_INTERVAL`` a session: a change is a frame to each
    session (~65 us of the leader's CPU each, encoded and encrypted, at 1,000 nodes:
    bench/mesh_scale.py), so with 1,000 sessions the table goes out at most once a second,
    ~7% of a core under constant churn, still within a heartbeat (5 s)."""

    def __init__(self, interval: float, per_session: float = PER_SESSION_INTERVAL) -> None:
        self.interval = interval
        self.per_session = per_session
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

    def due(self, now: float, sessions: int = 0) -> bool:
        interval = max(self.interval, sessions * self.per_session)
        return self.dirty and (self._at is None or now - self._at >= interval)

    def computed(self, now: float, services: Iterable[Service]) -> None:
        """The table was computed at ``now`` from ``services``."""
        self.dirty = False
        self._at = now
        self._services = frozenset(s.id for s in services if publishes_ingress(s))
