"""Builders for the scheduler tests."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from actors.scheduler import Demand, NodeInfo
from api.enums import NodeAvailability, NodeRole, NodeState, SchedulingStrategy
from api.executor_capabilities import Capability
from api.objects import (
    EngineDescription,
    ExecutorDescription,
    Meta,
    Node,
    NodeDescription,
    NodeStatus,
    Platform,
    Task,
    TaskStatus,
)
from api.specs import (
    ContainerSpec,
    NodeSpec,
    Placement,
    PlacementPreference,
    ResourceRequirements,
    Resources,
    TaskSpec,
)
from api.task_state import TaskState
from api.validation import parse_constraint

GB = 1 << 30
CPU = 1_000_000_000

_ids = itertools.count(1)


def node(
    id: str,
    *,
    hostname: str | None = None,
    labels: Mapping[str, str] | None = None,
    engine_labels: Mapping[str, str] | None = None,
    cpus: float = 4,
    memory: int = 8 * GB,
    state: NodeState = NodeState.READY,
    availability: NodeAvailability = NodeAvailability.ACTIVE,
    role: NodeRole = NodeRole.WORKER,
    addr: str = "10.0.0.1",
    os: str = "linux",
    arch: str = "x86_64",
    executor: ExecutorDescription | None = None,
) -> Node:
    return Node(
        id=id,
        spec=NodeSpec(labels=dict(labels or {}), availability=availability),
        description=NodeDescription(
            hostname=hostname or f"host-{id}",
            platform=Platform(os=os, architecture=arch),
            resources=Resources(nano_cpus=int(cpus * CPU), memory_bytes=memory),
            engine=EngineDescription(labels=dict(engine_labels or {})),
            executor=executor,
        ),
        status=NodeStatus(state=state, addr=addr),
        role=role,
    )


def info(n: Node) -> NodeInfo:
    return NodeInfo(n)


def demand(
    service_id: str = "svc",
    *,
    cpus: float = 0,
    memory: int = 0,
    constraints: tuple[str, ...] = (),
    platforms: tuple[Platform, ...] = (),
    host_ports: frozenset[tuple[str, int]] = frozenset(),
    max_replicas: int = 0,
    preferences: tuple[str, ...] = (),
    strategy: SchedulingStrategy = SchedulingStrategy.SPREAD,
    executor_needs: tuple[Capability, ...] = (),
) -> Demand:
    return Demand(
        service_id=service_id,
        nano_cpus=int(cpus * CPU),
        memory_bytes=memory,
        constraints=tuple(parse_constraint(c) for c in constraints),
        platforms=platforms,
        host_ports=host_ports,
        max_replicas=max_replicas,
        preferences=preferences,
        strategy=strategy,
        executor_needs=executor_needs,
    )


def task(
    service_id: str = "svc",
    *,
    id: str | None = None,
    slot: int = 0,
    node_id: str = "",
    state: TaskState = TaskState.PENDING,
    desired: TaskState = TaskState.RUNNING,
    cpus: float = 0,
    memory: int = 0,
    constraints: tuple[str, ...] = (),
    preferences: tuple[str, ...] = (),
    max_replicas: int = 0,
    strategy: SchedulingStrategy = SchedulingStrategy.SPREAD,
    version: int = 0,
    message: str = "",
) -> Task:
    n = next(_ids)
    return Task(
        id=id or f"t{n:0>24}",
        meta=Meta(version=version),
        spec=TaskSpec(
            container=ContainerSpec(image="busybox"),
            resources=ResourceRequirements(
                reservations=Resources(nano_cpus=int(cpus * CPU), memory_bytes=memory)
            ),
            placement=Placement(
                constraints=constraints,
                preferences=tuple(PlacementPreference(p) for p in preferences),
                max_replicas=max_replicas,
                strategy=strategy,
            ),
        ),
        service_id=service_id,
        slot=slot or n,
        node_id=node_id,
        desired_state=desired,
        status=TaskStatus(state=state, message=message),
    )
