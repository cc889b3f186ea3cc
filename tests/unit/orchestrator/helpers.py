"""A tiny in-memory world for the orchestrator's pure tests: it applies plans the way the
actor shell does (desired states only rise; deletes check the version) and plays the
scheduler and the worker."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import TypeVar

from actors.orchestrator import (
    CreateTask,
    DeleteService,
    DeleteTask,
    Plan,
    RestartHistory,
    SetDesiredState,
    SetServiceSpec,
    SetServiceStatus,
    SetUpdateStatus,
    Snapshot,
    reap,
    reconcile_services,
)
from api.enums import NodeAvailability, NodeState
from api.objects import Meta, Node, NodeDescription, NodeStatus, Service, Task, TaskStatus
from api.specs import (
    ContainerSpec,
    GlobalService,
    NodeSpec,
    Placement,
    ReplicatedService,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
)
from api.task_state import TaskState

T = TypeVar("T", Task, Service)


def make_service(
    name: str = "web",
    *,
    replicas: int = 3,
    mode: ServiceMode | None = None,
    restart: RestartPolicy | None = None,
    update: UpdateConfig | None = None,
    constraints: tuple[str, ...] = (),
    image: str = "busybox",
) -> Service:
    spec = ServiceSpec(
        name=name,
        task=TaskSpec(
            container=ContainerSpec(image=image, command=("sleep", "1000")),
            restart_policy=restart or RestartPolicy(delay=0.0),
            placement=Placement(constraints=constraints),
        ),
        mode=mode or ReplicatedService(replicas=replicas),
        update_config=update or UpdateConfig(),
    )
    return Service(id=f"svc-{name}", spec=spec, spec_version=1)


def make_global(name: str = "agent", **kwargs: object) -> Service:
    return make_service(name, mode=GlobalService(), **kwargs)  # type: ignore[arg-type]


def make_node(
    id: str,
    *,
    state: NodeState = NodeState.READY,
    availability: NodeAvailability = NodeAvailability.ACTIVE,
    labels: dict[str, str] | None = None,
) -> Node:
    return Node(
        id=id,
        spec=NodeSpec(labels=labels or {}, availability=availability),
        description=NodeDescription(hostname=id),
        status=NodeStatus(state=state),
    )


@dataclass
class World:
    services: dict[str, Service] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    retention: int = 5
    now: float = 1000.0
    version: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    history: RestartHistory = field(default_factory=RestartHistory)

    # --- setup --------------------------------------------------------------------------

    def add(self, *objs: Service | Node) -> None:
        for o in objs:
            if isinstance(o, Service):
                self.services[o.id] = self._stamp(o)
            else:
                self.nodes[o.id] = o

    def _stamp(self, obj: T, created: float | None = None) -> T:
        self.version += 1
        return replace(
            obj,
            meta=Meta(self.version, created if created is not None else self.now, self.now),
        )

    def snapshot(self) -> Snapshot:
        return Snapshot.build(
            self.services.values(), self.tasks.values(), self.nodes.values(), self.retention
        )

    # --- the orchestrator and reaper ------------------------------------------------------

    def reconcile(self) -> Plan:
        plan = reconcile_services(
            self.snapshot(), list(self.services), self.now, self.rng, self.history
        )
        self.apply(plan)
        return plan

    def reap(self) -> Plan:
        snap = self.snapshot()
        plan = reap(snap, set(snap.services) | set(snap.tasks))
        self.apply(plan)
        return plan

    def settle(self, rounds: int = 10) -> None:
        """Orchestrate, schedule, run, reap until nothing changes."""
        for _ in range(rounds):
            a = self.reconcile().effects
            b = self.schedule_and_run()
            c = self.stop_shut_down()
            d = self.reap().effects
            if not (a or b or c or d):
                return
        raise AssertionError("world did not settle")

    def apply(self, plan: Plan) -> None:
        for e in plan.effects:
            if isinstance(e, CreateTask):
                svc = self.services.get(e.task.service_id)
                if svc is not None and not svc.pending_delete:
                    self.tasks[e.task.id] = self._stamp(e.task)
            elif isinstance(e, SetDesiredState):
                t = self.tasks.get(e.task_id)
                if t is not None and t.desired_state < e.state:
                    self.tasks[t.id] = self._stamp(
                        replace(t, desired_state=e.state), t.meta.created_at
                    )
            elif isinstance(e, DeleteTask):
                t = self.tasks.get(e.task.id)
                if t is not None and t.meta.version == e.task.meta.version:
                    del self.tasks[t.id]
            elif isinstance(e, SetUpdateStatus):
                s = self.services[e.service_id]
                if s.spec_version == e.spec_version:
                    self.services[s.id] = self._stamp(
                        replace(s, update_status=e.status), s.meta.created_at
                    )
            elif isinstance(e, SetServiceSpec):
                s = self.services[e.service_id]
                if s.spec_version == e.spec_version:
                    self.services[s.id] = self._stamp(
                        replace(e.service, meta=s.meta), s.meta.created_at
                    )
            elif isinstance(e, SetServiceStatus):
                s = self.services[e.service_id]
                if s.spec_version == e.spec_version:
                    changes = {
                        k: v
                        for k, v in (
                            ("job_status", e.job_status),
                            ("rebalance_status", e.rebalance_status),
                        )
                        if v is not None
                    }
                    self.services[s.id] = self._stamp(replace(s, **changes), s.meta.created_at)
            elif isinstance(e, DeleteService) and not self.of(e.service.id):
                del self.services[e.service.id]

    # --- playing scheduler and worker ------------------------------------------------------

    def set_status(
        self, task_id: str, state: TaskState, *, at: float | None = None, err: str = ""
    ) -> None:
        t = self.tasks[task_id]
        when = self.now if at is None else at
        # as a worker does: started_at is the first RUNNING, kept afterwards
        started = t.status.started_at or (when if state == TaskState.RUNNING else 0.0)
        status = TaskStatus(timestamp=when, state=state, started_at=started, err=err)
        self.tasks[task_id] = self._stamp(replace(t, status=status), t.meta.created_at)

    def schedule_and_run(self, node_ids: list[str] | None = None) -> int:
        """Assign PENDING tasks desired RUNNING round-robin over usable nodes, and mark
        every assigned task RUNNING. Returns the number of changes."""
        usable = [
            n.id
            for n in sorted(self.nodes.values(), key=lambda n: n.id)
            if n.status.state == NodeState.READY and n.spec.availability == NodeAvailability.ACTIVE
        ]
        if node_ids is not None:
            usable = node_ids
        changes = 0
        i = 0
        for t in sorted(self.tasks.values(), key=lambda t: (t.slot, t.id)):
            if t.desired_state != TaskState.RUNNING or t.status.state >= TaskState.RUNNING:
                continue
            if not t.node_id:
                if not usable:
                    continue
                t = replace(t, node_id=usable[i % len(usable)])
                i += 1
            self.tasks[t.id] = t
            self.set_status(t.id, TaskState.RUNNING)
            changes += 1
        return changes

    def stop_shut_down(self) -> int:
        """The worker stops every running task whose desired state is past RUNNING."""
        changes = 0
        for t in list(self.tasks.values()):
            if t.desired_state >= TaskState.SHUTDOWN and not t.status.state.is_terminal:
                node = self.nodes.get(t.node_id)
                if t.node_id and (node is None or node.status.state == NodeState.DOWN):
                    continue  # nobody reports for a lost node
                self.set_status(t.id, TaskState.SHUTDOWN)
                changes += 1
        return changes

    # --- queries ---------------------------------------------------------------------------

    def runnable(self, service_id: str) -> list[Task]:
        return sorted(
            (
                t
                for t in self.tasks.values()
                if t.service_id == service_id and t.desired_state <= TaskState.RUNNING
            ),
            key=lambda t: (t.slot, t.node_id),
        )

    def slots(self, service_id: str) -> list[int]:
        return [t.slot for t in self.runnable(service_id)]

    def of(self, service_id: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.service_id == service_id]
