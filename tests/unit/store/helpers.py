"""Builders shared by the store tests."""

from __future__ import annotations

import itertools
import random

from actors.store import MemoryStore
from api.ids import new_id
from api.objects import Cluster, Node, NodeDescription, Service, Task
from api.specs import ClusterSpec, ContainerSpec, ServiceSpec, TaskSpec
from api.task_state import TaskState


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


_counter = itertools.count()


def make_store(**kwargs: object) -> MemoryStore:
    return MemoryStore.local(clock=FakeClock(), rng=random.Random(1), **kwargs)  # type: ignore[arg-type]


def _id(prefix: str) -> str:
    n = next(_counter)
    return f"{prefix}{n:0>{25 - len(prefix)}}"


def service(name: str = "web", id: str | None = None) -> Service:
    spec = ServiceSpec(name=name, task=TaskSpec(container=ContainerSpec(image="busybox")))
    return Service(id=id or _id("s"), spec=spec)


def task(service_id: str, slot: int = 1, node_id: str = "", id: str | None = None) -> Task:
    return Task(
        id=id or _id("t"),
        service_id=service_id,
        slot=slot,
        node_id=node_id,
        desired_state=TaskState.RUNNING,
    )


def node(hostname: str = "box", id: str | None = None) -> Node:
    return Node(
        id=id or new_id(random.Random(hostname)), description=NodeDescription(hostname=hostname)
    )


def cluster(name: str = "default") -> Cluster:
    return Cluster(id=_id("c"), spec=ClusterSpec(name=name))
