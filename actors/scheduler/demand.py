"""What a task asks of a node (``Demand``) and what it takes once placed (``Usage``).

Tasks of one service created from one spec version share a ``Demand``, so the scheduler
places them as a group (SwarmKit's task groups): filters that do not depend on the tasks
already placed run once per node per group, not once per task.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.scheduler.constraints import parse_constraints
from api.enums import PublishMode, SchedulingStrategy
from api.executor_capabilities import Capability, task_needs
from api.objects import Platform, Task
from api.specs import PortConfig
from api.validation import Constraint

__all__ = [
    "Demand",
    "GroupKey",
    "HostPort",
    "Usage",
    "demand_of",
    "group_key",
    "host_ports_of",
    "usage_of",
]

HostPort = tuple[str, int]  # (protocol, published port)
GroupKey = tuple[str, int, str]  # (service id, spec version, task id when ungrouped)


@dataclass(frozen=True, slots=True)
class Usage:
    """The resources a task holds on its node while it is not terminal."""

    service_id: str
    nano_cpus: int = 0
    memory_bytes: int = 0
    host_ports: frozenset[HostPort] = frozenset()


@dataclass(frozen=True, slots=True)
class Demand:
    service_id: str
    nano_cpus: int = 0
    memory_bytes: int = 0
    constraints: tuple[Constraint, ...] = ()
    platforms: tuple[Platform, ...] = ()  # empty: any platform
    host_ports: frozenset[HostPort] = frozenset()
    max_replicas: int = 0  # per node; 0: unlimited
    preferences: tuple[str, ...] = ()  # spread descriptors, outermost first
    strategy: SchedulingStrategy = SchedulingStrategy.SPREAD
    # what the node's executor must honour (api/executor_capabilities.py), read from the
    # spec once per group
    executor_needs: tuple[Capability, ...] = ()
    # what each task placed with this demand takes: one object for the whole group (the
    # node's and the booking's record of every task held a copy of their own)
    usage: Usage = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        usage = Usage(self.service_id, self.nano_cpus, self.memory_bytes, self.host_ports)
        object.__setattr__(self, "usage", usage)


def host_ports_of(ports: tuple[PortConfig, ...]) -> frozenset[HostPort]:
    """The ports published in host mode (a published port of 0 reserves nothing)."""
    published = frozenset(
        (str(p.protocol), p.published_port)
        for p in ports
        if p.publish_mode == PublishMode.HOST and p.published_port
    )
    # a frozenset built from an iterator is a new object even when empty (216 bytes),
    # and every booked task's Usage holds one: the shared empty one instead
    return published or _NO_PORTS


_NO_PORTS: frozenset[HostPort] = frozenset()


def demand_of(
    task: Task,
    host_ports: frozenset[HostPort] = frozenset(),
    platforms: tuple[Platform, ...] = (),
) -> Demand:
    """The demand of ``task``. Host ports and platforms are not part of the task object:
    the caller passes them (from the service's endpoint spec). ``InvalidSpec`` for a
    malformed constraint."""
    spec = task.spec
    reserved = spec.resources.reservations
    placement = spec.placement
    return Demand(
        service_id=task.service_id,
        nano_cpus=reserved.nano_cpus,
        memory_bytes=reserved.memory_bytes,
        constraints=parse_constraints(placement.constraints),
        platforms=platforms,
        host_ports=host_ports,
        max_replicas=placement.max_replicas,
        preferences=tuple(p.spread for p in placement.preferences),
        strategy=placement.strategy,
        executor_needs=task_needs(spec),
    )


def usage_of(task: Task, host_ports: frozenset[HostPort] = frozenset()) -> Usage:
    reserved = task.spec.resources.reservations
    if task.status.port_status:
        host_ports = host_ports_of(task.status.port_status)
    return Usage(task.service_id, reserved.nano_cpus, reserved.memory_bytes, host_ports)


def group_key(task: Task) -> GroupKey:
    """Tasks of one service and spec version are placed together."""
    if task.service_id:
        return (task.service_id, task.spec_version, "")
    return ("", 0, task.id)
