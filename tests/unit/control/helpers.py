"""A local store with nodes and a clock, and ways to move tasks as the other subsystems
would (the control API's tests stand in for the orchestrator, scheduler and worker)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from actors.control import ControlError, call, control_handlers
from actors.control.cluster import ClusterControl
from actors.control.nodes import NodeControl
from actors.control.services import ServiceControl
from actors.control.tasks import TaskControl
from actors.store import MemoryStore, nodes, services, tasks
from api.codec_objects import encode
from api.enums import NodeRole, NodeState
from api.objects import (
    ContainerStatus,
    ManagerStatus,
    Node,
    NodeDescription,
    NodeStatus,
    Task,
    TaskStatus,
)
from api.service_options import apply_options
from api.specs import ServiceSpec
from api.task_state import TaskState

__all__ = ["Cluster", "ControlError", "call", "control_handlers"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Cluster:
    """A MemoryStore.local with the control API objects and helpers."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.store = MemoryStore.local(clock=self.clock)
        self.services = ServiceControl(self.store, clock=self.clock)
        self.nodes = NodeControl(self.store)
        self.tasks = TaskControl(self.store)
        self.cluster = ClusterControl(self.store)
        self._ids = itertools.count(1)

    def add_node(self, hostname: str, node_id: str | None = None, *, manager: bool = False) -> str:
        nid = node_id or f"node{next(self._ids):021d}"
        node = Node(
            id=nid,
            description=NodeDescription(hostname=hostname),
            status=NodeStatus(state=NodeState.READY, addr="127.0.0.1"),
            role=NodeRole.MANAGER if manager else NodeRole.WORKER,
            manager_status=ManagerStatus(leader=True) if manager else None,
        )
        self.store.update(lambda tx: tx.create(node))
        return nid

    def create(self, image: str = "busybox", **options: Any) -> str:
        spec = apply_options(ServiceSpec(), {"image": image, **options})
        reply = call(self.services.create, {"spec": encode(spec)})
        return str(reply["id"])

    def service(self, ref: str) -> Any:
        return self.store.view(lambda tx: services.lookup(tx, ref))

    def add_task(self, service_ref: str, slot: int, node_id: str = "", **status: Any) -> str:
        service = self.service(service_ref)
        tid = f"task{next(self._ids):021d}"
        task = Task(
            id=tid,
            spec=service.spec.task,
            service_id=service.id,
            service_name=service.spec.name,
            slot=slot,
            node_id=node_id,
            desired_state=TaskState.RUNNING,
            status=TaskStatus(timestamp=self.clock.now, **status),
            spec_version=service.spec_version,
        )
        self.store.update(lambda tx: tx.create(task))
        return tid

    def set_task(self, task_id: str, state: TaskState, **fields: Any) -> None:
        def write(tx: Any) -> None:
            task = tasks.get(tx, task_id)
            assert task is not None
            status = replace(task.status, state=state, timestamp=self.clock.now, **fields)
            if state == TaskState.RUNNING and status.container_status is None:
                status = replace(status, container_status=ContainerStatus(f"c-{task_id}"))
            tx.update(replace(task, status=status))

        self.store.update(write)

    def set_desired(self, task_id: str, state: TaskState) -> None:
        def write(tx: Any) -> None:
            task = tasks.get(tx, task_id)
            assert task is not None
            tx.update(replace(task, desired_state=state))

        self.store.update(write)

    def node(self, ref: str) -> Node:
        return self.store.view(lambda tx: nodes.lookup(tx, ref))
